"""`N x Block` is an nn.Sequential numbered 0 .. N-1 at any N, 1 included (a variant's
`repeat: 1` or a scale's depth), so that its checkpoints' names carry across depths; a block
written without a count is a module of its own."""

from __future__ import annotations

from archc.compiler import compile_spec
from archc.diff import CARRIED, GONE, compare
from archc.ir import graph as ir

from ..conftest import ROOT

SPEC = """\
name: net
input: {size: 8}
blocks:
  Res:
    residual: {}
    layers:
      - a: conv 3x3 in
scales:
  shallow: {depth: 0.3}
layers:
  - stem: conv 3x3 8
  - one: Res
  - many: 3 x Res
"""


def paths(network, step) -> tuple:
    return ir.node(network.body, step).paths


def test_a_count_of_one_keeps_the_numbering(tmp_path):
    path = tmp_path / "net.yaml"
    path.write_text(SPEC, encoding="utf-8")
    network = compile_spec(str(path))
    assert paths(network, "one") == (("one",),)
    assert paths(network, "many.0") == (("many", 0), ("many", 1), ("many", 2))
    for overrides in (["layers.many.repeat=1"], ["scale=shallow"]):  # round(3 x 0.3) = 1
        shallow = compile_spec(str(path), overrides)
        assert paths(shallow, "many.0") == (("many", 0),)
        assert paths(shallow, "one") == (("one",),)


def test_diff_carries_the_first_blocks_of_a_shallower_network(tmp_path):
    base = ROOT / "specs" / "inception_resnet_v2.yaml"
    shallow = compile_spec(str(base), ["layers.repeat.repeat=1"])
    comparison = compare(compile_spec(str(base)), shallow)
    status = {change.name: change.status for change in comparison.changes}
    assert status["repeat.0.conv2d.weight"] == CARRIED
    assert status["repeat.1.conv2d.weight"] == GONE
    assert {s for name, s in status.items() if name.startswith("repeat.0.")} == {CARRIED}


SETTINGS = """\
name: net
input: {size: 8}
settings: {conv: {activation: ACT}}
blocks:
  Res:
    residual: RESIDUAL
    layers:
      - a: conv 3x3 in
layers:
  - stem: conv 3x3 8
  - res: Res
"""


def residual_activation(tmp_path, act, residual="{}"):
    path = tmp_path / "net.yaml"
    path.write_text(SETTINGS.replace("ACT", act).replace("RESIDUAL", residual), encoding="utf-8")
    block = compile_spec(str(path)).blocks["Res"].graph
    return ir.node(block, block.graph["output"]).op.act


def test_the_settings_activation_reaches_residual_sums(tmp_path):
    """`settings: {conv: {activation: silu}}` is SiLU everywhere (it used to leave every
    residual activation a ReLU); a block's own word, and `none` in the settings, keep theirs."""
    assert residual_activation(tmp_path, "silu") == "silu"
    assert residual_activation(tmp_path, "relu") == "relu"
    assert residual_activation(tmp_path, "none") == "relu"  # convs linear, activations apart
    assert residual_activation(tmp_path, "silu", "{activation: gelu}") == "gelu"
