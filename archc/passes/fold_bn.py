"""BatchNorm folded into the conv before it: conv(x) * g / sqrt(v + eps) + (b - m * g / sqrt(v +
eps)) is one conv with a bias. Precondition: none (every conv unit, with or without a
BatchNorm, becomes a conv with a bias); a BatchNorm that is a module of its own is folded into a
bare conv right before it that nothing else reads, as torchvision writes ResNets (`conv1`,
`bn1`, `downsample.0`, `downsample.1`): the members of an nn.Sequential after a folded one are
renumbered (merge_siblings), and each loads its weights from its trained path. Weight
transform: each weighted module's `trained` part names the trained conv and its BatchNorm; a
linear layer's and a lone BatchNorm's weights are copied as they are. A block call's parts name
its trained instances, which a later pass may renumber in the deploy module (merge_siblings)."""

from __future__ import annotations

import dataclasses

import networkx as nx

from ..ir import graph as ir
from . import Part, bypass


def run(g: nx.DiGraph, block: str | None, network: ir.Network) -> None:
    pairs = [(conv, norm) for conv, norm in g.edges if _foldable(g, conv, norm)]
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
    for conv, norm in pairs:
        data = ir.node(g, conv)
        trained = dataclasses.replace(data.trained[0], norm_path=ir.node(g, norm).paths[0],
                                      op=dataclasses.replace(data.trained[0].op,
                                                             norm=ir.node(g, norm).op))
        ir.update(g, conv, trained=(trained,))
        bypass(g, norm)


def _foldable(g: nx.DiGraph, conv: str, norm: str) -> bool:
    a, b = ir.node(g, conv), ir.node(g, norm)
    return (isinstance(a.op, ir.Conv) and a.op.bare and isinstance(b.op, ir.BatchNorm)
            and list(g.successors(conv)) == [norm] and list(g.predecessors(norm)) == [conv]
            and bool(a.paths) and bool(b.paths) and len(a.paths) == len(b.paths) == 1
            and a.when == b.when)
