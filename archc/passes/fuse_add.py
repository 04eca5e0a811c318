"""A residual tail, act(shortcut + conv(x)), as one conv that adds and activates (ConvAdd), which
deploy modules run as one fused call where the device has one. Precondition: the add's scale is
1 (fold_scale ran), its residual input is a conv with a bias and no activation that nothing else
reads, a module of its own (not in an nn.Sequential group) that does not read the shortcut
itself, and its activation is ReLU or none (a block parameter only where every instance gives
one of these). Weights are unchanged: the conv's `trained` parts move with it."""

from __future__ import annotations

import networkx as nx

from ..ir import graph as ir
from ..ir.expr import Sym

FUSED = ("relu", "none")  # the activations a fused call applies after the add


def run(g: nx.DiGraph, block: str | None, network: ir.Network) -> None:
    for node in list(g.nodes):
        add = ir.node(g, node).op
        if not isinstance(add, ir.Add) or add.scale != 1 or not _fusable(add.act, block, network):
            continue
        shortcut, branch = ir.ordered_inputs(g, node)
        if ir.node(g, node).when is not None or ir.node(g, branch).when is not None:
            continue  # a sum or a conv that a condition leaves out in some instances
        conv = ir.node(g, branch).op
        if not isinstance(conv, ir.Conv) or not conv.bare or g.out_degree(branch) != 1 \
                or any(len(path) != 1 for path in ir.node(g, branch).paths):
            continue  # (a path of two parts: the conv is in an nn.Sequential group)
        (source,) = g.predecessors(branch)
        if source == shortcut:  # conv(x) + x: a graph has one edge from x to the add
            continue
        conv_node = ir.node(g, branch)
        ir.update(g, node, op=ir.ConvAdd(conv, add.act), paths=conv_node.paths,
                  trained=conv_node.trained, pos=conv_node.pos)
        g.remove_node(branch)
        g.remove_edge(shortcut, node)
        g.add_edge(source, node, order=0)
        g.add_edge(shortcut, node, order=1)


def _fusable(act, block: str | None, network: ir.Network) -> bool:
    if not isinstance(act, Sym):
        return act in FUSED
    values = {value for instance in network.shapes.instances_of(block).values()
              for name, value in instance.args if name == act.name}
    return bool(values) and values <= set(FUSED)
