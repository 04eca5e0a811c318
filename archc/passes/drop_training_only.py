"""Steps that compute nothing in eval left out (drop path: the identity unless training; a
deploy module refuses .train()): each reader reads the step's input instead. Precondition: the
step is a module of its own, not a member of an nn.Sequential group (whose later members'
numbers would change). No weights change."""

from __future__ import annotations

import networkx as nx

from ..ir import graph as ir


def run(g: nx.DiGraph, block: str | None, network: ir.Network) -> None:
    for node in list(ir.topological(g)):
        data = ir.node(g, node)
        if not data.op.training_only or data.in_sequential:
            continue
        (source,) = g.predecessors(node)
        for reader in list(g.successors(node)):
            g.add_edge(source, reader, order=g.edges[node, reader]["order"])
        if g.graph["output"] == node:
            g.graph["output"] = source
        g.remove_node(node)
