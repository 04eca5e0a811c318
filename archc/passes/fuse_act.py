"""A layer and the activation module right after it as one layer with its activation, which the
deploy module runs as one call: a bare conv and a ReLU (oneDNN's conv, bias and ReLU on the CPU;
cuDNN's on a GPU), as torchvision writes ResNets (`conv1`, `bn1`, `relu`) and its nn.Sequentials
(`features.0`, `.1`, `.2`); a linear layer and a GELU or ReLU (oneDNN's linear with its post-op),
as ConvNeXt's block writes them (`block.3` Linear, `block.4` GELU). Precondition: the activation
is a module of its own that reads only the layer, which nothing else reads (the members of an
nn.Sequential after it are renumbered by merge_siblings). No weights change."""

from __future__ import annotations

import dataclasses

import networkx as nx

from ..ir import graph as ir
from . import bypass

# The activations each kind of layer applies itself in one call.
FUSED = {ir.Conv: ("relu",), ir.Linear: ("gelu", "relu")}


def run(g: nx.DiGraph, block: str | None, network: ir.Network) -> None:
    for act in list(ir.topological(g)):
        data = ir.node(g, act)
        if not isinstance(data.op, ir.Activation) or g.in_degree(act) != 1:
            continue
        (source,) = g.predecessors(act)
        layer = ir.node(g, source)
        if data.op.function not in FUSED.get(type(layer.op), ()) or layer.op.act != "none" or \
                not layer.paths or list(g.successors(source)) != [act] or layer.when != data.when:
            continue
        ir.update(g, source, op=dataclasses.replace(layer.op, act=data.op.function))
        bypass(g, act)
