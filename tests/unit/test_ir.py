"""The IR on its own: expressions, symbolic channels and the verifier (window arithmetic against
PyTorch's pooling is in tests/test_ir_pooling.py, which needs torch)."""

import dataclasses
import shutil

import networkx as nx
import pytest

import archc
from archc.compiler import compile_spec
from archc.ir import expr as ex
from archc.ir.graph import node as node_of
from archc.ir.verify import IRError, verify
from archc.spec.expr import parse_expr

from ..conftest import NETWORK_SPECS, ROOT, SPECS


@pytest.mark.parametrize("text, values, expected", [
    ("2*w", {"w": 32}, 64),
    ("w // 2", {"w": 33}, 16),
    ("k + n", {"k": 192, "n": 384}, 576),
    ("(k - 1) // 2", {"k": 7}, 3),
    ("4 * (a + b) - c", {"a": 1, "b": 2, "c": 5}, 7),
    ("a - (b - c)", {"a": 10, "b": 4, "c": 1}, 7),
    ("in // 4 * 3", {"in": 64}, 48),
    ("-w + 1_000", {"w": 1}, 999),
])
def test_expressions_evaluate_as_python_does(text, values, expected):
    e = parse_expr(text)
    assert ex.evaluate(e, values) == expected == eval(text.replace("in", "in_"),  # noqa: S307
                                                       {f"{k}_" if k == "in" else k: v
                                                        for k, v in values.items()})
    # Printed back, the expression means the same.
    assert ex.evaluate(parse_expr(ex.to_text(e)), values) == expected


@pytest.mark.parametrize("text", ["2 *", "(a", "a b", "a % b", "", "2 ** 3", "a.b"])
def test_what_is_not_an_expression(text):
    with pytest.raises(ValueError):
        parse_expr(text)


def test_numbers_fold_and_sums_stay_flat():
    assert parse_expr("2 * 3 + 4") == 10
    assert ex.to_text(ex.total([ex.Sym("n"), 256, ex.Sym("m"), 128])) == "n + m + 384"


def test_reduction_a_output_is_in_plus_n_plus_m_symbolically():
    """docs/reference.md: Reduction-A outputs in + n + m channels, whatever Table 1's row."""
    network = archc.compile_spec(str(SPECS / "inception_v4.yaml"))
    channels = network.shapes.channels["ReductionA"]
    output = channels.nodes[network.blocks["ReductionA"].graph.graph["output"]]
    assert ex.evaluate(output, {"n": 384, "m": 256, "k": 0, "l": 0, "in": 384}) == 1024
    assert ex.symbols(output) == {"n", "m"}  # `in` is the same 384 everywhere, so written in


@pytest.mark.parametrize("spec", NETWORK_SPECS, ids=lambda p: p.stem)
def test_the_bundled_networks_pass_the_verifier(spec):
    verify(archc.compile_spec(str(spec)))


def test_the_verifier_finds_a_broken_graph():
    network = archc.compile_spec(str(SPECS / "inception_v4.yaml"))
    body = nx.DiGraph(network.body)
    last = body.graph["output"]
    body.remove_edge(next(iter(body.predecessors(last))), last)
    with pytest.raises(IRError, match="a step of 1 inputs with 0|a node the input does not reach"):
        verify(dataclasses.replace(network, body=body))


def test_the_verifier_finds_a_node_inside_a_sequential_group():
    """Generated code calls an nn.Sequential group once: a node between two of its members
    (here a ReLU slice between the first two convs of Mixed4a's branch1) would run after it."""
    from archc.ops import Slice

    network = archc.compile_spec(str(SPECS / "inception_v4.yaml"))
    block = network.blocks["Mixed4a"]
    g = nx.DiGraph(block.graph)
    first, second = "branch1.0", "branch1.1"
    g.remove_edge(first, second)
    g.add_node("relu", node=dataclasses.replace(node_of(g, first), op=Slice(0, 64, relu=True),
                                                paths=()))
    g.add_edge(first, "relu", order=0)
    g.add_edge("relu", second, order=0)
    blocks = {**network.blocks, "Mixed4a": dataclasses.replace(block, graph=g)}
    with pytest.raises(IRError, match="the module branch1 is not a chain: branch1.0 -> branch1.1"):
        verify(dataclasses.replace(network, blocks=blocks))


def test_the_fingerprint_ignores_layout_names_and_comments_not_numbers(tmp_path):
    from archc.ir.graph import fingerprint

    base = (ROOT / "specs/inception_resnet_v2.yaml").read_text(encoding="utf-8")
    (tmp_path / "common").mkdir()
    shutil.copy(ROOT / "specs/common/reduction_a.yaml", tmp_path / "common")
    copy = tmp_path / "copy.yaml"
    copy.write_text("# a comment that moves every line\n\n"
                    + base.replace("name: inception_resnet_v2", "name: renamed"), encoding="utf-8")
    original = fingerprint(compile_spec(str(ROOT / "specs/inception_resnet_v2.yaml")))
    assert fingerprint(compile_spec(str(copy))) == original
    for override in ["num_classes=10", "input.size=224", "input.mean=0.4",
                     "layers.repeat.args.scale=0.2"]:
        assert fingerprint(compile_spec(str(copy), [override])) != original, override
