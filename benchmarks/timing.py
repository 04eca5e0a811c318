"""What the benchmarks share: models with weights that reach the output, interleaved timing, and
ratios with their spread.

Each round runs every variant once, the order rotating from round to round, so that a machine
that speeds up or slows down (other jobs, clocks, heat) affects all variants alike. A ratio is
computed per round (reference time over variant time) and reported as the median with its
interquartile range: a range that contains 1.00 means no difference was measured.
"""

from __future__ import annotations

import platform
import statistics
import time
from collections.abc import Callable

import torch


def realistic(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Variance-preserving conv weights (He's normal init) and random BatchNorm statistics and
    affine weights, so that every layer reaches the output and a comparison can fail."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.Conv2d):
                fan_in = module.weight[0].numel()
                module.weight.copy_(torch.randn(module.weight.shape, generator=generator)
                                    * (2 / fan_in) ** 0.5)
            elif isinstance(module, torch.nn.BatchNorm2d):
                size = module.num_features
                module.running_mean.copy_(torch.randn(size, generator=generator) * 0.1)
                module.running_var.copy_(torch.rand(size, generator=generator) + 0.5)
                module.weight.copy_(torch.rand(size, generator=generator) + 0.5)
                module.bias.copy_(torch.randn(size, generator=generator) * 0.1)
    return model


def synchronize(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def timed(step: Callable[[], object], device: str) -> float:
    """Seconds one call of step takes, the device's queue drained before and after."""
    synchronize(device)
    begin = time.perf_counter()
    step()
    synchronize(device)
    return time.perf_counter() - begin


def interleaved(runs: dict[str, Callable[[], object]], rounds: int, device: str,
                warmup: int = 3) -> dict[str, list[float]]:
    for run in runs.values():  # allocator, cuDNN's algorithm search, compiled graphs
        for _ in range(warmup):
            timed(run, device)
    labels = list(runs)
    times: dict[str, list[float]] = {label: [] for label in labels}
    for r in range(rounds):
        shift = r % len(labels)
        for label in labels[shift:] + labels[:shift]:
            times[label].append(timed(runs[label], device))
    return times


def ratio(times: dict[str, list[float]], reference: str, label: str) -> tuple[float, float, float]:
    """(median, first quartile, third quartile) of the per-round ratios reference / label."""
    per_round = [a / b for a, b in zip(times[reference], times[label])]
    q1, median, q3 = statistics.quantiles(per_round, n=4)
    return median, q1, q3


def environment(device: str) -> str:
    where = torch.cuda.get_device_name() if device == "cuda" else \
        f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"
    return f"torch {torch.__version__}, {where}"
