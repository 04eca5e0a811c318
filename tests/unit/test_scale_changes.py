"""A scale's `changes`: a variant inside the spec, merged when the scale is picked (by `scale:`,
`--scale` or `--set scale=`), before the command line's overrides, which keep the last word."""

from __future__ import annotations

import pytest

from archc.compiler import compile_spec
from archc.errors import SpecError
from archc.ir import graph as ir

SPEC = """\
name: net
input: {size: 16}
num_classes: 10
blocks:
  Res:
    residual: {}
    layers:
      - a: conv 3x3 in
scales:
  deep:
    changes:
      name: net_deep
      layers: {blocks: {repeat: 4}, extra: {after: stem, step: conv 1x1 16}}
  wide: {width: 2}
layers:
  - stem: conv 3x3 16
  - blocks: 2 x Res
head:
  - pool: avgpool global
  - fc: linear num_classes
"""


def steps(network) -> list[tuple[str, str]]:
    return [(n, ir.node(network.body, n).op.describe()) for n in ir.topological(network.body)]


def test_a_picked_scale_changes_the_spec_as_a_variant_would(tmp_path):
    path = tmp_path / "net.yaml"
    path.write_text(SPEC, encoding="utf-8")
    base = compile_spec(str(path))
    assert base.name == "net"
    assert steps(base)[1:] == [("stem", "conv 3x3 16"), ("blocks.0", "2 x Res")]
    deep = compile_spec(str(path), ["scale=deep"])
    assert deep.name == "net_deep"
    assert steps(deep)[1:] == [("stem", "conv 3x3 16"), ("extra", "conv 1x1 16"),
                               ("blocks.0", "4 x Res")]
    # the command line keeps the last word
    three = compile_spec(str(path), ["scale=deep", "layers.blocks.repeat=3"])
    assert steps(three)[-1] == ("blocks.0", "3 x Res")
    picked_in_the_spec = tmp_path / "picked.yaml"
    picked_in_the_spec.write_text(SPEC + "scale: deep\n", encoding="utf-8")
    assert steps(compile_spec(str(picked_in_the_spec))) == steps(deep)


@pytest.mark.parametrize("change, error", [
    ("      scale: wide\n", "net.yaml:12:7: error[E202]: a scale's changes cannot change "
                            "`scale` (scales.deep.changes.scale)"),
    ("      name: net_deep\n      layers: {blokcs: {repeat: 4}}\n",
     "net.yaml:13:16: error[E309]: no step `blokcs` in the base's `layers` to change (did you "
     "mean `blocks`?) (layers.blokcs)"),
])
def test_bad_changes_are_refused_where_they_are_written(tmp_path, change, error):
    path = tmp_path / "net.yaml"
    path.write_text(SPEC.replace("      name: net_deep\n      layers: {blocks: {repeat: 4}, extra: "
                                 "{after: stem, step: conv 1x1 16}}\n", change), encoding="utf-8")
    with pytest.raises(SpecError) as raised:
        compile_spec(str(path), ["scale=deep"])
    assert [line.replace(str(tmp_path) + "/", "") for line in str(raised.value).splitlines()] \
        == [error]
