"""Speed of archc's generated models against timm's, measured in one process.

    python benchmarks/vs_timm.py [--device cpu|cuda] [--batch N] [--rounds N] [--threads N]
                                 [--training]

Both models hold the same weights (timm's state_dict loaded into the generated model) and the
same head dropout (timm's drop_rate is set to the spec's 0.2). Inference runs channels_last, in
bfloat16 on a GPU and float32 on the CPU, after checking that the outputs agree; a training
step (GPU by default, --training on the CPU) is forward, backward and an SGD step with the
gradients zeroed, in bfloat16 autocast on a GPU. Rounds are interleaved (timing.py); the ratio
is timm's time over archc's per round, reported as the median and interquartile range. The
generated models run timm's own operations, so the expected ratio is 1.00. Speed never fails
the run (one machine's noise is not a regression); exit status 1 only if the outputs differ.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import timm
import torch
from timing import environment, interleaved, ratio, realistic

import archc

ROOT = Path(__file__).resolve().parent.parent
NETWORKS = {"inception_v4": "specs/inception_v4.yaml",
            "inception_resnet_v2": "specs/inception_resnet_v2.yaml"}
DROPOUT = 0.2  # the specs' head dropout
TOLERANCE = {torch.float32: 1e-4, torch.bfloat16: 5e-2}  # of the largest logit


def pair(name: str, device: str, dtype: torch.dtype) -> dict[str, torch.nn.Module]:
    torch.manual_seed(0)
    reference = realistic(timm.create_model(name, pretrained=False, drop_rate=DROPOUT))
    ours = archc.build_model(ROOT / NETWORKS[name])
    ours.load_state_dict(reference.state_dict(), strict=True)
    return {label: model.to(device=device, dtype=dtype, memory_format=torch.channels_last)
            for label, model in (("timm", reference), ("archc", ours))}


def inference(model, x):
    def step():
        with torch.no_grad():
            model(x)
    return step


def training(model, x, labels, device: str):
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)

    def step():
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(device, dtype=torch.bfloat16, enabled=device == "cuda"):
            loss = torch.nn.functional.cross_entropy(model(x), labels)
        loss.backward()
        optimizer.step()
    return step


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch", type=int)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--threads", type=int, help="CPU threads (default: torch's)")
    parser.add_argument("--training", action="store_true",
                        help="also time a training step on the CPU (always on a GPU)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    gpu = args.device == "cuda"
    if gpu:
        torch.backends.cudnn.benchmark = True
    batch = args.batch or (64 if gpu else 4)
    print(f"{environment(args.device)}, timm {timm.__version__}, batch {batch}, channels_last, "
          f"{args.rounds} rounds; ratio: timm's time over archc's, median [interquartile range]")
    ok = True
    for name in NETWORKS:
        dtype = torch.bfloat16 if gpu else torch.float32
        models = pair(name, args.device, dtype)
        x = torch.randn(batch, 3, 299, 299, device=args.device, dtype=dtype)
        x = x.contiguous(memory_format=torch.channels_last)
        for model in models.values():
            model.eval()
        with torch.no_grad():
            want, got = (models[label](x).float() for label in ("timm", "archc"))
        error = ((got - want).abs().max() / want.abs().max()).item()
        if error > TOLERANCE[dtype]:
            print(f"{name}: archc's output differs from timm's by {error:.2e} of its largest value")
            ok = False
            continue
        modes = {"inference": {label: inference(m, x) for label, m in models.items()}}
        if gpu or args.training:
            # Training in float32 weights, bfloat16 autocast on a GPU, as mixed precision runs.
            models = pair(name, args.device, torch.float32)
            labels = torch.randint(0, 1000, (batch,), device=args.device)
            x32 = x.float()
            for model in models.values():
                model.train()
            modes["training"] = {label: training(m, x32, labels, args.device)
                                 for label, m in models.items()}
        for mode, runs in modes.items():
            times = interleaved(runs, args.rounds, args.device)
            median, q1, q3 = ratio(times, "timm", "archc")
            ms = {label: sorted(t)[len(t) // 2] * 1000 for label, t in times.items()}
            print(f"{name:<20} {mode:<9} timm {ms['timm']:8.1f} ms  archc {ms['archc']:8.1f} ms  "
                  f"ratio {median:.3f} [{q1:.3f}, {q3:.3f}]")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
