"""The IR's invariants, checked after elaboration and after every pass. A failure is a bug in
archc (the phase that built the IR), never a user's mistake: it raises IRError."""

from __future__ import annotations

import networkx as nx

from ..ops import Op
from . import expr as ex
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
    check(isinstance(ir.node(g, start).op, ir.Input) and g.in_degree(start) == 0,
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
        if isinstance(op, ir.Concat):
            check(inputs >= 2, f"{node}: a concat of {inputs} inputs")
        elif isinstance(op, (ir.Add, ir.ConvAdd)):
            check(inputs == 2, f"{node}: an add of {inputs} inputs")
        elif not isinstance(op, ir.Input):
            check(inputs == 1, f"{node}: a layer with {inputs} inputs")
        if isinstance(op, ir.BlockCall):
            check(op.block in network.blocks, f"{node}: calls the unknown block {op.block}")
            check(len(data.paths) in (0, 1, op.repeat), f"{node}: paths do not match repeats")
        if isinstance(op, (ir.Conv, ir.Pool)):
            numbers = [*op.kernel, *op.stride, *op.padding[0], *op.padding[1]]
            check(all(_is_expr(e) for e in numbers), f"{node}: a window that is not numbers")
            check(len(op.padding) == 2 and all(len(side) == 2 for side in op.padding),
                  f"{node}: padding is not per side")
        if isinstance(op, ir.Conv):
            check(op.filters is None or _is_expr(op.filters), f"{node}: filters {op.filters!r}")
            check(op.layout in ("unit", "sequential"), f"{node}: layout {op.layout!r}")
    # The nodes of one module (a unit, or an nn.Sequential group's members) run as one call in
    # generated code: they must be a chain that nothing enters or leaves halfway.
    for unit, members in ir.modules(g).items():
        for before, after in zip(members, members[1:]):
            check(set(g.successors(before)) == {after} and set(g.predecessors(after)) == {before},
                  f"the module {unit} is not a chain: {before} -> {after}")


def _is_expr(e) -> bool:
    return ex.is_number(e) or isinstance(e, (ex.Sym, ex.BinOp))
