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
