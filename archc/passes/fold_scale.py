"""A residual's constant scale folded into its branch's last conv: shortcut + s * conv(x) is
shortcut + conv'(x), with conv' = s x conv's weight and bias. Precondition: the add's residual
input is a conv without an activation (after fold_bn: a conv with a bias) that nothing else
reads. Weight transform: that conv's parts are scaled by s (a number, or the block's
parameter)."""

from __future__ import annotations

import dataclasses

import networkx as nx

from ..ir import expr as ex
from ..ir import graph as ir


def run(g: nx.DiGraph, block: str | None, network: ir.Network) -> None:
    for node in list(g.nodes):
        add = ir.node(g, node).op
        if not isinstance(add, ir.Add) or add.scale == 1 or ir.node(g, node).when is not None:
            continue  # (where a condition leaves the sum out, the branch is not scaled)
        branch = ir.ordered_inputs(g, node)[1]
        conv = ir.node(g, branch).op
        if not isinstance(conv, ir.Conv) or not conv.bare or g.out_degree(branch) != 1 \
                or not ir.node(g, branch).trained:
            continue
        ir.update(g, branch, trained=tuple(
            dataclasses.replace(part, scale=ex.binop("*", part.scale, add.scale))
            for part in ir.node(g, branch).trained))
        ir.update(g, node, op=dataclasses.replace(add, scale=1))
