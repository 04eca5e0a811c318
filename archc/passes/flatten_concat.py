"""A concat of concats as one concat: cat(a, cat(b, c), d) is cat(a, b, c, d), and the inner
result is never copied (Inception-C's split branches). Precondition: nothing else reads the
inner concat. No weights change."""

from __future__ import annotations

import networkx as nx

from ..ir import graph as ir


def run(g: nx.DiGraph, block: str | None, network: ir.Network) -> None:
    for node in list(ir.topological(g)):
        if not isinstance(ir.node(g, node).op, ir.Concat):
            continue
        inputs = ir.ordered_inputs(g, node)
        flat: list[str] = []
        for u in inputs:
            inner = isinstance(ir.node(g, u).op, ir.Concat) and g.out_degree(u) == 1 \
                and u != g.graph["output"]
            flat += ir.ordered_inputs(g, u) if inner else [u]
        if flat == inputs:
            continue
        for u in inputs:
            g.remove_edge(u, node)
            if u not in flat:
                g.remove_node(u)
        for order, u in enumerate(flat):
            g.add_edge(u, node, order=order)
