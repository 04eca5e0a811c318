"""Variants: `extends:` and `--set`, and the variants under specs/variants/.

Each variant's parameter count is checked against a count written out here from the published
architecture (timm's inception_resnet_v2, docs/reference.md's 55,843,464 for the released network),
independent of archc; the variant that only changes residual scales is run against timm's model
with those scales, and the 5/10/5 variant against timm's model with its repeats cut short.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from archc.compiler import compile_spec
from archc.errors import SpecError
from archc.ir import expr as ex
from archc.ir.cost import CostModel
from archc.ir.graph import node as node_of

from .conftest import ROOT, randomise_batchnorm

VARIANTS = ROOT / "specs" / "variants"


def params(network) -> int:
    return CostModel(network, network.shapes).total().params


# ------------------------------------------------------- Inception-ResNet-v2's count by hand


def conv(cin, cout, kh=1, kw=None):
    """A conv unit: conv without bias, then BatchNorm's weight and bias."""
    return kh * (kw or kh) * cin * cout + 2 * cout


def irv2_params(repeats=(10, 20, 9), reduction_a=(256, 256, 384, 384), plain_b=False,
                num_classes=1000, width=1.0, se=False):
    """Inception-ResNet-v2 as timm builds it, counted layer by layer; `width` multiplies every
    filter count written as a number (exactly, for the widths tested: all stay multiples of 8);
    `se` adds Hu et al.'s gate to each residual block (two 1x1 convs with bias, c -> c // 16 ->
    c)."""
    def w(n):
        assert (n * width) % 8 == 0
        return int(n * width)

    def gate(c):
        return (c * (c // 16) + c // 16 + (c // 16) * c + c) if se else 0

    total = (conv(3, w(32), 3) + conv(w(32), w(32), 3) + conv(w(32), w(64), 3)
             + conv(w(64), w(80)) + conv(w(80), w(192), 3))
    c = w(192)
    total += (conv(c, w(96)) + conv(c, w(48)) + conv(w(48), w(64), 5) + conv(c, w(64))
              + conv(w(64), w(96), 3) + conv(w(96), w(96), 3) + conv(c, w(64)))  # Mixed_5b
    c = w(96) + w(64) + w(96) + w(64)  # 320
    block35 = (conv(c, w(32)) + conv(c, w(32)) + conv(w(32), w(32), 3) + conv(c, w(32))
               + conv(w(32), w(48), 3) + conv(w(48), w(64), 3) + (w(32) + w(32) + w(64)) * c + c
               + gate(c))
    total += repeats[0] * block35
    k, l, m, n = map(w, reduction_a)
    total += conv(c, n, 3) + conv(c, k) + conv(k, l, 3) + conv(l, m, 3)
    c = n + m + c
    if plain_b:  # Inception-B: 1024 channels out
        for cin in [c] + [1024] * (repeats[1] - 1):
            total += (conv(cin, 384) + conv(cin, 192) + conv(192, 224, 1, 7)
                      + conv(224, 256, 7, 1) + conv(cin, 192) + conv(192, 192, 7, 1)
                      + conv(192, 224, 1, 7) + conv(224, 224, 7, 1) + conv(224, 256, 1, 7)
                      + conv(cin, 128))
        c = 1024
    else:
        block17 = (conv(c, w(192)) + conv(c, w(128)) + conv(w(128), w(160), 1, 7)
                   + conv(w(160), w(192), 7, 1) + (w(192) + w(192)) * c + c + gate(c))
        total += repeats[1] * block17
    total += (conv(c, w(256)) + conv(w(256), w(384), 3) + conv(c, w(256))
              + conv(w(256), w(288), 3) + conv(c, w(256)) + conv(w(256), w(288), 3)
              + conv(w(288), w(320), 3))  # Mixed_7a
    c = w(384) + w(288) + w(320) + c
    block8 = (conv(c, w(192)) + conv(c, w(192)) + conv(w(192), w(224), 1, 3)
              + conv(w(224), w(256), 3, 1) + (w(192) + w(256)) * c + c + gate(c))
    total += (repeats[2] + 1) * block8
    total += conv(c, w(1536)) + w(1536) * num_classes + num_classes
    return total


def test_the_count_by_hand_is_the_released_networks():
    assert irv2_params() == 55_843_464  # docs/reference.md
    assert params(compile_spec(str(ROOT / "specs" / "inception_resnet_v2.yaml"))) == 55_843_464


EXPECTED = {
    "inception_resnet_v2_5_10_5": irv2_params(repeats=(5, 10, 4)),
    "inception_resnet_v2_v4_reduction": irv2_params(reduction_a=(192, 224, 256, 384)),
    "inception_resnet_v2_scale_0_3": irv2_params(),
    "inception_resnet_v2_plain_b": irv2_params(plain_b=True),
    # width 0.5, depth 0.5: 10/20/9 repeats -> 5/10/4 (round(4.5) is 4), 10 classes
    "inception_resnet_v2_small": irv2_params(repeats=(5, 10, 4), width=0.5, num_classes=10),
    "se_inception_resnet_v2": irv2_params(se=True),
    "inception_resnet_v2_drop_path": irv2_params(),  # drop paths have no weights
    "inception_resnet_v2_cifar": irv2_params(num_classes=10),  # strides and pools only
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_variant_is_short_and_has_its_count(name):
    path = VARIANTS / f"{name}.yaml"
    assert len(path.read_text().splitlines()) <= 25
    network = compile_spec(str(path))
    assert network.name == name
    assert params(network) == EXPECTED[name]


def test_the_cifar_variant_is_ten_lines_with_a_stem_of_no_strides_or_pools():
    path = VARIANTS / "inception_resnet_v2_cifar.yaml"
    assert len(path.read_text().splitlines()) <= 10
    network = compile_spec(str(path))
    assert network.shapes.body["conv2d_1a"] == (32, 30, 30)  # 3x3 V, stride 1: 32 - 2
    assert network.shapes.body["conv2d_4a"] == (192, 26, 26)  # two more 3x3 V: 30 - 2 - 2
    assert "maxpool_3a" not in network.body and "maxpool_5a" not in network.body


def test_every_variant_is_tested():
    assert sorted(p.stem for p in VARIANTS.glob("*.yaml")) == sorted(EXPECTED)


def test_inherited_layers_keep_the_base_files_lines():
    network = compile_spec(str(VARIANTS / "inception_resnet_v2_v4_reduction.yaml"))
    base = "specs/inception_resnet_v2.yaml"
    assert node_of(network.body, "conv2d_1a").pos.file.endswith(base)
    assert node_of(network.body, "mixed_6a").pos.file.endswith("v4_reduction.yaml")
    assert [Path(path).name for path, _ in network.sources] == [
        "inception_resnet_v2_v4_reduction.yaml", "inception_resnet_v2.yaml", "reduction_a.yaml"]


# ------------------------------------------------------------------- against timm's models


@pytest.fixture(scope="module")
def timm_irv2():
    timm = pytest.importorskip("timm")
    return timm.create_model("inception_resnet_v2", pretrained=False).eval()


@pytest.mark.parametrize("name", ["inception_resnet_v2_scale_0_3", "inception_resnet_v2_5_10_5"])
def test_variants_equal_timms_model_changed_the_same_way(timm_irv2, name):
    torch = pytest.importorskip("torch")
    import copy

    import archc

    reference = copy.deepcopy(timm_irv2)
    if name.endswith("scale_0_3"):
        for block in [*reference.repeat, *reference.repeat_1, *reference.repeat_2]:
            block.scale = 0.3
    else:
        reference.repeat = reference.repeat[:5]
        reference.repeat_1 = reference.repeat_1[:10]
        reference.repeat_2 = reference.repeat_2[:4]
    randomise_batchnorm(reference, seed=0)
    model = archc.build_model(VARIANTS / f"{name}.yaml").eval()
    model.load_state_dict(reference.state_dict(), strict=True)
    x = torch.randn(1, 3, 107, 107, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        want, got = reference(x), model(x)
        other = model(torch.randn(1, 3, 107, 107, generator=torch.Generator().manual_seed(2)))
    assert not torch.allclose(got, other)
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)


def test_se_gates_sit_on_the_residual_branch_before_the_scaling(timm_irv2):
    """With every SE gate fixed at one half (fc2 all zero: sigmoid(0)), SE-Inception-ResNet-v2
    is timm's Inception-ResNet-v2 with every residual scale halved; a gate anywhere else (after
    the sum, on the shortcut) would give another function. Its other tensors are timm's, by
    name: the variant changes no name of the base."""
    torch = pytest.importorskip("torch")
    import copy

    import archc

    reference = copy.deepcopy(timm_irv2)
    randomise_batchnorm(reference, seed=0)
    model = archc.build_model(VARIANTS / "se_inception_resnet_v2.yaml").eval()
    gates = {name for name in model.state_dict() if ".se." in name}
    assert len(gates) == 4 * 40  # fc1 and fc2, weight and bias, in 10 + 20 + 10 blocks
    state = {**reference.state_dict(),
             **{name: torch.zeros_like(t) if ".se.fc2." in name else t
                for name, t in model.state_dict().items() if name in gates}}
    model.load_state_dict(state, strict=True)
    for block in [*reference.repeat, *reference.repeat_1, *reference.repeat_2,
                  reference.block8]:
        block.scale = block.scale * 0.5
    x = torch.randn(1, 3, 75, 75, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        got = model(x)
        torch.testing.assert_close(got, reference(x), rtol=1e-4, atol=1e-4)
        for block in [*reference.repeat, *reference.repeat_1, *reference.repeat_2,
                      reference.block8]:
            block.scale = block.scale * 2  # undo: the comparison can see a difference
        assert not torch.allclose(got, reference(x), rtol=1e-4, atol=1e-4)


# ------------------------------------------------------------------------ extends and --set

BASE = """\
name: base
include: [lib/blocks.yaml]
input: {channels: 3, size: 16}
num_classes: 10
blocks:
  Res:
    params: [scale]
    residual: {scale: scale}
    layers:
      - b: conv 3x3 8
      - proj: conv 1x1 in linear
layers:
  - stem: conv 3x3 16
  - res: 2 x Res(scale=0.2)
  - mix: Mix
head:
  - pool: avgpool global
  - fc: linear num_classes
"""
LIBRARY = """\
blocks:
  Mix:
    layers:
      - concat:
          a: conv 1x1 8
          b: [conv 1x1 4, conv 3x3 8]
"""


@pytest.fixture
def base(tmp_path):
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "blocks.yaml").write_text(LIBRARY)
    (tmp_path / "base.yaml").write_text(BASE)
    (tmp_path / "variants").mkdir()
    return tmp_path


def variant(folder: Path, text: str) -> str:
    path = folder / "variants" / "v.yaml"
    path.write_text(textwrap.dedent(text))
    return str(path)


def error_lines(path: str, overrides=()) -> list[str]:
    with pytest.raises(SpecError) as raised:
        compile_spec(path, overrides)
    return [str(d) for d in raised.value.diagnostics]


def test_a_variant_changes_only_what_it_says(base):
    path = variant(base, """\
        extends: ../base.yaml
        name: v
        input: {size: 32}
        layers:
          res: {repeat: 3, args: {scale: 0.5}}
          stem: conv 3x3 24
        """)
    network = compile_spec(path)
    assert (network.name, network.input_shape, network.num_classes) == ("v", (3, 32, 32), 10)
    call = node_of(network.body, "res.0").op
    assert (call.repeat, dict(call.args)) == (3, {"scale": 0.5})
    assert network.shapes.body["stem"] == (24, 32, 32)
    assert network.shapes.body["mix"] == (16, 32, 32)  # the include, relative to the base


def test_set_uses_the_same_paths(base):
    network = compile_spec(str(base / "base.yaml"), ["num_classes=7", "input.size=24",
                                                     "layers.res.repeat=4",
                                                     "blocks.Res.layers.b=conv 3x3 12"])
    assert network.num_classes == 7 and network.input_shape == (3, 24, 24)
    assert node_of(network.body, "res.0").op.repeat == 4
    assert network.shapes.head["fc"] == (7,)
    block = network.blocks["Res"].graph
    assert node_of(block, "b").pos.file == "--set blocks.Res.layers.b=conv 3x3 12"


def test_an_override_of_nothing_is_located_with_a_hint(base):
    path = variant(base, """\
        extends: ../base.yaml
        layers:
          ress: {repeat: 3}
        blocks:
          Rse: {params: [scale]}
        """)
    assert error_lines(path) == [
        f"{path}:3:3: error[E309]: no step `ress` in the base's `layers` to change (did you mean "
        "`res`?) (layers.ress)",
        f"{path}:5:3: error[E309]: no block `Rse` in the base to change (a new block needs its "
        "`layers`) (did you mean `Res`?) (blocks.Rse)",
    ]


def test_errors_in_inherited_parts_point_at_the_base(base):
    path = variant(base, """\
        extends: ../base.yaml
        blocks:
          Res: {params: [scale, width]}
        """)
    assert error_lines(path) == [f"{base / 'base.yaml'}:14:10: error[E404]: block `Res` needs "
                                 "`width` (layers[1].res)"]


def test_a_bad_set_value_is_located_at_the_option(base):
    assert error_lines(str(base / "base.yaml"), ["num_classes=ten"]) == [
        "--set num_classes=ten: error[E203]: `num_classes` must be a valid integer, got 'ten' "
        "(num_classes)"]


def test_set_cannot_change_what_a_spec_extends(base, capsys):
    """`--set extends=...` was ignored without a word: the bases are read before overrides."""
    from archc.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(["check", str(base / "base.yaml"), "--set", "extends=other.yaml"])
    assert exit_.value.code == 2
    assert "argument --set: `extends` cannot be set: the spec's bases are read before the " \
           "overrides" in capsys.readouterr().err


@pytest.mark.parametrize("extends, message", [
    ("missing.yaml", "the base spec `missing.yaml`: no such file"),
    ("v.yaml", "extends cycle"),
    ("../lib/blocks.yaml", "is not a network spec"),
    ("[a, b]", "names the spec this one changes"),
])
def test_a_base_that_cannot_be_extended(base, extends, message):
    path = variant(base, f"extends: {extends}\n")
    (line,) = error_lines(path)
    assert line.startswith(f"{path}:1:10: error[E308]: ") and message in line, line


def test_a_long_chain_of_variants_stops_at_the_bound(base):
    from archc.limits import MAX_EXTENDS

    for i in range(MAX_EXTENDS + 5):
        parent = "../base.yaml" if i == 0 else f"v{i - 1}.yaml"
        (base / "variants" / f"v{i}.yaml").write_text(f"extends: {parent}\nname: v{i}\n")
    last = str(base / "variants" / f"v{MAX_EXTENDS + 4}.yaml")
    (line,) = error_lines(last)
    assert f"error[E308]: more than {MAX_EXTENDS} specs extend each other" in line
    assert compile_spec(str(base / "variants" / f"v{MAX_EXTENDS - 1}.yaml")).name == \
        f"v{MAX_EXTENDS - 1}"


# ------------------------------------------------------------------------------------ scales


@pytest.mark.parametrize("value, divisor, want", [
    (60, 8, 64),    # 0.75 x 80: to the nearest multiple of 8
    (12, 8, 16),    # halfway rounds up
    (3, 8, 8),      # never below the divisor
    (10, 8, 16),    # 8 would be more than 10% below 10
    (48, 16, 48),
])
def test_filter_counts_round_as_timm_rounds_them(value, divisor, want):
    from archc.spec.scale import make_divisible

    assert make_divisible(value, divisor) == want  # timm.layers.make_divisible's rule


def test_scale_on_the_command_line_is_the_spec_key():
    base = str(ROOT / "specs" / "inception_resnet_v2.yaml")
    network = compile_spec(base, ["scale=small", "num_classes=10"])
    assert params(network) == irv2_params(repeats=(5, 10, 4), width=0.5, num_classes=10)
    call = node_of(network.body, "mixed_6a").op
    assert dict(call.args) == {"k": 128, "l": 128, "m": 192, "n": 192}  # widths, scaled
    assert dict(node_of(network.body, "repeat.0").op.args) == {"scale": 0.17}  # not a width
    assert node_of(network.blocks["Block35"].graph, "conv2d").op.filters == ex.Sym("in")


def test_an_unknown_scale_is_located_with_a_hint():
    base = str(ROOT / "specs" / "inception_resnet_v2.yaml")
    assert error_lines(base, ["scale=smal"]) == [
        "--set scale=smal: error[E412]: no scale `smal` in `scales` (did you mean `small`? its "
        "scales: `small`, `medium`) (scale)"]


# ---------------------------------------------------------------- block parameter defaults

DEFAULTS = """\
name: defaults
input: {channels: 3, size: 8}
blocks:
  Res:
    params: [scale, width, activation]
    defaults: {scale: 1.0, activation: relu}
    residual: {scale: scale, activation: activation}
    layers:
      - a: conv 3x3 width
      - proj: conv 1x1 in linear
layers:
  - stem: conv 3x3 16
  - plain: Res(width=8)
  - other: Res(width=8, scale=0.5, activation=none)
"""


def test_an_instance_may_leave_out_what_has_a_default(tmp_path):
    from archc.backends.torch import render

    (tmp_path / "spec.yaml").write_text(DEFAULTS)
    network = compile_spec(str(tmp_path / "spec.yaml"))
    assert dict(node_of(network.body, "plain").op.args) == \
        {"scale": 1.0, "width": 8, "activation": "relu"}
    source = render(network)
    # a default before a required parameter: keyword-only, as the calls are
    assert "def __init__(self, *, scale: float = 1.0, width: int, activation: str = \"relu\"):" \
        in source
    assert "self.plain = Res(width=8)" in source
    assert "self.other = Res(scale=0.5, width=8, activation=\"none\")" in source
    compile(source, "generated.py", "exec")


@pytest.mark.parametrize("defaults, message", [
    ("{scale: 1.0, depth: 2}", "error[E403]: a default for `depth`, which is not a parameter"),
    ("{scale: 2*width}", "error[E401]: the default of `scale` must be a number or an activation"),
])
def test_a_default_must_be_for_a_parameter_and_a_value(tmp_path, defaults, message):
    (tmp_path / "spec.yaml").write_text(
        DEFAULTS.replace("{scale: 1.0, activation: relu}", defaults))
    lines = error_lines(str(tmp_path / "spec.yaml"))
    assert any(message in line for line in lines), lines
