"""BatchNorm folded into the conv before it: conv(x) * g / sqrt(v + eps) + (b - m * g / sqrt(v +
eps)) is one conv with a bias. Precondition: none (every conv unit, with or without a
BatchNorm, becomes a conv with a bias). Weight transform: each weighted module's `trained` part
names the trained conv and its BatchNorm; a linear layer's and a lone BatchNorm's weights are
copied as they are. A block call's parts name its trained instances, which a later pass may
renumber in the deploy module (merge_siblings)."""

from __future__ import annotations

import dataclasses

import networkx as nx

from ..ir import graph as ir
from . import Part


def run(g: nx.DiGraph, block: str | None, network: ir.Network) -> None:
    for node in list(g.nodes):
        data = ir.node(g, node)
        op = data.op
        if isinstance(op, ir.BlockCall):
            ir.update(g, node, trained=tuple(Part(path, op) for path in data.paths))
        if not op.weighted:
            continue
        ir.update(g, node, trained=(Part(data.paths[0], op),))
        if isinstance(op, ir.Conv):
            ir.update(g, node, op=dataclasses.replace(op, norm=None, bias=True, layout="unit"))
