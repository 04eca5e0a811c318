"""A linear layer and the GELU or ReLU module right after it as one linear layer with its
activation, which the deploy module runs as one call (oneDNN's linear with a post-op on the
CPU), as ConvNeXt's block writes them (`block.3` Linear, `block.4` GELU). Precondition: the
activation is a module of its own that reads only the linear layer, which nothing else reads
(the members of an nn.Sequential after it are renumbered by merge_siblings). No weights change."""

from __future__ import annotations

import dataclasses

import networkx as nx

from ..ir import graph as ir
from . import bypass

FUSED = ("gelu", "relu")  # the activations oneDNN's linear layer applies itself


def run(g: nx.DiGraph, block: str | None, network: ir.Network) -> None:
    for act in list(ir.topological(g)):
        data = ir.node(g, act)
        if not isinstance(data.op, ir.Activation) or data.op.function not in FUSED or \
                g.in_degree(act) != 1:
            continue
        (linear,) = g.predecessors(act)
        layer = ir.node(g, linear)
        if not isinstance(layer.op, ir.Linear) or layer.op.act != "none" or not layer.paths or \
                list(g.successors(linear)) != [act]:
            continue
        ir.update(g, linear, op=dataclasses.replace(layer.op, act=data.op.function))
        bypass(g, act)
