"""The IR's invariants, checked after elaboration and after every pass. A failure is a bug in
archc (the phase that built the IR), never a user's mistake: it raises IRError."""

from __future__ import annotations

import networkx as nx

from ..ops import Op
from . import graph as ir


class IRError(AssertionError):
    pass


def verify(network: ir.Network) -> None:
    graphs = {"body": network.body, "head": network.head}
    graphs.update({f"block {name}": block.graph for name, block in network.blocks.items()})
    for where, g in graphs.items():
        _graph(g, where, network)


def _graph(g: nx.DiGraph, where: str, network: ir.Network) -> None:
    def check(condition: bool, message: str) -> None:
        if not condition:
            raise IRError(f"{where}: {message}")

    check(nx.is_directed_acyclic_graph(g), "the graph has a cycle")
    start, end = g.graph.get("input"), g.graph.get("output")
    check(start in g and end in g, "input or output node missing")
    check(ir.node(g, start).op.opcode == "input" and g.in_degree(start) == 0,
          "the input node is not an Input without predecessors")
    check(set(nx.descendants(g, start)) | {start} == set(g), "a node the input does not reach")
    for node in g:
        data = g.nodes[node].get("node")
        check(isinstance(data, ir.Node), f"{node}: {data!r} is not an IR node")
        op = data.op
        check(isinstance(op, Op), f"{node}: {op!r} is not an operation")
        orders = sorted(g.edges[u, node]["order"] for u in g.predecessors(node))
        check(orders == list(range(len(orders))), f"{node}: input orders {orders}")
        inputs = len(orders)
        if op.arity is None:
            check(inputs >= 2, f"{node}: {op.describe()} of {inputs} inputs")
        elif op.opcode != "input":
            check(inputs == op.arity, f"{node}: a step of {op.arity} inputs with {inputs}")
        if op.opcode == "call":
            check(op.block in network.blocks, f"{node}: calls the unknown block {op.block}")
            check(len(data.paths) in (0, 1, op.repeat), f"{node}: paths do not match repeats")
        for problem in op.problems():
            check(False, f"{node}: {problem}")
    # The nodes of one module (a unit, or an nn.Sequential group's members) run as one call in
    # generated code: they must be a chain that nothing enters or leaves halfway.
    for unit, members in ir.modules(g).items():
        for before, after in zip(members, members[1:]):
            check(set(g.successors(before)) == {after} and set(g.predecessors(after)) == {before},
                  f"the module {unit} is not a chain: {before} -> {after}")
