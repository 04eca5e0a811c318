"""Steps that compute nothing in eval left out (drop path: the identity unless training; a
deploy module refuses .train()): each reader reads the step's input instead. Precondition: the
step is a module of its own, not a member of an nn.Sequential group (whose later members'
numbers would change). No weights change."""

from __future__ import annotations

import networkx as nx

from ..ir import graph as ir
from . import bypass


def run(g: nx.DiGraph, block: str | None, network: ir.Network) -> None:
    for node in list(ir.topological(g)):
        data = ir.node(g, node)
        if not data.op.training_only or data.in_sequential:
            continue
        bypass(g, node)
