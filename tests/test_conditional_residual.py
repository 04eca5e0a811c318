"""Conditional residuals: a shortcut built where a condition holds (`shortcut: {when: ...,
layers: [...]}`, torchvision's `downsample=None` otherwise) and a sum made where one holds
(`residual: {when: ...}`, MobileNet's `use_res_connect`, its drop paths with it). Each generated
model is a hand-written PyTorch module's; the conditions are refused where they are written when
they cannot be generated; figures, costs and fingerprints see them."""

from __future__ import annotations

import pytest

from archc import compile_spec
from archc.cli import main
from archc.ir import expr as ex
from archc.ir.cost import summary
from archc.ir.graph import fingerprint
from archc.spec.expr import parse_expr

SPEC = """\
name: conditional
input: {size: 16}
num_classes: 5
drop_path_rate: 0.5
settings:
  batchnorm: {eps: 1e-5, momentum: 0.1}
blocks:
  Basic:
    params: [width, stride]
    defaults: {stride: 1}
    residual:
      shortcut:
        when: stride != 1 or in != width
        layers:
          - downsample: [conv 1x1 width /stride nobn noact, bn]
    layers:
      - conv1: conv 3x3 width /stride nobn noact
      - bn1: bn
      - relu: relu
      - conv2: conv 3x3 width nobn noact
      - bn2: bn
  Inverted:
    params: [c, s]
    defaults: {s: 1}
    residual: {when: s == 1 and in == c, activation: none}
    layers:
      - conv: [conv 1x1 2*in nobn noact, bn, relu6, conv 1x1 c /s nobn noact, bn]
      - drop: drop_path
layers:
  - stem: conv 3x3 8 nobn noact
  - layer1:
      - 2 x Basic(width=8)
  - layer2:
      - Basic(width=16, stride=2)
      - Basic(width=16)
  - layer3:
      - 2 x Inverted(c=24)
      - Inverted(c=24, s=2)
head:
  - pool: avgpool global
  - fc: linear num_classes
"""


def write(tmp_path, text=SPEC, name="net.yaml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _reference():
    """The network as torchvision writes ResNet's BasicBlock and MobileNet-V2's
    InvertedResidual: a projection decided in the constructor, a sum decided by a flag."""
    from torch import nn
    from torchvision.ops import StochasticDepth

    from .conftest import basic_block

    Basic = basic_block()

    class Inverted(nn.Module):
        def __init__(self, inp, oup, stride=1):
            super().__init__()
            self.use_res_connect = stride == 1 and inp == oup
            self.conv = nn.Sequential(nn.Conv2d(inp, 2 * inp, 1, bias=False),
                                      nn.BatchNorm2d(2 * inp), nn.ReLU6(),
                                      nn.Conv2d(2 * inp, oup, 1, stride, bias=False),
                                      nn.BatchNorm2d(oup))
            self.drop = StochasticDepth(0.0, "row")

        def forward(self, x):
            if self.use_res_connect:
                return x + self.drop(self.conv(x))
            return self.conv(x)

    class Reference(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Conv2d(3, 8, 3, padding=1, bias=False)
            self.layer1 = nn.Sequential(Basic(8, 8), Basic(8, 8))
            self.layer2 = nn.Sequential(Basic(8, 16, 2), Basic(16, 16))
            self.layer3 = nn.Sequential(Inverted(16, 24), Inverted(24, 24), Inverted(24, 24, 2))
            self.fc = nn.Linear(24, 5)

        def forward(self, x):
            x = self.layer3(self.layer2(self.layer1(self.stem(x))))
            return self.fc(x.mean((2, 3)))

    return Reference()


def test_the_model_is_torchvisions_basic_block_and_inverted_residual(tmp_path):
    torch = pytest.importorskip("torch")
    pytest.importorskip("torchvision")

    import archc

    from .conftest import randomise_batchnorm

    torch.manual_seed(0)
    reference = _reference().eval()
    model = archc.build_model(str(write(tmp_path))).eval()
    # The projections are where torchvision builds them: layer2.0 and layer3.0's inverted block
    # differ in shape from their inputs; layer1 keeps its channels.
    assert set(model.state_dict()) == set(reference.state_dict())
    assert "layer2.0.downsample.0.weight" in model.state_dict()
    assert not any(key.startswith("layer1.") and "downsample" in key
                   for key in model.state_dict())
    randomise_batchnorm(model)
    reference.load_state_dict(model.state_dict(), strict=True)
    assert [m.use_residual for m in model.layer3] == [m.use_res_connect for m in reference.layer3]
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        out = model(x)
        assert not torch.allclose(out, model(torch.randn(2, 3, 16, 16)))  # it reads the input
        torch.testing.assert_close(out, reference(x), rtol=0, atol=1e-5)
        deploy = archc.build_model(str(write(tmp_path)), deploy=True)
        deploy.load_trained(model.state_dict())
        torch.testing.assert_close(deploy(x), out, rtol=1e-4, atol=1e-4)
    params = sum(p.numel() for p in reference.parameters())
    assert summary(compile_spec(str(write(tmp_path))))["total"]["params"] == params


def test_a_drop_path_runs_only_where_its_sum_is_made(tmp_path):
    torch = pytest.importorskip("torch")

    import archc

    model = archc.build_model(str(write(tmp_path))).train()
    calls = []
    for i, block in enumerate(model.layer3):
        block.drop.register_forward_hook(lambda module, args, out, i=i: calls.append(i))
    model(torch.randn(2, 3, 16, 16))
    assert calls == [1]  # layer3.0 changes the channels, layer3.2 the size: neither adds


CHANGES = [
    ("        when: stride != 1 or in != width\n        layers:\n"
     "          - downsample: [conv 1x1 width /stride nobn noact, bn]\n",
     "        when: stride != 1 or in != width\n        layers:\n"
     "          - conv: conv 1x1 width /stride nobn noact\n          - bn: bn\n",
     "net.yaml:13:9: error[E416]: a shortcut with `when` is one named step (`downsample: [conv "
     "1x1 out /stride, bn]`): generated code builds it, or not, by its name "
     "(blocks.Basic.residual.shortcut)"),
    ("{when: s == 1 and in == c, activation: none}",
     "{when: s == 1 and in == c, activation: none, shortcut: [proj: conv 1x1 c]}",
     "net.yaml:25:22: error[E416]: a residual with `when` adds the block's input itself: it has "
     "no shortcut (a shortcut with a condition of its own is `shortcut: {when: ..., layers: "
     "[...]}`) (blocks.Inverted.residual.when)"),
    ("when: s == 1 and in == c,", "when: s,",
     "net.yaml:25:22: error[E203]: `when` must be a condition: a comparison such as "
     "`stride != 1 or in != out`, got 's' (blocks.Inverted.residual.when)"),
    ("when: s == 1 and in == c,", "when: s == 1 and in == t,",
     "net.yaml:25:22: error[E401]: unknown parameter `t` (parameters here: `c`, `s`) "
     "(blocks.Inverted.residual.when)"),
    ("when: s == 1 and in == c,", "when: 1 <= s <= 2,",
     "net.yaml:25:22: error[E215]: cannot read the expression: a chain of comparisons in "
     "`1 <= s <= 2`: join them with `and` (blocks.Inverted.residual.when)"),
    # A comparison is a condition, not a number
    ("conv2: conv 3x3 width nobn noact", 'conv2: {type: conv, kernel: 3, filters: "width == 8"}',
     "net.yaml:20:49: error[E203]: `filters` must be a whole number or an expression, got the "
     "condition 'width == 8' (comparisons are for a residual's `when`) "
     "(blocks.Basic.layers[3].conv2.filters)"),
    # A condition that leaves the projection out where the shapes differ: the sum is refused.
    # (layer2.0 gets 8 x 16 x 16; its sum gives layer2.1 the same, 8 channels where 16 are made)
    ("when: stride != 1 or in != width", "when: in == width",
     ["net.yaml:21:14: error[E503]: residual add: `bn2` (bn) gives 16 channels, the block input "
      "has 8 (the shortcut `downsample` is built only where `in == width`) "
      "(blocks.Basic.layers[4].bn2)",
      "net.yaml:21:14: error[E503]: residual add: `bn2` (bn) gives 16 x 8 x 8, the block input "
      "is 8 x 16 x 16 (the shortcut `downsample` is built only where `in == width`) "
      "(blocks.Basic.layers[4].bn2)"]),
]


@pytest.mark.parametrize("old,new,error", CHANGES)
def test_a_condition_is_refused_where_it_is_written(tmp_path, capsys, monkeypatch, old, new,
                                                   error):
    monkeypatch.chdir(tmp_path)
    assert old in SPEC
    write(tmp_path, SPEC.replace(old, new))
    assert main(["check", "net.yaml"]) == 1
    errors = capsys.readouterr().err.splitlines()
    assert errors == (error if isinstance(error, list) else [error])


def test_a_width_scale_scales_the_channels_a_condition_compares(tmp_path):
    # `width` and `c` are compared in the conditions, and still filter counts: scaled by 0.5
    # (make_divisible to 8: 8 -> 8, 16 -> 8, 24 -> 16), so the same blocks add and project.
    half = compile_spec(str(write(tmp_path, SPEC + "scales:\n  half: {width: 0.5}\n")),
                        ["scale=half"])
    stages: dict = {}
    for node, keys in half.shapes.of("<body>").calls.items():  # layer2.0, layer2.1, ...
        stages.setdefault(node.split(".")[0], []).extend(map(half.shapes.instances.get, keys))
    assert [dict(i.args)["width"] for i in stages["layer2"]] == [8, 8]
    assert [dict(i.args)["c"] for i in stages["layer3"]] == [16, 16, 16]
    assert [bool(i.absent) for i in stages["layer3"]] == [True, False, True]  # as at full width


def test_a_condition_is_in_the_fingerprint(tmp_path):
    base = compile_spec(str(write(tmp_path)))
    other = compile_spec(str(write(tmp_path, SPEC.replace("in != width", "width != in"),
                                   "other.yaml")))
    assert fingerprint(base) != fingerprint(other)


def test_its_figure_draws_the_conditional_steps_dashed_with_their_condition(tmp_path):
    pytest.importorskip("graphviz")
    from archc.backends.graphviz import figures

    drawn = figures(compile_spec(str(write(tmp_path))))
    basic, inverted = drawn["Basic"].source, drawn["Inverted"].source
    assert basic.count("where stride != 1 or in != width") == 2  # the conv and its BatchNorm
    assert basic.count("dashed") >= 2
    assert 'xlabel="where s == 1 and in == c"' in inverted  # beside the sum's circle


@pytest.mark.parametrize("text,python,values,expected", [
    ("stride != 1 or in != out", "stride != 1 or in != out", {"stride": 1, "in": 8, "out": 8},
     False),
    ("a == 1 or b == 2 and c == 3", "a == 1 or b == 2 and c == 3", {"a": 1, "b": 0, "c": 0},
     True),  # `and` binds tighter, as in Python
    ("(a == 1 or b == 2) and c == 3", "(a == 1 or b == 2) and c == 3", {"a": 1, "b": 0, "c": 0},
     False),
    ("2 * k + 1 >= in // 2", "2 * k + 1 >= in // 2", {"k": 3, "in": 14}, True),
    ("(a < b) == (c < d)", "(a < b) == (c < d)", {"a": 1, "b": 2, "c": 4, "d": 3}, False),
])
def test_conditions_read_and_print_as_python(text, python, values, expected):
    e = parse_expr(text)
    assert ex.is_condition(e)
    assert ex.to_text(e) == python
    assert ex.evaluate(e, values) is expected
    assert eval(python.replace("in", "in_"), {}, {k.replace("in", "in_"): v  # noqa: S307
                                                  for k, v in values.items()}) is expected
