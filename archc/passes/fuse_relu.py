"""A bare conv and the ReLU module right after it as one conv unit with its ReLU, which the
deploy module runs as one fused call (oneDNN's conv, bias and ReLU on the CPU; cuDNN's on a
GPU), as torchvision writes ResNets (`conv1`, `bn1`, `relu`) and its nn.Sequentials
(`features.0`, `.1`, `.2`). Precondition: the ReLU is a module of its own that reads only the
conv, which nothing else reads (the members of an nn.Sequential after it are renumbered by
merge_siblings). No weights change."""

from __future__ import annotations

import dataclasses

import networkx as nx

from ..ir import graph as ir
from . import bypass


def run(g: nx.DiGraph, block: str | None, network: ir.Network) -> None:
    for relu in list(ir.topological(g)):
        data = ir.node(g, relu)
        if not isinstance(data.op, ir.Activation) or data.op.function != "relu" or \
                g.in_degree(relu) != 1:
            continue
        (conv,) = g.predecessors(relu)
        unit = ir.node(g, conv)
        if not isinstance(unit.op, ir.Conv) or unit.op.act != "none" or not unit.paths or \
                list(g.successors(conv)) != [relu]:
            continue
        ir.update(g, conv, op=dataclasses.replace(unit.op, act="relu"))
        bypass(g, relu)
