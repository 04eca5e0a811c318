"""Speed of archc's generated models against timm's, measured in one process.

    python benchmarks/vs_timm.py [--device cpu|cuda] [--batch N] [--rounds N]

Both models hold the same weights (timm's state_dict loaded into the generated model). Each round
times one forward pass of each, in alternating order, after warm-up; the figure is the median over
rounds. The ratio is timm's time over archc's: above 1, the generated model is faster. It fails
(exit status 1) if a ratio is below 0.97. On a GPU it also times a bf16, channels_last training
step (forward and backward).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import timm
import torch

import archc

ROOT = Path(__file__).resolve().parent.parent
NETWORKS = {"inception_v4": "specs/inception_v4.yaml",
            "inception_resnet_v2": "specs/inception_resnet_v2.yaml"}
THRESHOLD = 0.97


def timed(step, device: str) -> float:
    if device == "cuda":
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        step()
        end.record()
        torch.cuda.synchronize()
        return start.elapsed_time(end) / 1000
    begin = time.perf_counter()
    step()
    return time.perf_counter() - begin


def steps(model, x, mode: str):
    if mode == "inference":
        def step():
            with torch.no_grad():
                model(x)
    else:
        def step():
            with torch.autocast("cuda", dtype=torch.bfloat16):
                loss = model(x).float().logsumexp(1).mean()
            loss.backward()
    return step


def compare(name: str, device: str, batch: int, rounds: int, mode: str) -> float:
    torch.manual_seed(0)
    reference = timm.create_model(name, pretrained=False)
    ours = archc.build_model(ROOT / NETWORKS[name])
    ours.load_state_dict(reference.state_dict(), strict=True)
    x = torch.randn(batch, 3, 299, 299, device=device)
    models = {"timm": reference, "archc": ours}
    for model in models.values():
        model.to(device).train(mode == "training")
        if mode == "training":
            model.to(memory_format=torch.channels_last)
    if mode == "training":
        x = x.to(memory_format=torch.channels_last)
    runs = {label: steps(model, x, mode) for label, model in models.items()}
    for run in runs.values():  # warm-up: allocator, cuDNN autotuning
        for _ in range(3):
            timed(run, device)
    times: dict[str, list[float]] = {label: [] for label in runs}
    for r in range(rounds):
        order = list(runs) if r % 2 == 0 else list(reversed(runs))
        for label in order:
            times[label].append(timed(runs[label], device))
    median = {label: statistics.median(t) for label, t in times.items()}
    ratio = median["timm"] / median["archc"]
    print(f"{name:<22} {mode:<10} {device:<5} batch {batch:<4} "
          f"timm {median['timm'] * 1000:8.1f} ms   archc {median['archc'] * 1000:8.1f} ms   "
          f"ratio {ratio:.3f}")
    return ratio


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch", type=int)
    parser.add_argument("--rounds", type=int)
    args = parser.parse_args()
    gpu = args.device == "cuda"
    batch = args.batch or (64 if gpu else 4)
    rounds = args.rounds or (30 if gpu else 7)
    if gpu:
        torch.backends.cudnn.benchmark = True
    print(f"torch {torch.__version__}, timm {timm.__version__}, "
          f"{torch.cuda.get_device_name() if gpu else f'{torch.get_num_threads()} CPU threads'}")
    ratios = []
    for name in NETWORKS:
        for mode in ("inference", "training") if gpu else ("inference",):
            ratios.append(compare(name, args.device, batch, rounds, mode))
    worst = min(ratios)
    verdict = "ok" if worst >= THRESHOLD else "SLOWER than timm"
    print(f"lowest ratio {worst:.3f} (threshold {THRESHOLD}): {verdict}")
    return 0 if worst >= THRESHOLD else 1


if __name__ == "__main__":
    sys.exit(main())
