"""archc's deploy modules against their reference models (timm's, torchvision's), eager and
compiled, in one process.

    python benchmarks/deploy.py [--device cpu|cuda] [--batch 1 8 64 256] [--rounds 20]
                                [--threads N] [--no-compile] [--networks NAME ...]

For Inception-v4 and Inception-ResNet-v2 against timm, ResNet-50 and MobileNet-V3-Large against
torchvision: the reference eager ("timm" in the tables: the reference, whichever library), the
reference + torch.compile, archc deploy (from the reference's weights, converted by the
generated load_trained) and archc deploy + torch.compile, all
channels_last, in bfloat16 on a GPU and float32 on the CPU. On a GPU also: the deploy module
with its convs as separate ops (cuDNN's fused calls off, to see what they bring), and timm and
the deploy module replayed as CUDA graphs (one per input shape, captured on first use). Outputs
are checked against timm's before anything is timed (exit status 1 if they differ). Each
variant's time is the median of the rounds; ratios are timm eager's time over the variant's, per
round, as the median and interquartile range (timing.py).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import timm
import torch
import torchvision
from timing import environment, interleaved, ratio, realistic

import archc

ROOT = Path(__file__).resolve().parent.parent
# name -> (spec, the reference's library, input side)
NETWORKS = {"inception_v4": ("specs/inception_v4.yaml", "timm", 299),
            "inception_resnet_v2": ("specs/inception_resnet_v2.yaml", "timm", 299),
            "resnet50": ("specs/zoo/resnet.yaml", "torchvision", 224),
            "mobilenet_v3_large": ("specs/zoo/mobilenet_v3.yaml", "torchvision", 224),
            "efficientnet_b0": ("specs/zoo/efficientnet.yaml", "torchvision", 224),
            "convnext_tiny": ("specs/zoo/convnext.yaml", "torchvision", 224)}
TOLERANCE = {torch.float32: 1e-3, torch.bfloat16: 5e-2}  # of the largest logit


def reference_model(name: str) -> torch.nn.Module:
    _, library, _ = NETWORKS[name]
    if library == "timm":
        return timm.create_model(name, pretrained=False)
    return getattr(torchvision.models, name)(weights=None)


def models(name: str, device: str, dtype: torch.dtype, compile_them: bool) -> dict:
    reference = realistic(reference_model(name)).eval()
    deploy = archc.build_model(ROOT / NETWORKS[name][0], deploy=True)
    deploy.load_trained(reference.state_dict())
    eager = {"timm": reference, "deploy": deploy}
    if device == "cuda":
        # Each build_model has a module of its own: this one's convs run as separate ops.
        unfused = archc.build_model(ROOT / NETWORKS[name][0], deploy=True)
        unfused.load_state_dict(deploy.state_dict())
        type(unfused).forward.__globals__["CUDNN"] = False
        eager["deploy, unfused"] = unfused
    out = {}
    for label, model in eager.items():
        out[label] = model.to(device=device, dtype=dtype, memory_format=torch.channels_last)
    for label in ("timm", "deploy"):
        if compile_them:
            out[f"{label} + compile"] = torch.compile(out[label])
        if device == "cuda":
            out[f"{label} + CUDA graph"] = Graphed(out[label])
    return out


class Graphed:
    """model(x) replayed as a CUDA graph, captured on the first call for x's shape (after
    warm-up runs on a side stream, as torch.cuda.graphs asks); it returns the graph's output
    tensor, overwritten by the next call."""

    def __init__(self, model: torch.nn.Module):
        self.model = model
        self.graphs: dict[torch.Size, tuple] = {}

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape not in self.graphs:
            static_x = x.clone()
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.no_grad(), torch.cuda.stream(side):
                for _ in range(3):
                    self.model(static_x)
            torch.cuda.current_stream().wait_stream(side)
            graph = torch.cuda.CUDAGraph()
            with torch.no_grad(), torch.cuda.graph(graph):
                static_y = self.model(static_x)
            self.graphs[x.shape] = graph, static_x, static_y
        graph, static_x, static_y = self.graphs[x.shape]
        static_x.copy_(x)
        graph.replay()
        return static_y


def check(variants: dict, x: torch.Tensor, dtype: torch.dtype) -> bool:
    with torch.no_grad():
        want = variants["timm"](x).float()
        ok = True
        for label, model in variants.items():
            error = ((model(x).float() - want).abs().max() / want.abs().max()).item()
            if error > TOLERANCE[dtype]:
                print(f"  {label}: output differs from timm's by {error:.2e} of its largest value")
                ok = False
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch", type=int, nargs="+")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--threads", type=int, help="CPU threads (default: torch's)")
    parser.add_argument("--no-compile", dest="compile", action="store_false")
    parser.add_argument("--networks", nargs="+", default=list(NETWORKS), choices=list(NETWORKS))
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    gpu = args.device == "cuda"
    if gpu:
        torch.backends.cudnn.benchmark = True
    dtype = torch.bfloat16 if gpu else torch.float32
    batches = args.batch or ([1, 8, 64, 256] if gpu else [1, 8])
    print(f"{environment(args.device)}, timm {timm.__version__}, {str(dtype)[6:]}, "
          f"channels_last, {args.rounds} rounds")
    print("ratio: timm eager's time over the variant's, median [interquartile range]")
    ok = True
    for name in args.networks:
        torch.manual_seed(0)
        variants = models(name, args.device, dtype, args.compile)
        for batch in batches:
            side = NETWORKS[name][2]
            x = torch.randn(batch, 3, side, side, device=args.device, dtype=dtype)
            x = x.contiguous(memory_format=torch.channels_last)
            if not check(variants, x, dtype):
                ok = False
                continue

            def step(model, x=x):
                def run():
                    with torch.no_grad():
                        model(x)
                return run

            times = interleaved({label: step(m) for label, m in variants.items()}, args.rounds,
                                args.device)
            cells = []
            for label in variants:
                median, q1, q3 = ratio(times, "timm", label)
                ms = sorted(times[label])[len(times[label]) // 2] * 1000
                cells.append(f"{label} {ms:.1f} ms {median:.2f} [{q1:.2f}, {q3:.2f}]")
            print(f"{name:<20} batch {batch:<4} " + " | ".join(cells))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
