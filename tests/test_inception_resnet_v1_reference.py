"""Independent reference check of archc's figures for specs/inception_resnet_v1.yaml.

The PyTorch model below is written by hand from the paper (Szegedy et al. 2016,
"Inception-v4, Inception-ResNet and the Impact of Residual Connections on Learning",
arXiv:1602.07261, Figures 10-15), independently of archc: it imports nothing from
archc's compiler or generated code.  archc is only invoked as a black box
(``archc check SPEC --json``) and its reported shapes, parameter counts, MACs and
smallest input are compared with what this model measures.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import OrderedDict
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
nn = torch.nn

REPO = Path(__file__).resolve().parent.parent
SPEC = "specs/inception_resnet_v1.yaml"


# --------------------------------------------------------------------------- model


class ConvBNReLU(nn.Sequential):
    """Conv2d(bias=False) -> BatchNorm2d(eps=0.001) -> ReLU.

    ``valid=True`` means no padding; otherwise "same" padding (k-1)//2 per axis.
    """

    def __init__(self, cin, cout, kernel, stride=1, valid=False):
        kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
        pad = (0, 0) if valid else ((kh - 1) // 2, (kw - 1) // 2)
        super().__init__(
            nn.Conv2d(cin, cout, (kh, kw), stride=stride, padding=pad, bias=False),
            nn.BatchNorm2d(cout, eps=0.001),
            nn.ReLU(inplace=False),
        )


class Concat(nn.Module):
    def __init__(self, *branches):
        super().__init__()
        self.branches = nn.ModuleList(branches)

    def forward(self, x):
        return torch.cat([b(x) for b in self.branches], dim=1)


class ResidualBlock(nn.Module):
    """out = relu(x + scale * linear_1x1(concat(branches(x))))."""

    def __init__(self, channels, concat_channels, branches, scale):
        super().__init__()
        self.mix = Concat(*branches)
        self.up = nn.Conv2d(concat_channels, channels, 1, bias=True)  # "Linear" 1x1
        self.scale = scale
        self.relu = nn.ReLU(inplace=False)

    def forward(self, x):
        return self.relu(x + self.scale * self.up(self.mix(x)))


def block_a(scale=0.17):  # Figure 10, 35x35x256
    return ResidualBlock(
        256,
        32 * 3,
        [
            ConvBNReLU(256, 32, 1),
            nn.Sequential(ConvBNReLU(256, 32, 1), ConvBNReLU(32, 32, 3)),
            nn.Sequential(
                ConvBNReLU(256, 32, 1), ConvBNReLU(32, 32, 3), ConvBNReLU(32, 32, 3)
            ),
        ],
        scale,
    )


def block_b(scale=0.10):  # Figure 11, 17x17x896
    return ResidualBlock(
        896,
        128 * 2,
        [
            ConvBNReLU(896, 128, 1),
            nn.Sequential(
                ConvBNReLU(896, 128, 1),
                ConvBNReLU(128, 128, (1, 7)),
                ConvBNReLU(128, 128, (7, 1)),
            ),
        ],
        scale,
    )


def block_c(scale=0.20):  # Figure 13, 8x8x1792
    return ResidualBlock(
        1792,
        192 * 2,
        [
            ConvBNReLU(1792, 192, 1),
            nn.Sequential(
                ConvBNReLU(1792, 192, 1),
                ConvBNReLU(192, 192, (1, 3)),
                ConvBNReLU(192, 192, (3, 1)),
            ),
        ],
        scale,
    )


def reduction_a(cin=256, k=192, l=192, m=256, n=384):  # Figure 7 with Table 1 values
    return Concat(
        ConvBNReLU(cin, n, 3, stride=2, valid=True),
        nn.Sequential(
            ConvBNReLU(cin, k, 1),
            ConvBNReLU(k, l, 3),
            ConvBNReLU(l, m, 3, stride=2, valid=True),
        ),
        nn.MaxPool2d(3, stride=2),
    )


def reduction_b(cin=896):  # Figure 12
    return Concat(
        nn.MaxPool2d(3, stride=2),
        nn.Sequential(ConvBNReLU(cin, 256, 1), ConvBNReLU(256, 384, 3, stride=2, valid=True)),
        nn.Sequential(ConvBNReLU(cin, 256, 1), ConvBNReLU(256, 256, 3, stride=2, valid=True)),
        nn.Sequential(
            ConvBNReLU(cin, 256, 1),
            ConvBNReLU(256, 256, 3),
            ConvBNReLU(256, 256, 3, stride=2, valid=True),
        ),
    )


def build_stages(num_classes=1000) -> OrderedDict[str, nn.Module]:
    """The network as a named list of stages, named like archc's report."""
    stages: OrderedDict[str, nn.Module] = OrderedDict()
    # Stem, Figure 14.
    stem = [
        ConvBNReLU(3, 32, 3, stride=2, valid=True),
        ConvBNReLU(32, 32, 3, valid=True),
        ConvBNReLU(32, 64, 3),
        nn.MaxPool2d(3, stride=2),
        ConvBNReLU(64, 80, 1),
        ConvBNReLU(80, 192, 3, valid=True),
        ConvBNReLU(192, 256, 3, stride=2, valid=True),
    ]
    for i, layer in enumerate(stem):
        stages[f"stem.{i}"] = layer
    stages["inception_resnet_a.0-4"] = nn.Sequential(*[block_a() for _ in range(5)])
    stages["reduction_a"] = reduction_a()
    stages["inception_resnet_b.0-9"] = nn.Sequential(*[block_b() for _ in range(10)])
    stages["reduction_b"] = reduction_b()
    stages["inception_resnet_c.0-4"] = nn.Sequential(*[block_c() for _ in range(5)])
    stages["global_pool"] = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(1))
    stages["head_drop"] = nn.Dropout(0.2)
    stages["classifier"] = nn.Linear(1792, num_classes, bias=True)
    return stages


class InceptionResNetV1(nn.Module):
    def __init__(self, num_classes=1000):
        super().__init__()
        named = build_stages(num_classes)
        # Names like "stem.0" contain dots, which nn.Module names may not: keep the
        # modules in a ModuleList and the report-style names alongside.
        self.stage_names = list(named.keys())
        self.stage_list = nn.ModuleList(named.values())

    @property
    def stages(self) -> OrderedDict[str, nn.Module]:
        return OrderedDict(zip(self.stage_names, self.stage_list))

    def forward(self, x):
        for stage in self.stage_list:
            x = stage(x)
        return x


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def report():
    exe = Path(sys.executable).with_name("archc")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "archc.cli"]
    proc = subprocess.run(
        cmd + ["check", SPEC, "--json"], cwd=REPO, capture_output=True, text=True, check=True
    )
    data = json.loads(proc.stdout)
    assert len(data["networks"]) == 1
    return data["networks"][0]


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return InceptionResNetV1(1000).eval()


@pytest.fixture(scope="module")
def measured(model):
    """One 1x3x299x299 forward pass: per-stage output shape, and MACs."""
    macs = {"total": 0}
    stage_macs = {}
    current = {"stage": None}

    def count(mod, inp, out):
        if isinstance(mod, nn.Conv2d):
            kh, kw = mod.kernel_size
            n = kh * kw * (mod.in_channels // mod.groups) * mod.out_channels
            n *= out.shape[2] * out.shape[3]
        elif isinstance(mod, nn.Linear):
            n = mod.in_features * mod.out_features
        else:
            return
        macs["total"] += n
        stage_macs[current["stage"]] = stage_macs.get(current["stage"], 0) + n

    handles = [m.register_forward_hook(count) for m in model.modules()
               if isinstance(m, (nn.Conv2d, nn.Linear))]
    shapes = OrderedDict()
    try:
        with torch.no_grad():
            x = torch.randn(1, 3, 299, 299)
            for name, stage in model.stages.items():
                current["stage"] = name
                stage_macs.setdefault(name, 0)
                x = stage(x)
                shapes[name] = list(x.shape[1:])
    finally:
        for h in handles:
            h.remove()
    return {"shapes": shapes, "macs": macs["total"], "stage_macs": stage_macs, "out": x}


# --------------------------------------------------------------------------- tests


def test_stage_names_in_order(report, model):
    assert [s["name"] for s in report["stages"]] == list(model.stages.keys())


def test_total_params(report, model):
    ours = sum(p.numel() for p in model.parameters())

    # The same figure by hand: conv+BN = kh*kw*cin*cout + 2*cout (gamma, beta);
    # "Linear" 1x1 = cin*cout + cout (bias).
    def cbn(kh, kw, cin, cout):
        return kh * kw * cin * cout + 2 * cout

    stem = (cbn(3, 3, 3, 32) + cbn(3, 3, 32, 32) + cbn(3, 3, 32, 64) + cbn(1, 1, 64, 80)
            + cbn(3, 3, 80, 192) + cbn(3, 3, 192, 256))
    a = (cbn(1, 1, 256, 32) * 3 + cbn(3, 3, 32, 32) * 3 + 96 * 256 + 256)
    red_a = (cbn(3, 3, 256, 384) + cbn(1, 1, 256, 192) + cbn(3, 3, 192, 192)
             + cbn(3, 3, 192, 256))
    b = (cbn(1, 1, 896, 128) * 2 + cbn(1, 7, 128, 128) + cbn(7, 1, 128, 128)
         + 256 * 896 + 896)
    red_b = (cbn(1, 1, 896, 256) * 3 + cbn(3, 3, 256, 384) + cbn(3, 3, 256, 256) * 3)
    c = (cbn(1, 1, 1792, 192) * 2 + cbn(1, 3, 192, 192) + cbn(3, 1, 192, 192)
         + 384 * 1792 + 1792)
    head = 1792 * 1000 + 1000
    assert ours == stem + 5 * a + red_a + 10 * b + red_b + 5 * c + head
    assert report["total"]["params"] == ours


def test_stage_shapes_and_params(report, model, measured):
    for stage in report["stages"]:
        name = stage["name"]
        ours_params = sum(p.numel() for p in model.stages[name].parameters())
        assert stage["output"] == measured["shapes"][name], name
        assert stage["params"] == ours_params, name


def test_total_macs(report, measured):
    assert report["total"]["macs"] == measured["macs"]


def test_stage_macs(report, measured):
    for stage in report["stages"]:
        assert stage["macs"] == measured["stage_macs"][stage["name"]], stage["name"]


def test_smallest_input(report, model):
    assert report["smallest_input"] == 75
    with torch.no_grad():
        assert model(torch.randn(1, 3, 75, 75)).shape == (1, 1000)
        with pytest.raises(RuntimeError):
            model(torch.randn(1, 3, 74, 74))


def test_batch_output_shape(model, measured):
    assert tuple(measured["out"].shape) == (1, 1000)
    with torch.no_grad():
        assert tuple(model(torch.randn(2, 3, 299, 299)).shape) == (2, 1000)
