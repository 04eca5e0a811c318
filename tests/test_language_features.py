"""The language's extensions against hand-written PyTorch: expressions for counts, kernels and
strides; conv options (padding, groups, norm, activation, bias, layout); dwconv; standalone BN and
activations; pools with `ceil` and explicit padding; residual blocks with a scale, any activation
and a shortcut.

Each test writes a spec, builds it with archc, and compares it with a plain nn.Module written here
whose attribute names give exactly the state_dict keys the spec's layer names promise: the
reference's weights (with random BatchNorm statistics) load strictly into archc's model, the two
give the same outputs in eval mode, and archc's parameter count is the reference's.
"""

import textwrap

import pytest

torch = pytest.importorskip("torch")

from torch import nn  # noqa: E402

import archc  # noqa: E402
from archc.errors import SpecError  # noqa: E402
from archc.ir.cost import CostModel  # noqa: E402

from .conftest import randomise_batchnorm  # noqa: E402

SMALL = (2, 3, 32, 32)


# -------------------------------------------------------------------------------- helpers


def init_conv_weights(model, seed=2):
    """Normal weights with variance 1 / fan-in (fan-in, so that depthwise convs are right too).
    PyTorch's default init shrinks the signal layer by layer, and a deep reference would then
    give nearly the same output for every input; this keeps the outputs near 1, where float32's
    rounding is far below the 1e-5 the outputs are compared to. Deterministic."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.Conv2d):
                weight = module.weight
                std = (1.0 / weight[0].numel()) ** 0.5
                weight.copy_(torch.randn(weight.shape, generator=generator) * std)


def parameter_count(model):
    return sum(p.numel() for p in model.parameters())


def write_spec(tmp_path, text, name="net.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip())
    return path


def prepare_reference(reference, shape=SMALL, gain=1.0):
    """Set the reference's conv weights and randomise its BatchNorms, put it in eval mode, and
    check that its output depends on its input. Returns an input and the reference's output.
    Both run in float64: in float32 a CPU kernel may round differently from one run to the
    next (seen once in CI: 1e-4 apart on the same model), and then 1e-5 would be noise."""
    init_conv_weights(reference)
    randomise_batchnorm(reference)
    reference.eval().double()
    generator = torch.Generator().manual_seed(3)
    x = (torch.randn(shape, generator=generator) * gain).double()
    other = (torch.randn(shape, generator=generator) * gain).double()
    with torch.no_grad():
        expected = reference(x)
        assert (expected - reference(other)).abs().max() > 1e-3
    return x, expected


def assert_matches(reference, spec_path, shape=SMALL, gain=1.0):
    """archc's model of spec_path is `reference`: the same state_dict keys (loaded strictly), the
    same eval outputs, and archc's parameter count. Returns archc's model."""
    x, expected = prepare_reference(reference, shape, gain)
    network = archc.compile_spec(str(spec_path))
    model = archc.build_model(spec_path).eval().double()
    assert sorted(model.state_dict()) == sorted(reference.state_dict())
    model.load_state_dict(reference.state_dict(), strict=True)
    with torch.no_grad():
        got = model(x)
    assert got.shape == expected.shape
    assert (got - expected).abs().max() <= 1e-5
    assert CostModel(network, network.shapes).total().params == parameter_count(reference)
    assert parameter_count(model) == parameter_count(reference)
    return model


def assert_batchnorm_settings(model, eps, momentum):
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert norms
    assert all(m.eps == pytest.approx(eps) and m.momentum == pytest.approx(momentum)
               for m in norms)


def same_padding(kernel_size):
    if isinstance(kernel_size, int):
        return (kernel_size - 1) // 2
    return tuple((k - 1) // 2 for k in kernel_size)


class ConvNormAct(nn.Module):
    """timm's conv unit: `.conv`, then `.bn` (if norm), then the activation (no weights)."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=None, groups=1,
                 bias=False, norm=True, act_layer=nn.ReLU, eps=1e-5, momentum=0.1):
        super().__init__()
        if padding is None:
            padding = same_padding(kernel_size)
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding,
                              groups=groups, bias=bias)
        self.bn = nn.BatchNorm2d(out_channels, eps=eps, momentum=momentum) if norm else None
        self.act = act_layer() if act_layer is not None else nn.Identity()

    def forward(self, x):
        x = self.conv(x)
        if self.bn is not None:
            x = self.bn(x)
        return self.act(x)


# ------------------------------------------------------- 1. ResNet bottleneck (torchvision)


class Bottleneck(nn.Module):
    """torchvision's Bottleneck (He et al. 2016): 1x1 -> 3x3 (stride) -> 1x1 (4 x width)."""

    expansion = 4

    def __init__(self, inplanes, width, stride=1, downsample=None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, width, kernel_size=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, width * self.expansion, kernel_size=1, bias=False)
        self.bn3 = nn.BatchNorm2d(width * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x):
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        out += identity
        return self.relu(out)


class TinyResNet(nn.Module):
    def __init__(self, num_classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, kernel_size=3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        downsample = nn.Sequential(
            nn.Conv2d(16, 32, kernel_size=1, stride=2, bias=False),
            nn.BatchNorm2d(32),
        )
        self.layer1 = nn.Sequential(
            Bottleneck(16, 8, stride=2, downsample=downsample),
            Bottleneck(32, 8),
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(32, num_classes)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer1(x)
        return self.fc(torch.flatten(self.pool(x), 1))


RESNET = """
    name: tiny_resnet
    input: {channels: 3, size: 32}
    num_classes: 10

    settings:
      batchnorm: {eps: 1e-5, momentum: 0.1}

    blocks:
      ProjectionBottleneck:
        params: [width, stride]
        residual:
          activation: relu
          shortcut: [{downsample: [conv 1x1 4*width /stride nobn noact, bn]}]
        layers:
          - conv1: conv 1x1 width nobn noact
          - bn1: bn
          - relu1: relu
          - conv2: conv 3x3 width /stride nobn noact
          - bn2: bn
          - relu2: relu
          - conv3: conv 1x1 4*width nobn noact
          - bn3: bn

      Bottleneck:
        params: [width]
        residual: {activation: relu}
        layers:
          - conv1: conv 1x1 width nobn noact
          - bn1: bn
          - relu1: relu
          - conv2: conv 3x3 width nobn noact
          - bn2: bn
          - relu2: relu
          - conv3: conv 1x1 4*width nobn noact
          - bn3: bn

    layers:
      - conv1: conv 3x3 16 nobn noact          # 16 x 32 x 32
      - bn1: bn
      - relu1: relu
      - maxpool: maxpool 3x3 /2                # 16 x 16 x 16
      - layer1:                                # layer1.0, layer1.1
          - ProjectionBottleneck(width=8, stride=2)   # 32 x 8 x 8
          - Bottleneck(width=8)                       # 32 x 8 x 8

    head:
      - pool: avgpool global
      - fc: linear num_classes
"""


def test_resnet_bottleneck_is_torchvisions(tmp_path):
    torch.manual_seed(0)
    reference = TinyResNet(num_classes=10)
    keys = reference.state_dict()
    assert "layer1.0.downsample.0.weight" in keys and "layer1.0.downsample.1.running_mean" in keys
    assert "layer1.0.downsample.0.bias" not in keys
    assert not any(k.startswith("layer1.1.downsample") for k in keys)
    model = assert_matches(reference, write_spec(tmp_path, RESNET))
    assert_batchnorm_settings(model, eps=1e-5, momentum=0.1)
    assert isinstance(model.layer1[0].downsample, nn.Sequential)
    assert isinstance(model.layer1[0].conv1, nn.Conv2d)  # a bare conv, no unit around it


# ---------------------------------------------- 2. depthwise-separable (MobileNet, ReLU6)


def conv_bn_relu6(in_channels, out_channels, kernel_size, stride=1, groups=1):
    """The sequential layout: `.0` conv, `.1` BatchNorm, `.2` ReLU6."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size, stride, (kernel_size - 1) // 2,
                  groups=groups, bias=False),
        nn.BatchNorm2d(out_channels, eps=1e-3, momentum=0.01),
        nn.ReLU6(inplace=True),
    )


class DepthwiseSeparable(nn.Module):
    """MobileNet's block: depthwise 3x3 (stride) -> BN -> ReLU6 -> pointwise 1x1 -> BN -> ReLU6."""

    def __init__(self, in_channels, out_channels, stride):
        super().__init__()
        self.dw = conv_bn_relu6(in_channels, in_channels, 3, stride, groups=in_channels)
        self.pw = conv_bn_relu6(in_channels, out_channels, 1)

    def forward(self, x):
        return self.pw(self.dw(x))


class TinyMobileNet(nn.Module):
    def __init__(self, num_classes=10):
        super().__init__()
        self.features = nn.Sequential(
            conv_bn_relu6(3, 16, 3, stride=2),     # 16 x 16 x 16
            DepthwiseSeparable(16, 32, 1),         # 32 x 16 x 16
            DepthwiseSeparable(32, 64, 2),         # 64 x 8 x 8
            DepthwiseSeparable(64, 64, 1),
            DepthwiseSeparable(64, 64, 1),
        )
        self.classifier = nn.Linear(64, num_classes)

    def forward(self, x):
        x = self.features(x)
        return self.classifier(x.mean((2, 3)))


MOBILENET = """
    name: tiny_mobilenet
    input: {channels: 3, size: 32}
    num_classes: 10

    settings:
      batchnorm: {eps: 1e-3, momentum: 0.01}
      conv: {layout: sequential, activation: relu6}

    blocks:
      DepthwiseSeparable:
        params: [filters, stride]
        layers:
          - dw: dwconv 3x3 /stride             # groups = in, filters = in; ReLU6 from settings
          - pw: conv 1x1 filters

    layers:
      - features:
          - conv 3x3 16 /2 relu6                                  # features.0
          - DepthwiseSeparable(filters=32, stride=1)              # features.1
          - DepthwiseSeparable(filters=64, stride=2)              # features.2
          - 2 x DepthwiseSeparable(filters=64, stride=1)          # features.3, features.4

    head:
      - pool: avgpool global
      - classifier: linear num_classes
"""


def relu6_clips(model, x):
    """Whether some ReLU6 of `model` gets an input above 6 for x (so ReLU would differ)."""
    seen = []
    handles = [m.register_forward_pre_hook(lambda m, args: seen.append(args[0].max().item()))
               for m in model.modules() if isinstance(m, nn.ReLU6)]
    with torch.no_grad():
        model(x)
    for handle in handles:
        handle.remove()
    return max(seen) > 6


def test_depthwise_separable_relu6_in_sequential_layout(tmp_path):
    torch.manual_seed(0)
    reference = TinyMobileNet(num_classes=10)
    keys = reference.state_dict()
    assert {"features.0.0.weight", "features.0.1.weight", "features.0.1.running_mean",
            "features.1.dw.0.weight", "features.1.pw.1.running_var"} <= set(keys)
    assert keys["features.2.dw.0.weight"].shape == (32, 1, 3, 3)
    init_conv_weights(reference)
    randomise_batchnorm(reference)
    reference.eval()
    x = torch.randn(SMALL, generator=torch.Generator().manual_seed(3)) * 2  # assert_matches's
    assert relu6_clips(reference, x)  # so ReLU in place of ReLU6 would fail
    model = assert_matches(reference, write_spec(tmp_path, MOBILENET), gain=2.0)
    assert_batchnorm_settings(model, eps=1e-3, momentum=0.01)
    assert isinstance(model.features[0], nn.Sequential)
    assert model.features[2].dw[0].groups == 32 and model.features[2].dw[0].stride == (2, 2)


# ----------------------------------------- 3. grouped conv, conv + BN without activation, SiLU


class Aggregated(nn.Module):
    """A ResNeXt-like residual block with SiLU: 1x1 -> grouped 3x3 (4 groups) -> 1x1 back to the
    input's channels with BN and no activation; out = silu(x + layers(x))."""

    def __init__(self, in_channels, width):
        super().__init__()
        self.reduce = ConvNormAct(in_channels, width, 1, act_layer=nn.SiLU)
        self.grouped = ConvNormAct(width, width, 3, groups=4, act_layer=nn.SiLU)
        self.expand = ConvNormAct(width, in_channels, 1, act_layer=None)
        self.act = nn.SiLU()

    def forward(self, x):
        return self.act(x + self.expand(self.grouped(self.reduce(x))))


class TinyResNeXt(nn.Module):
    def __init__(self, num_classes=10):
        super().__init__()
        self.stem = ConvNormAct(3, 16, 3, stride=2, act_layer=nn.SiLU)     # 16 x 16 x 16
        self.dw = ConvNormAct(16, 32, 3, groups=16, act_layer=nn.SiLU)      # 32 x 16 x 16
        self.stage = nn.Sequential(Aggregated(32, 16), Aggregated(32, 16))
        self.proj = ConvNormAct(32, 48, 1, act_layer=None)                  # 48 x 16 x 16
        self.fc = nn.Linear(48, num_classes)

    def forward(self, x):
        x = self.proj(self.stage(self.dw(self.stem(x))))
        return self.fc(x.mean((2, 3)))


RESNEXT = """
    name: tiny_resnext
    input: {channels: 3, size: 32}
    num_classes: 10

    settings:
      batchnorm: {eps: 1e-5, momentum: 0.1}

    blocks:
      Aggregated:
        params: [w]
        residual: {activation: silu}
        layers:
          - reduce: conv 1x1 w silu
          - grouped: conv 3x3 w groups=4 silu
          - expand: conv 1x1 in noact             # back to the block's input channels

    layers:
      - stem: conv 3x3 16 /2 silu
      - dw: dwconv 3x3 32 silu                    # groups = 16: a channel multiplier of 2
      - stage: 2 x Aggregated(w=16)
      - proj: conv 1x1 48 noact

    head:
      - pool: avgpool global
      - fc: linear num_classes
"""


def test_grouped_conv_noact_and_silu(tmp_path):
    torch.manual_seed(0)
    reference = TinyResNeXt(num_classes=10)
    keys = reference.state_dict()
    assert keys["stage.0.grouped.conv.weight"].shape == (16, 4, 3, 3)
    assert keys["dw.conv.weight"].shape == (32, 1, 3, 3)
    assert "stage.1.expand.bn.running_mean" in keys and "proj.bn.weight" in keys
    model = assert_matches(reference, write_spec(tmp_path, RESNEXT))
    assert model.stage[0].grouped.conv.groups == 4 and model.dw.conv.groups == 16
    assert_batchnorm_settings(model, eps=1e-5, momentum=0.1)


# -------------------------------------------------------- 4. pools: ceil and explicit pad


class Pools(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = ConvNormAct(3, 8, 3, eps=1e-3)   # the default settings: eps 0.001
        self.pool1 = nn.MaxPool2d(3, stride=2, padding=1, ceil_mode=True)          # 32 -> 17
        self.pool2 = nn.AvgPool2d(2, stride=2, ceil_mode=True, count_include_pad=False)  # -> 9
        self.pool3 = nn.MaxPool2d(2, stride=2, ceil_mode=True)                     # 9 -> 5
        self.pool4 = nn.AvgPool2d(3, stride=2, padding=1, ceil_mode=True,
                                  count_include_pad=False)                         # 5 -> 3
        self.pool5 = nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=True)  # 3 -> 3

    def forward(self, x):
        x = self.pool2(self.pool1(self.conv(x)))
        return self.pool5(self.pool4(self.pool3(x)))


POOLS = """
    name: pools
    input: {channels: 3, size: 32}

    layers:
      - conv: conv 3x3 8
      - pool1: maxpool 3x3 /2 pad=1 ceil           # 17 x 17 (floor: 16)
      - pool2: avgpool 2x2 /2 V ceil               # 9 x 9 (floor: 8)
      - pool3: maxpool 2x2 /2 valid ceil           # 5 x 5 (floor: 4)
      - pool4: avgpool 3x3 /2 pad=1 ceil           # 3 x 3
      - pool5: {type: avgpool, kernel: 3, count_pad: true}   # 3 x 3, padding counted
"""


def test_pools_with_ceil_and_explicit_padding(tmp_path):
    torch.manual_seed(0)
    reference = Pools()
    with torch.no_grad():
        assert reference(torch.randn(SMALL)).shape == (2, 8, 3, 3)  # floor mode: 2 x 2
    model = assert_matches(reference, write_spec(tmp_path, POOLS))
    assert model.pool1.ceil_mode and model.pool3.ceil_mode
    assert model.pool5.count_include_pad and not model.pool4.count_include_pad


POOL_CASES = [  # (compact or long form, the equivalent torch pool, input side, ceil changes it)
    ("maxpool 3x3 /2 pad=1 ceil", lambda: nn.MaxPool2d(3, 2, 1, ceil_mode=True), 32, True),
    ("maxpool 3x3 /2 V ceil", lambda: nn.MaxPool2d(3, 2, ceil_mode=True), 32, True),
    ("maxpool 2x2 /2 valid ceil", lambda: nn.MaxPool2d(2, 2, ceil_mode=True), 17, True),
    ("maxpool 3x3 /2 pad=1", lambda: nn.MaxPool2d(3, 2, 1), 32, False),
    ("avgpool 3x3 /2 pad=1 ceil",
     lambda: nn.AvgPool2d(3, 2, 1, ceil_mode=True, count_include_pad=False), 32, True),
    ("avgpool 2x2 /2 V ceil",
     lambda: nn.AvgPool2d(2, 2, ceil_mode=True, count_include_pad=False), 9, True),
    ("{type: avgpool, kernel: 3, count_pad: true}",
     lambda: nn.AvgPool2d(3, 1, 1, count_include_pad=True), 8, False),
    ("{type: avgpool, kernel: 3, stride: 2, count_pad: false}",
     lambda: nn.AvgPool2d(3, 2, 1, count_include_pad=False), 8, False),
]


@pytest.mark.parametrize("layer, make_pool, side, ceil_differs", POOL_CASES,
                         ids=[case[0] for case in POOL_CASES])
def test_pool_is_torchs(tmp_path, layer, make_pool, side, ceil_differs):
    pool = make_pool()
    x = torch.rand(1, 2, side, side) + 1
    expected = pool(x)
    if ceil_differs:
        pool.ceil_mode = False
        assert pool(x).shape != expected.shape  # the case tests what ceil changes
    spec = write_spec(tmp_path, f"""
        name: pool
        input: {{channels: 2, size: {side}}}
        layers:
          - pool: {layer}
    """)
    network = archc.compile_spec(str(spec))
    model = archc.build_model(spec)
    got = model(x)
    assert got.shape == expected.shape
    assert (got - expected).abs().max() <= 1e-6
    assert tuple(network.shapes.body[network.body.graph["output"]]) == tuple(expected.shape[1:])


# ------------------------------------------------- 5. kernel and stride as block parameters


class Square(nn.Module):
    def __init__(self, in_channels, k, w, s):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, w, k, stride=s, padding=(k - 1) // 2)
        self.row = nn.Conv2d(w, w, (1, k), padding=(0, (k - 1) // 2))
        self.unit = ConvNormAct(w, w, k, eps=1e-3)

    def forward(self, x):
        return self.unit(self.row(self.conv(x)))


class KernelNet(nn.Module):
    def __init__(self, k, s):
        super().__init__()
        self.a = Square(3, k, 8, s)
        self.b = Square(8, 3, 4, 1)

    def forward(self, x):
        return self.b(self.a(x))


KERNEL_PARAMS = """
    name: kernel_params
    input: {channels: 3, size: 32}

    blocks:
      Square:
        params: [k, w, s]
        layers:
          - conv: conv kxk w /s linear     # nn.Conv2d(in, w, k, s, (k - 1) // 2)
          - row: conv 1xk w linear         # nn.Conv2d(w, w, (1, k), padding=(0, (k - 1) // 2))
          - unit: conv kxk w               # conv + BN + ReLU

    layers:
      - a: Square(k=@K@, w=8, s=@S@)
      - b: Square(k=3, w=4, s=1)
"""


@pytest.mark.parametrize("k, s", [(1, 1), (3, 2), (5, 1), (7, 3)])
def test_kernel_and_stride_as_block_parameters(tmp_path, k, s):
    torch.manual_seed(0)
    reference = KernelNet(k, s)
    spec = write_spec(tmp_path, KERNEL_PARAMS.replace("@K@", str(k)).replace("@S@", str(s)))
    model = assert_matches(reference, spec)
    assert model.a.conv.kernel_size == (k, k) and model.a.conv.stride == (s, s)
    assert model.a.conv.padding == ((k - 1) // 2, (k - 1) // 2)
    assert model.a.row.kernel_size == (1, k)


# ------------------------------------------------------------- expressions for counts


class Inner(nn.Module):
    def __init__(self, in_channels, c):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, c, 3, padding=1)

    def forward(self, x):
        return self.conv(x)


class Expr(nn.Module):
    def __init__(self, in_channels, w, n):
        super().__init__()
        self.reduce = nn.Conv2d(in_channels, in_channels // 2, 1)     # in//2
        self.grow = nn.Conv2d(in_channels // 2, w + n, 3, padding=1)  # (w + n)
        self.mix = nn.Conv2d(w + n, 2 * w - n, 1)                     # 2*w-n
        self.nested = Inner(2 * w - n, 2 * w)                         # Inner(c=2*w)
        self.back = nn.Conv2d(2 * w, in_channels, 1)                  # in

    def forward(self, x):
        return self.back(self.nested(self.mix(self.grow(self.reduce(x)))))


class ExprNet(nn.Module):
    def __init__(self, num_classes=10):
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 3, padding=1)
        self.expr = Expr(16, 3 * 2, num_classes // 5)
        self.last = nn.Conv2d(16, num_classes + 2, 1)
        self.fc = nn.Linear(num_classes + 2, num_classes)

    def forward(self, x):
        x = self.last(self.expr(self.stem(x)))
        return self.fc(x.mean((2, 3)))


EXPRESSIONS = """
    name: expressions
    input: {channels: 3, size: 16}
    num_classes: 10

    blocks:
      Inner:
        params: [c]
        layers:
          - conv: conv 3x3 c linear

      Expr:
        params: [w, n]
        layers:
          - reduce: conv 1x1 in//2 linear      # 16 -> 8
          - grow: conv 3x3 (w + n) linear      # 8
          - mix: conv 1x1 2*w-n linear         # 10
          - nested: Inner(c=2*w)               # 12
          - back: conv 1x1 in linear           # 16

    layers:
      - stem: conv 3x3 2*8 linear
      - expr: Expr(w=3*2, n=num_classes//5)    # w = 6, n = 2
      - last: conv 1x1 num_classes+2 linear     # 12

    head:
      - pool: avgpool global
      - fc: linear num_classes
"""


def test_expressions_for_counts_and_arguments(tmp_path):
    torch.manual_seed(0)
    reference = ExprNet(num_classes=10)
    assert reference.state_dict()["expr.mix.weight"].shape == (10, 8, 1, 1)
    model = assert_matches(reference, write_spec(tmp_path, EXPRESSIONS), shape=(2, 3, 16, 16))
    assert model.expr.nested.conv.out_channels == 12


# ---------------------------------------------- standalone BN and activations as layers


ACTIVATIONS = {
    "relu": nn.ReLU,
    "relu6": nn.ReLU6,
    "silu": nn.SiLU,
    "gelu": nn.GELU,            # exact (erf), PyTorch's default
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
    "hardswish": nn.Hardswish,
}


class ActNet(nn.Module):
    def __init__(self, act_layer):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)                      # linear: with bias
        self.norm = nn.BatchNorm2d(8, eps=0.01, momentum=0.2)
        self.nonlin = act_layer()
        self.unit = ConvNormAct(8, 8, 3, act_layer=act_layer, eps=0.01, momentum=0.2)

    def forward(self, x):
        return self.unit(self.nonlin(self.norm(self.conv(x))))


ACT_SPEC = """
    name: acts
    input: {channels: 3, size: 16}

    settings:
      batchnorm: {eps: 0.01, momentum: 0.2}

    layers:
      - conv: conv 3x3 8 linear
      - norm: bn
      - nonlin: @ACT@
      - unit: conv 3x3 8 @ACT@
"""


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_bn_and_activation_layers_and_conv_activations(tmp_path, name):
    torch.manual_seed(0)
    reference = ActNet(ACTIVATIONS[name])
    spec = write_spec(tmp_path, ACT_SPEC.replace("@ACT@", name))
    if name == "relu6":
        init_conv_weights(reference)
        randomise_batchnorm(reference)
        x = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(3)) * 2
        assert relu6_clips(reference.eval(), x)
    model = assert_matches(reference, spec, shape=(2, 3, 16, 16), gain=2.0)
    assert_batchnorm_settings(model, eps=0.01, momentum=0.2)
    assert isinstance(model.norm, nn.BatchNorm2d) and model.norm.num_features == 8
    assert isinstance(model.nonlin, ACTIVATIONS[name])


# ------------------------------------------------- which convs are units, which are bare


class ConvKinds(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = ConvNormAct(3, 8, 3, bias=True, norm=False, act_layer=nn.SiLU)  # a.conv.*
        self.b = nn.Conv2d(8, 8, 3, padding=1, bias=False)                      # b.weight
        self.c = nn.Conv2d(8, 8, 3, padding=1)                                  # c.weight, c.bias
        self.d = ConvNormAct(8, 8, 1, bias=True, eps=1e-3)                      # d.conv.bias, d.bn
        self.e = ConvNormAct(8, 8, 3, norm=False, act_layer=nn.Tanh)            # e.conv.weight

    def forward(self, x):
        return self.e(self.d(self.c(self.b(self.a(x)))))


CONV_KINDS = """
    name: conv_kinds
    input: {channels: 3, size: 16}

    layers:
      - a: conv 3x3 8 nobn silu bias
      - b: conv 3x3 8 nobn noact
      - c: conv 3x3 8 linear
      - d: conv 1x1 8 bias
      - e: conv 3x3 8 nobn tanh
"""


def test_a_conv_with_an_activation_and_no_bn_is_still_a_unit(tmp_path):
    torch.manual_seed(0)
    reference = ConvKinds()
    assert {"a.conv.weight", "a.conv.bias", "b.weight", "c.bias", "d.conv.bias",
            "d.bn.running_var", "e.conv.weight"} <= set(reference.state_dict())
    model = assert_matches(reference, write_spec(tmp_path, CONV_KINDS), shape=(2, 3, 16, 16))
    assert isinstance(model.b, nn.Conv2d) and isinstance(model.c, nn.Conv2d)


class ConvDefaults(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = ConvNormAct(3, 8, 3, bias=True, norm=False, act_layer=nn.SiLU)
        self.b = ConvNormAct(8, 8, 3, bias=True, act_layer=nn.SiLU)
        self.c = nn.Conv2d(8, 8, 3, padding=1, bias=False)
        self.d = ConvNormAct(8, 8, 3, bias=True, norm=False, act_layer=nn.ReLU)

    def forward(self, x):
        return self.d(self.c(self.b(self.a(x))))


CONV_DEFAULTS = """
    name: conv_defaults
    input: {channels: 3, size: 16}

    settings:
      batchnorm: {eps: 1e-5, momentum: 0.1}
      conv: {norm: none, activation: silu, bias: true}

    layers:
      - a: conv 3x3 8                 # nobn silu bias
      - b: conv 3x3 8 bn              # bn silu bias
      - c: conv 3x3 8 noact nobias    # bare, no bias
      - d: conv 3x3 8 relu            # nobn relu bias
"""


def test_settings_conv_change_the_defaults(tmp_path):
    torch.manual_seed(0)
    reference = ConvDefaults()
    assert_matches(reference, write_spec(tmp_path, CONV_DEFAULTS), shape=(2, 3, 16, 16))


class MixedLayout(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = ConvNormAct(3, 8, 3, eps=1e-3)
        self.b = nn.Sequential(
            nn.Conv2d(8, 8, 3, padding=1, bias=False),
            nn.BatchNorm2d(8, eps=1e-3),
            nn.ReLU(inplace=True),
        )
        self.c = ConvNormAct(8, 8, 3, act_layer=None, eps=1e-3)

    def forward(self, x):
        return self.c(self.b(self.a(x)))


MIXED_LAYOUT = """
    name: mixed_layout
    input: {channels: 3, size: 16}

    layers:
      - a: conv 3x3 8                                            # a.conv, a.bn
      - b: {type: conv, kernel: 3, filters: 8, layout: sequential}   # b.0, b.1
      - c: conv 3x3 8 noact                                      # c.conv, c.bn
"""


def test_layout_sequential_on_one_conv(tmp_path):
    torch.manual_seed(0)
    reference = MixedLayout()
    assert {"a.conv.weight", "a.bn.weight", "b.0.weight", "b.1.running_mean", "c.conv.weight",
            "c.bn.bias"} <= set(reference.state_dict())
    model = assert_matches(reference, write_spec(tmp_path, MIXED_LAYOUT), shape=(2, 3, 16, 16))
    assert isinstance(model.b, nn.Sequential)


class PaddedNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = ConvNormAct(3, 8, (1, 7), padding=(0, 3), eps=1e-3)   # 16 x 16
        self.b = nn.Conv2d(8, 8, 3, stride=2, padding=2)               # 9 x 9
        self.c = nn.Conv2d(8, 8, 5)                                    # 5 x 5
        self.d = nn.Conv2d(8, 8, 2, padding=1)                         # 6 x 6

    def forward(self, x):
        return self.d(self.c(self.b(self.a(x))))


PADDED = """
    name: padded
    input: {channels: 3, size: 16}

    layers:
      - a: conv 1x7 8 pad=0x3
      - b: conv 3x3 8 /2 pad=2 linear
      - c: conv 5x5 8 valid linear
      - d: conv 2x2 8 pad=1 linear
"""


def test_conv_explicit_padding(tmp_path):
    torch.manual_seed(0)
    reference = PaddedNet()
    with torch.no_grad():
        assert reference(torch.randn(1, 3, 16, 16)).shape == (1, 8, 6, 6)
    model = assert_matches(reference, write_spec(tmp_path, PADDED), shape=(2, 3, 16, 16))
    assert model.a.conv.padding == (0, 3) and model.b.padding == (2, 2)


# ---------------------------------- residual: scale, no activation, a multi-step shortcut


class ScaledResidual(nn.Module):
    """out = shortcut(x) + scale * layers(x), no activation; the shortcut is ResNet-D's
    average-pool-then-1x1 projection (timm's avg_down)."""

    def __init__(self, in_channels, width, scale):
        super().__init__()
        self.scale = scale
        self.conv1 = ConvNormAct(in_channels, width, 3, stride=2)
        self.conv2 = ConvNormAct(width, width, 3, act_layer=None)
        self.down = nn.AvgPool2d(2, stride=2, ceil_mode=True, count_include_pad=False)
        self.proj = nn.Conv2d(in_channels, width, 1)

    def forward(self, x):
        return self.proj(self.down(x)) + self.scale * self.conv2(self.conv1(x))


class ScaledNet(nn.Module):
    def __init__(self, num_classes=10):
        super().__init__()
        self.stem = ConvNormAct(3, 8, 3)                 # 8 x 15 x 15
        self.res = ScaledResidual(8, 16, 0.25)           # 16 x 8 x 8 (the pool's floor: 7)
        self.fc = nn.Linear(16, num_classes)

    def forward(self, x):
        return self.fc(self.res(self.stem(x)).mean((2, 3)))


SCALED = """
    name: scaled_residual
    input: {channels: 3, size: 15}
    num_classes: 10

    settings:
      batchnorm: {eps: 1e-5, momentum: 0.1}

    blocks:
      Scaled:
        params: [s, w]
        residual:
          scale: s
          activation: none
          shortcut:
            - down: avgpool 2x2 /2 V ceil
            - proj: conv 1x1 w linear
        layers:
          - conv1: conv 3x3 w /2
          - conv2: conv 3x3 w noact

    layers:
      - stem: conv 3x3 8
      - res: Scaled(s=0.25, w=16)

    head:
      - pool: avgpool global
      - fc: linear num_classes
"""


def test_residual_scale_no_activation_and_a_shortcut_of_steps(tmp_path):
    torch.manual_seed(0)
    reference = ScaledNet(num_classes=10)
    assert {"res.proj.weight", "res.proj.bias", "res.conv1.conv.weight",
            "res.conv2.bn.running_mean"} <= set(reference.state_dict())
    assert_matches(reference, write_spec(tmp_path, SCALED), shape=(2, 3, 15, 15))


@pytest.mark.parametrize("inputs", [(16,), (16, 32)])
def test_a_block_passing_its_input_channels_to_a_nested_block(tmp_path, inputs):
    """`Inner(out=in)` inside Outer: the BatchNorm after it has Outer's input channels, a number
    where every Outer gets the same (it was `in_channels`, which Outer's class does not take: a
    NameError), and Outer's argument where its instances differ."""
    stems = "".join(f"  - s{i}: conv 3x3 {c}\n  - b{i}: Outer\n" for i, c in enumerate(inputs))
    path = write_spec(tmp_path, f"""\
name: nested_in
input: {{size: 8}}
num_classes: 10
blocks:
  Inner: {{params: [out], layers: [{{c: conv 1x1 out nobn noact}}]}}
  Outer: {{layers: [{{body: ["Inner(out=in)", bn]}}]}}
layers:
{stems}  - pool: avgpool global
head: [{{fc: linear num_classes}}]
""")
    model = archc.build_model(str(path)).eval()
    norms = [model.get_submodule(f"b{i}.body.1") for i in range(len(inputs))]
    assert [n.num_features for n in norms] == list(inputs)
    assert model(torch.randn(2, 3, 8, 8)).shape == (2, 10)


# ------------------------------------------------- nested numbered groups (torchvision's)


class _Stage(nn.Module):
    """A residual 1x1 -> 3x3 block whose layers are one nn.Sequential `layers` of
    torchvision's Conv2dNormActivation (conv .0, BN .1, ReLU .2)."""

    def __init__(self, channels, width):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Sequential(nn.Conv2d(channels, width, 1, bias=False), nn.BatchNorm2d(width),
                          nn.ReLU(inplace=True)),
            nn.Sequential(nn.Conv2d(width, channels, 3, padding=1, bias=False),
                          nn.BatchNorm2d(channels)))

    def forward(self, x):
        return x + self.layers(x)


class NestedFeatures(nn.Module):
    """MnasNet's and EfficientNet's layout: a stage's blocks are an nn.Sequential inside
    `features` (features.1.0 .. features.1.2), lists nest further (features.2.0.1)."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 3, stride=2, padding=1, bias=False),
            nn.Sequential(_Stage(8, 4), _Stage(8, 16), _Stage(8, 16)),
            nn.Sequential(nn.Sequential(nn.Conv2d(8, 12, 1, bias=False), nn.BatchNorm2d(12)),
                          nn.MaxPool2d(2, 2)),
            nn.ReLU(inplace=True),
            nn.BatchNorm2d(12),  # a module with weights after the lists: numbered 4
        )
        self.fc = nn.Linear(12, 10)

    def forward(self, x):
        return self.fc(self.features(x).mean((2, 3)))


NESTED_SPEC = """
    name: nested
    input: {size: 32}
    num_classes: 10
    settings: {batchnorm: {eps: 1e-5}, conv: {layout: sequential}}
    blocks:
      Stage:
        params: [width]
        residual: {activation: none}
        layers:
          - layers: [conv 1x1 width, conv 3x3 in noact]
    layers:
      - features:
          - conv 3x3 8 /2 nobn noact
          - [Stage(width=4), 2 x Stage(width=16)]
          - [[conv 1x1 12 nobn noact, bn], maxpool 2x2 /2 V]
          - relu
          - bn
    head:
      - pool: avgpool global
      - fc: linear num_classes
"""


def test_a_list_inside_a_group_is_an_nn_sequential_at_its_number(tmp_path):
    assert_matches(NestedFeatures(), write_spec(tmp_path, NESTED_SPEC))


def assert_deploy_matches(reference, spec_path):
    """archc's deploy module of spec_path, loaded from the reference's weights (its BatchNorms
    folded away, its groups renumbered), gives the reference's outputs."""
    x, expected = prepare_reference(reference)
    deploy = archc.build_model(spec_path, deploy=True)
    deploy.load_trained(reference.state_dict())
    with torch.no_grad():
        assert (deploy.double()(x) - expected).abs().max() <= 1e-5


def test_the_deploy_module_of_nested_groups_loads_their_names(tmp_path):
    assert_deploy_matches(NestedFeatures(), write_spec(tmp_path, NESTED_SPEC))


def test_a_list_inside_a_group_is_not_empty(tmp_path):
    spec = write_spec(tmp_path, NESTED_SPEC.replace("- relu\n", "- []\n"))
    with pytest.raises(SpecError, match=r"net.yaml:\d+:\d+: error\[E210\]: the list needs at "
                                        r"least 1 entry \(layers\[0\].features\[3\]\)"):
        archc.compile_spec(str(spec))


def test_a_list_inside_a_group_names_none_of_its_steps(tmp_path):
    named = NESTED_SPEC.replace("[Stage(width=4), ", "[stage: Stage(width=4), ")
    spec = write_spec(tmp_path, named)
    with pytest.raises(SpecError) as error:
        archc.compile_spec(str(spec))
    assert "error[E407]: a list inside an nn.Sequential numbers its layers: name none of them " \
           "(layers[0].features[1])" in str(error.value)
    assert "net.yaml:14:10: " in str(error.value)


# ---------------------------------------- sequential groups with named members (DenseNet's)


class _DenseLayer(nn.Module):
    """torchvision's _DenseLayer, its input and its new features concatenated."""

    def __init__(self, channels, growth):
        super().__init__()
        self.norm1 = nn.BatchNorm2d(channels)
        self.relu1 = nn.ReLU()
        self.conv1 = nn.Conv2d(channels, 4 * growth, 1, bias=False)
        self.norm2 = nn.BatchNorm2d(4 * growth)
        self.relu2 = nn.ReLU()
        self.conv2 = nn.Conv2d(4 * growth, growth, 3, padding=1, bias=False)

    def forward(self, x):
        new = self.conv1(self.relu1(self.norm1(x)))
        return torch.cat((x, self.conv2(self.relu2(self.norm2(new)))), 1)


class NamedFeatures(nn.Module):
    """DenseNet's and RegNet's layout: nn.Sequentials of OrderedDicts (features.conv0,
    features.denseblock1.denselayer1, a name with a hyphen: features.block1-0), an unnamed
    member named by its number (features.7)."""

    def __init__(self):
        super().__init__()
        from collections import OrderedDict

        self.features = nn.Sequential(OrderedDict([
            ("conv0", nn.Conv2d(3, 16, 3, stride=2, padding=1, bias=False)),
            ("norm0", nn.BatchNorm2d(16)),
            ("relu0", nn.ReLU()),
            ("denseblock1", nn.Sequential(OrderedDict(
                (f"denselayer{i + 1}", _DenseLayer(16 + 8 * i, 8)) for i in range(3)))),
            ("transition1", nn.Sequential(nn.BatchNorm2d(40), nn.Conv2d(40, 20, 1, bias=False))),
            ("block1-0", _DenseLayer(20, 4)),
            ("block1-1", _DenseLayer(24, 4)),
            ("7", nn.Conv2d(28, 12, 1, bias=False)),
            ("norm5", nn.BatchNorm2d(12)),
        ]))
        self.classifier = nn.Linear(12, 10)

    def forward(self, x):
        return self.classifier(self.features(x).mean((2, 3)))


NAMED_SPEC = """
    name: dense
    input: {size: 32}
    num_classes: 10
    settings: {batchnorm: {eps: 1e-5}, conv: {norm: none, activation: none}}
    blocks:
      DenseLayer:
        params: [growth]
        layers:
          - concat:
              input: identity
              new:
                - norm1: bn
                - relu1: relu
                - conv1: conv 1x1 4*growth
                - norm2: bn
                - relu2: relu
                - conv2: conv 3x3 growth
    layers:
      - features:
          type: sequential
          layers:
            - conv0: conv 3x3 16 /2
            - norm0: bn
            - relu0: relu
            - denseblock1:
                type: sequential
                layers:
                  - denselayer{1}: 3 x DenseLayer(growth=8)
            - transition1: [bn, conv 1x1 20]
            - block1-{0}: 2 x DenseLayer(growth=4)
            - conv 1x1 12
            - norm5: bn
    head:
      - pool: avgpool global
      - classifier: linear num_classes
"""


def test_a_sequential_group_names_its_members_as_an_ordered_dict_does(tmp_path):
    assert_matches(NamedFeatures(), write_spec(tmp_path, NAMED_SPEC))


def test_the_deploy_module_of_named_members_loads_their_names(tmp_path):
    assert_deploy_matches(NamedFeatures(), write_spec(tmp_path, NAMED_SPEC))


@pytest.mark.parametrize("change, message", [
    (("- norm5: bn", "- norm0: bn"),
     "32:11: error[E405]: the name `norm0` is used twice in `features` (first at line 23) "
     "(layers[0].features.layers[7].norm0)"),
    (("- relu0: relu", "- relu{0}: relu"),
     "24:11: error[E209]: `relu{0}`: {N} in a name numbers the instances of a repeat "
     "(`N x Block`), and this is not one (layers[0].features.layers[2].relu{0})"),
    (("- relu0: relu", "- relu.0: relu"),
     "24:11: error[E209]: `relu.0` is not a valid name in a sequential group"),
])
def test_a_sequential_groups_names_are_checked(tmp_path, change, message):
    spec = write_spec(tmp_path, NAMED_SPEC.replace(*change))
    with pytest.raises(SpecError) as error:
        archc.compile_spec(str(spec))
    assert message in str(error.value)
