"""Generated forwards compute what the IR says, whatever the spec's names.

Generated code keeps each value in a local variable named after its layer or branch; a spec's
names (`l` and `l_`, `x` and `x_1`, `out`) must never make two values share a variable. Each case
here writes a small spec with names drawn from such a pool, builds it, and runs the IR itself
through an interpreter written here: node by node in the graph's order, each layer the module at
its path in the built model, each concat and residual add done by hand. The generated forward
must give the same output.
"""

from __future__ import annotations

import textwrap

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

torch = pytest.importorskip("torch")

import archc  # noqa: E402
from archc.compiler import compile_spec  # noqa: E402
from archc.errors import SpecError  # noqa: E402
from archc.ir import graph as ir  # noqa: E402

from .conftest import NETWORK_SPECS, randomise_batchnorm  # noqa: E402

# Names that the generated code's own renaming could produce or reuse.
POOL = ["l", "l_", "l_1", "l__1", "I", "I_", "O_1", "x", "x_1", "out", "out_1", "a", "a_1",
        "branch1", "cat", "torch_"]


def interpret(graph, module, x, blocks):
    """The output of one IR graph, each node computed from its inputs' values."""
    values = {}
    for node in ir.topological(graph):
        data = ir.node(graph, node)
        op = data.op
        inputs = [values[u] for u in ir.ordered_inputs(graph, node)]
        if isinstance(op, ir.Input):
            values[node] = x
        elif isinstance(op, ir.Concat):
            values[node] = torch.cat(inputs, 1)
        elif isinstance(op, ir.Add):
            shortcut, branch = inputs
            scale = op.scale if isinstance(op.scale, (int, float)) else module.scale
            out = shortcut + scale * branch
            values[node] = module.act(out) if op.act != "none" else out
        elif isinstance(op, ir.BlockCall):
            out = inputs[0]
            for path in data.paths:
                inner = module.get_submodule(".".join(map(str, path)))
                out = interpret(blocks[op.block].graph, inner, out, blocks)
            values[node] = out
        else:
            (path,) = data.paths
            values[node] = module.get_submodule(".".join(map(str, path)))(inputs[0])
    return values[graph.graph["output"]]


@st.composite
def specs(draw):
    names = iter(draw(st.permutations(POOL)))  # the block's names, then the network's
    filters = iter(range(3, 40))  # every conv its own width: a mixed-up value changes the shape

    def conv():
        return f"conv 1x1 {next(filters)}"

    def branch(depth):
        kind = draw(st.sampled_from(["conv", "chain", "concat"] if depth < 2 else ["conv"]))
        if kind == "conv":
            return conv()
        if kind == "chain":
            return f"[{conv()}, {conv()}]"
        inner = ", ".join(f"{next(names)}: {branch(depth + 1)}" for _ in range(2))
        return f"[{{{next(names)}: {conv()}}}, {{concat: {{{inner}}}}}]"

    def concat(width):
        return "{concat: {" + ", ".join(f"{next(names)}: {branch(1)}" for _ in range(width)) + "}}"

    residual = draw(st.booleans())
    block = textwrap.dedent(f"""\
        blocks:
          Mix:
            {"params: [s]" if residual else ""}
            {"residual: {scale: s, activation: relu}" if residual else ""}
            layers:
              - {concat(draw(st.integers(2, 3)))}
              {"- proj: conv 1x1 in linear" if residual else ""}
        """)
    call = "Mix(s=0.5)" if residual else "Mix"
    names = iter(draw(st.permutations(POOL)))
    return textwrap.dedent("""\
        name: adversarial
        input: {channels: 3, size: 6}
        num_classes: 5
        """) + block + textwrap.dedent(f"""\
        layers:
          - {next(names)}: conv 1x1 8
          - {next(names)}: 2 x {call}
          - {concat(2)}
        head:
          - pool: avgpool global
          - fc: linear num_classes
        """)


@pytest.mark.slow
@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(text=specs())
def test_generated_forward_equals_the_ir(tmp_path, text):
    path = tmp_path / "net.yaml"
    path.write_text(text)
    try:
        network = compile_spec(str(path))
    except SpecError as e:  # two names that give one attribute: refused with E405
        assert {d.code for d in e.diagnostics} == {"E405"}, str(e)
        return
    model = archc.build_model(network).eval()
    randomise_batchnorm(model, seed=0)
    x = torch.randn(2, 3, 6, 6, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = model.forward_head(interpret(network.body, model, x, network.blocks))
        got = model(x)
        other = model(torch.randn(2, 3, 6, 6, generator=torch.Generator().manual_seed(2)))
    assert not torch.allclose(got, other), "the output must depend on the input"
    assert got.shape == expected.shape
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-6)


def test_l_and_l_underscore_are_two_variables(tmp_path):
    """The case a hostile tester found: before, both branches' values went to `l_` and the
    concat repeated one of them."""
    path = tmp_path / "net.yaml"
    path.write_text(textwrap.dedent("""\
        name: tiny
        input: {channels: 3, size: 4}
        layers:
          - concat:
              l: conv 1x1 4
              l_: conv 1x1 5
        """))
    network = compile_spec(str(path))
    model = archc.build_model(network).eval()
    x = torch.randn(1, 3, 4, 4)
    with torch.no_grad():
        want = torch.cat((model.l(x), model.l_(x)), 1)
        torch.testing.assert_close(model(x), want, rtol=0, atol=0)


def test_no_block_can_take_a_name_the_generated_modules_define(tmp_path):
    """A block becomes a class at the top level of the generated module, where a helper of the
    same name (a conv unit, a deploy module's `fused`, the activation table) would be replaced
    by it. The names are read from the generated modules themselves, trained and deploy."""
    import ast

    from archc.backends.torch import render
    from archc.passes import deploy

    activation = tmp_path / "activation.yaml"
    activation.write_text("name: act\ninput: {size: 8}\nblocks:\n  B:\n    params: [f]\n"
                          "    layers:\n      - c: {type: conv, kernel: 1, filters: 4, "
                          "activation: f}\nlayers:\n  - b: B(f=silu)\n  - g: conv 1x1 4 linear\n",
                          encoding="utf-8")
    defined, blocks = set(), set()
    for path in [*NETWORK_SPECS, activation]:
        network = compile_spec(str(path))
        blocks |= {*network.blocks, ir.class_name(network.name),
                   ir.class_name(f"{network.name}_deploy")}
        for source in (render(network), render(deploy(network), deploy=True)):
            for node in ast.parse(source).body:
                if isinstance(node, (ast.ClassDef, ast.FunctionDef)):
                    defined.add(node.name)
                elif isinstance(node, (ast.Assign, ast.AnnAssign)):
                    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                    defined |= {t.id for t in targets if isinstance(t, ast.Name)}
                elif isinstance(node, (ast.Import, ast.ImportFrom)):
                    defined |= {(a.asname or a.name).split(".")[0] for a in node.names}
    helpers = sorted(defined - blocks)
    assert {"fused", "folded", "ConvBnReLU", "ACTIVATIONS", "torch"} <= set(helpers)
    for name in helpers:
        spec = tmp_path / f"{name}.yaml"
        spec.write_text(f"name: net\ninput: {{size: 8}}\nblocks:\n  {name}:\n    layers:\n"
                        f"      - c: conv 1x1 4\nlayers:\n  - b: {name}\n", encoding="utf-8")
        with pytest.raises(SpecError) as error:
            compile_spec(str(spec))
        assert "error[E209]" in str(error.value), name


def test_no_layer_can_take_the_name_of_a_generated_method(tmp_path):
    """A layer becomes an attribute of its block's or network's class, where a method of the
    same name (forward_head, a deploy module's load_trained and from_trained) would be replaced
    by it. The names are read from the generated classes themselves, trained and deploy."""
    import ast

    from archc.backends.torch import render
    from archc.passes import deploy

    methods = set()
    for path in NETWORK_SPECS:
        network = compile_spec(str(path))
        for source in (render(network), render(deploy(network), deploy=True)):
            # the modules' classes, whose attributes layers become (not a plain helper class)
            methods |= {item.name for node in ast.parse(source).body
                        if isinstance(node, ast.ClassDef) and node.bases
                        for item in node.body if isinstance(item, ast.FunctionDef)}
    methods = sorted(name for name in methods if not name.startswith("__"))
    assert {"forward_head", "load_trained", "from_trained", "train"} <= set(methods)
    for name in methods:
        for layers in (f"layers:\n  - {name}: conv 1x1 4\n",
                       f"blocks:\n  B:\n    layers:\n      - {name}: conv 1x1 4\n"
                       "layers:\n  - b: B\n"):
            spec = tmp_path / "net.yaml"
            spec.write_text(f"name: net\ninput: {{size: 8}}\n{layers}", encoding="utf-8")
            with pytest.raises(SpecError) as error:
                compile_spec(str(spec))
            assert "error[E209]" in str(error.value), name



def test_blocks_may_be_named_body_and_head(tmp_path):
    """The network's own graphs are named apart from every block (the generator used to look
    a graph's channels up by "body" and "head", and a block of that name broke the build)."""
    from archc.backends.torch import generate

    path = tmp_path / "net.yaml"
    path.write_text(textwrap.dedent("""\
        name: named
        input: {size: 8}
        num_classes: 10
        blocks:
          body: {layers: [{c: conv 1x1 8}]}
          head: {layers: [{c: conv 3x3 4}]}
        layers: [{stem: conv 3x3 16}, {b: body}, {h: head}]
        head: [{pool: avgpool global}, {fc: linear num_classes}]
        """))
    network = compile_spec(str(path))
    assert "class body(nn.Module)" in generate(network, deploy=False)
    assert "class head(nn.Module)" in generate(network, deploy=True)
    model = archc.build_model(network).eval()
    randomise_batchnorm(model, seed=0)
    assert model.num_features == 4  # head's conv 3x3 4
    x = torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        by_hand = model.fc(model.pool(model.h(model.b(model.stem(x)))))
        torch.testing.assert_close(model(x), by_hand, rtol=0, atol=1e-6)
