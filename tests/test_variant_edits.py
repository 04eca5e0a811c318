"""List edits in variants and `--set`: `name: null` removes a step of `layers`, `head` or a block's
`layers`, and `name: {after: STEP, step: ...}` (or `before:`) inserts one (spec/inherit.py)."""

from __future__ import annotations

import ast
import textwrap
from pathlib import Path

import pytest

from archc.backends.torch import generate
from archc.cli import main
from archc.compiler import compile_spec
from archc.errors import SpecError
from archc.ir.cost import CostModel
from archc.ir.graph import node as node_of
from archc.ir.graph import topological

from .conftest import ROOT

BASE = """\
name: tiny
input: {size: 8}
num_classes: 10
blocks:
  Res:
    params: [scale]
    residual: {scale: scale}
    layers:
      - a: conv 1x1 8
      - conv2d: conv 1x1 in linear
layers:
  - stem: conv 3x3 8
  - pool: maxpool 3x3
  - mid: conv 3x3 16
  - res: Res(scale=0.5)
head:
  - gp: avgpool global
  - drop: dropout 0.2
  - fc: linear num_classes
"""


@pytest.fixture
def base(tmp_path) -> Path:
    path = tmp_path / "base.yaml"
    path.write_text(BASE)
    return path


def variant(base: Path, text: str) -> str:
    path = base.parent / "v.yaml"
    path.write_text("extends: base.yaml\n" + textwrap.dedent(text))
    return str(path)


def order(graph) -> list[str]:
    return [name for name in topological(graph) if name != "input"]


def attributes(network) -> set[str]:
    """The attributes the generated module's classes set in their __init__ (`self.NAME = ...`)."""
    tree = ast.parse(generate(network))
    return {target.attr for node in ast.walk(tree) if isinstance(node, ast.Assign)
            for target in node.targets
            if isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name)
            and target.value.id == "self"}


def error_lines(path: str, overrides=()) -> list[str]:
    with pytest.raises(SpecError) as raised:
        compile_spec(path, overrides)
    return [str(d) for d in raised.value.diagnostics]


# ----------------------------------------------------------------------------------- removal


@pytest.mark.parametrize("null", ["null", "~"])
def test_null_removes_a_step_and_keeps_the_rest(base, null):
    before = compile_spec(str(base))
    after = compile_spec(variant(base, f"layers:\n  pool: {null}\n"))
    assert order(before.body) == ["stem", "pool", "mid", "res"]
    assert order(after.body) == ["stem", "mid", "res"]
    assert list(after.body.predecessors("mid")) == ["stem"]
    for name in ("stem", "mid", "res"):
        assert node_of(after.body, name).op == node_of(before.body, name).op
        assert after.shapes.body[name] == before.shapes.body[name]
    assert order(after.head) == order(before.head)
    assert "pool" in attributes(before) and "pool" not in attributes(after)
    assert attributes(after) == attributes(before) - {"pool"}


def test_the_built_model_has_no_removed_module(base):
    pytest.importorskip("torch")
    from archc.api import build_model

    model = build_model(variant(base, "layers: {pool: null}\n"))
    assert not hasattr(model, "pool")
    assert hasattr(model, "stem") and hasattr(model, "mid")


def test_null_removes_a_step_of_the_head_and_of_a_block(base):
    network = compile_spec(variant(base, """\
        head: {drop: null}
        blocks:
          Res:
            layers: {a: null}
        """))
    assert order(network.head) == ["gp", "fc"]
    assert order(network.blocks["Res"].graph) == ["conv2d", "add"]


# --------------------------------------------------------------------------------- insertion


def test_insert_before_and_after(base):
    network = compile_spec(variant(base, """\
        layers:
          wide: {before: mid, step: conv 3x3 12}
          thin: {after: stem, step: "conv 1x1 4"}
        """))
    assert order(network.body) == ["stem", "thin", "pool", "wide", "mid", "res"]
    assert network.shapes.body["thin"] == (4, 8, 8)
    assert network.shapes.body["wide"] == (12, 8, 8)
    assert node_of(network.body, "wide").pos.file.endswith("v.yaml")
    assert {"thin", "wide"} <= attributes(network)


def test_insert_into_a_blocks_layers(base):
    network = compile_spec(variant(base, """\
        blocks:
          Res:
            layers:
              se: {after: a, step: conv 1x1 4}
        """))
    assert order(network.blocks["Res"].graph) == ["a", "se", "conv2d", "add"]
    assert order(network.body) == ["stem", "pool", "mid", "res"]


def test_insert_after_an_inserted_step_and_several_after_one(base):
    network = compile_spec(variant(base, """\
        layers:
          first: {after: stem, step: conv 1x1 4}
          second: {after: stem, step: conv 1x1 6}
          chained: {after: first, step: conv 1x1 5}
          last: {after: res, step: conv 1x1 7}
        """))
    # `second` goes after `stem` and the step inserted there before it; `chained` right after
    # `first`, so before `second`
    assert order(network.body) == ["stem", "first", "chained", "second", "pool", "mid", "res",
                                   "last"]


def test_an_inserted_step_may_be_long_form_or_a_group(base):
    network = compile_spec(variant(base, """\
        layers:
          long: {after: stem, step: {type: conv, kernel: 1, filters: 6}}
          group: {before: mid, step: [conv 1x1 4, conv 3x3 5]}
        """))
    assert network.shapes.body["long"] == (6, 8, 8)
    assert order(network.body)[:2] == ["stem", "long"]
    assert order(network.body).index("group.1") == order(network.body).index("mid") - 1
    assert network.shapes.body["group.1"] == (5, 8, 8)


def test_replace_remove_and_insert_in_one_override(base):
    network = compile_spec(variant(base, """\
        layers:
          stem: conv 3x3 24
          pool: null
          extra: {after: stem, step: conv 1x1 32}
        """))
    assert order(network.body) == ["stem", "extra", "mid", "res"]
    assert network.shapes.body["stem"] == (24, 8, 8)
    assert network.shapes.body["extra"] == (32, 8, 8)


def test_a_variant_of_a_variant_edits_the_inserted_step(base):
    variant(base, "layers: {extra: {after: stem, step: conv 1x1 32}}\n")
    second = base.parent / "v2.yaml"
    second.write_text("extends: v.yaml\nlayers: {extra: {filters: 48}}\n")
    network = compile_spec(str(second))
    assert network.shapes.body["extra"] == (48, 8, 8)


# ------------------------------------------------------------------------------------ errors


@pytest.mark.parametrize("override, expected", [
    ("  pol: null",
     "3:3: error[E309]: no step `pol` in the base's `layers` to remove (did you mean `pool`?) "
     "(layers.pol)"),
    ("  x: {after: mdi, step: conv 1x1 4}",
     "3:14: error[E309]: no step `mdi` in the base's `layers` to insert `x` after (did you mean "
     "`mid`?) (layers.x.after)"),
    ("  x: {before: nothing_like_it, step: conv 1x1 4}",
     "3:15: error[E309]: no step `nothing_like_it` in the base's `layers` to insert `x` before "
     "(layers.x.before)"),
    ("  x: {after: stem, before: mid, step: conv 1x1 4}",
     "3:6: error[E203]: `x` has both `after` and `before`: an inserted step goes after one step "
     "or before one (layers.x)"),
    ("  x: {step: conv 1x1 4}",
     "3:6: error[E201]: missing `after` or `before`: where `x` goes (e.g. `x: {after: STEP, "
     "step: ...}`) (layers.x)"),
    ("  x: {after: stem}",
     "3:6: error[E201]: missing `step`: the step `x` inserts (e.g. `x: {after: STEP, step: conv "
     "1x1 32}`) (layers.x)"),
    ("  x: {after: stem, stpe: conv 1x1 4}",
     "3:20: error[E202]: unknown key `stpe` in an inserted step (it takes `after` or `before`, "
     "and `step`) (did you mean `step`?) (layers.x.stpe)"),
    ("  mid: {after: stem, step: conv 1x1 4}",
     "3:3: error[E405]: `mid` is already a step of the base: change it with `mid: {...}` or "
     "replace it with `mid: VALUE` (layers.mid)"),
    ("  attention: {filters: 4}",
     "3:3: error[E309]: no step `attention` in the base's `layers` to change (to add one, write "
     "`attention: {after: STEP, step: ...}`) (layers.attention)"),
    ("  mdi: {filters: 4}",
     "3:3: error[E309]: no step `mdi` in the base's `layers` to change (did you mean `mid`?) "
     "(layers.mdi)"),
    ("  pool: null\n  x: {after: pool, step: conv 1x1 4}",  # removed above: no longer there
     "4:14: error[E309]: no step `pool` in the base's `layers` to insert `x` after "
     "(layers.x.after)"),
])
def test_an_edit_that_cannot_be_made_is_located_at_the_override(base, override, expected):
    path = variant(base, f"layers:\n{override}\n")
    assert error_lines(path) == [f"{path}:{expected}"]


def test_every_bad_edit_is_reported_in_one_run(base):
    path = variant(base, """\
        layers:
          pol: null
          x: {after: stem}
        blocks:
          Res:
            layers:
              se: {after: b, step: conv 1x1 4}
        """)
    assert [line.split(": error")[0] for line in error_lines(path)] == [
        f"{path}:3:3", f"{path}:4:6", f"{path}:8:19"]


def test_the_cli_reports_a_bad_edit_and_exits_1(base, capsys):
    path = variant(base, "layers:\n  x: {after: stme, step: conv 1x1 4}\n")
    assert main(["check", path]) == 1
    assert f"{path}:3:14: error[E309]: no step `stme` in the base's `layers` to insert `x` after " \
           "(did you mean `stem`?)" in capsys.readouterr().err


# --------------------------------------------------------------------------------------- --set


def test_set_removes_and_inserts(base):
    network = compile_spec(str(base), ["layers.pool=null",
                                       "layers.extra={after: stem, step: conv 3x3 64}",
                                       "blocks.Res.layers.se={before: conv2d, step: conv 1x1 4}"])
    assert order(network.body) == ["stem", "extra", "mid", "res"]
    assert network.shapes.body["extra"] == (64, 8, 8)
    assert order(network.blocks["Res"].graph) == ["a", "se", "conv2d", "add"]
    assert node_of(network.body, "extra").pos.file == \
        "--set layers.extra={after: stem, step: conv 3x3 64}"


def test_set_on_the_command_line(base, capsys):
    assert main(["check", str(base), "--set", "layers.pool=~",
                 "--set", "layers.extra={before: mid, step: conv 3x3 64}"]) == 0
    steps = [line.split()[0] for line in capsys.readouterr().out.splitlines() if line.strip()]
    assert steps[steps.index("stem"):steps.index("res") + 1] == ["stem", "extra", "mid", "res"]

    assert main(["check", str(base), "--set", "layers.pol=null"]) == 1
    assert capsys.readouterr().err.strip() == (
        "--set layers.pol=null: error[E309]: no step `pol` in the base's `layers` to remove "
        "(did you mean `pool`?) (layers.pol)")


# -------------------------------------------------------------------------- the bundled spec


def test_a_step_inserted_into_inception_resnet_v2s_block35(tmp_path):
    spec = ROOT / "specs" / "inception_resnet_v2.yaml"
    path = tmp_path / "v.yaml"
    path.write_text(textwrap.dedent(f"""\
        extends: {spec}
        name: irv2_extra
        blocks:
          Block35:
            layers:
              extra: {{after: conv2d, step: conv 1x1 in linear}}
        """))
    base, network = compile_spec(str(spec)), compile_spec(str(path))
    assert order(network.blocks["Block35"].graph)[-3:] == ["conv2d", "extra", "add"]
    assert order(network.blocks["Block17"].graph) == order(base.blocks["Block17"].graph)
    # ten Block35s, each with a 320 -> 320 linear 1x1 conv with a bias, as its conv2d
    added = 10 * (320 * 320 + 320)
    assert CostModel(network, network.shapes).total().params == \
        CostModel(base, base.shapes).total().params + added
