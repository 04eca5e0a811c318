"""Training throughput of `archc train`'s loop with archc's generated model and with timm's, in
one process.

    python benchmarks/train.py [--device cpu|cuda] [--batch N] [--steps N] [--rounds N]
                               [--threads N] [--compile]

Each model gets the optimizer, loss and step of `archc train` (archc.train.step_once: RMSProp
with the paper's settings, label smoothing 0.1, gradients clipped to norm 2; bfloat16 autocast
and channels_last on a GPU, float32 on the CPU) on the same random batch made once on the
device, as `archc train --synthetic` runs. A round times --steps steps of each model, the order
rotating (timing.py); the table gives images per second (median over rounds) and timm's time
over archc's per round, median [interquartile range]. Speed never fails the run.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import timm
import torch
from timing import environment, interleaved, ratio

import archc
from archc.runs import Options
from archc.train import make_optimizer, step_once

ROOT = Path(__file__).resolve().parent.parent
NETWORKS = {"inception_v4": "specs/inception_v4.yaml",
            "inception_resnet_v2": "specs/inception_resnet_v2.yaml"}


def loop(model, images, labels, steps: int, dtype, compiled: bool):
    options = Options(spec="")
    optimizer = make_optimizer(options, model)
    scaler = torch.amp.GradScaler(images.device.type, enabled=False)
    criterion = torch.nn.CrossEntropyLoss(label_smoothing=options.label_smoothing)
    run = torch.compile(model) if compiled else model
    model.train()

    def train_steps():
        for _ in range(steps):
            step_once(run, images, labels, optimizer, scaler, criterion, options.clip_grad, dtype)
    return train_steps


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch", type=int)
    parser.add_argument("--steps", type=int, default=5, help="steps per round and model")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--threads", type=int, help="CPU threads (default: torch's)")
    parser.add_argument("--compile", action="store_true", help="both models torch.compile'd")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    gpu = args.device == "cuda"
    if gpu:
        torch.backends.cudnn.benchmark = True
    batch = args.batch or (64 if gpu else 2)
    dtype = torch.bfloat16 if gpu else None
    layout = torch.channels_last if gpu else torch.contiguous_format
    print(f"{environment(args.device)}, timm {timm.__version__}, batch {batch}, "
          f"{'bfloat16 autocast, channels_last' if gpu else 'float32'}"
          f"{', torch.compile' if args.compile else ''}, {args.steps} steps x {args.rounds} "
          "rounds; images/s (median), ratio: timm's time over archc's [interquartile range]")
    for name, spec in NETWORKS.items():
        torch.manual_seed(0)
        models = {"timm": timm.create_model(name, pretrained=False, drop_rate=0.2),
                  "archc": archc.build_model(ROOT / spec)}
        models["archc"].load_state_dict(models["timm"].state_dict(), strict=True)
        images = torch.randn(batch, 3, 299, 299, device=args.device)
        images = images.contiguous(memory_format=layout)
        labels = torch.randint(0, 1000, (batch,), device=args.device)
        runs = {label: loop(m.to(args.device, memory_format=layout), images, labels, args.steps,
                            dtype, args.compile) for label, m in models.items()}
        times = interleaved(runs, args.rounds, args.device, warmup=1)
        rate = {label: batch * args.steps / sorted(t)[len(t) // 2] for label, t in times.items()}
        median, q1, q3 = ratio(times, "timm", "archc")
        print(f"{name:<20} timm {rate['timm']:8.1f} images/s  archc {rate['archc']:8.1f} "
              f"images/s  ratio {median:.3f} [{q1:.3f}, {q3:.3f}]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
