"""archc's bounds on what a spec may ask for, checked before the work they guard."""

MAX_CHANNELS = 1 << 16
MAX_KERNEL = 64
MAX_STRIDE = 64
MAX_PADDING = 64
MAX_REPEAT = 1000
MAX_INPUT = 8192
MAX_CLASSES = 1 << 20
MAX_PARAMS = 10**10
MAX_LAYERS = 100_000
MAX_BLOCK_DEPTH = 32  # blocks inside blocks; real networks nest two or three
MAX_NUMBER = 10**15  # any number a spec writes or computes; exact in a float
MAX_EXPR_SIZE = 255  # operations in one formula of generated code
MAX_INCLUDES = 100  # files one spec includes, directly or through others
MAX_EXTENDS = 16  # specs extending specs; variants of variants go two or three deep
MAX_SEED = 2**63 - 1  # torch.manual_seed takes 64 bits
MAX_CHECKPOINT_BYTES = 1 << 36  # 64 GiB: 10^10 float32 parameters and then some


def free_memory() -> int | None:
    """Bytes of memory free for a new allocation now (Linux's MemAvailable, which counts the
    page cache that can be dropped), or None where the system does not say."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None
