"""IR -> IR rewrites for fast inference (`archc build --deploy`), one per file.

Each pass takes a checked network and returns a network with the same function, with its
precondition checked node by node; ir/verify.py runs after each, and shape inference after all.
Where weights change, a pass says how in the node's `trained` attribute: the parts of the
trained model its weights come from (`Part`), which the deploy module's generated
`load_trained` computes from a trained state_dict. Passes never import torch.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from types import MappingProxyType

import networkx as nx

from ..ir import graph as ir
from ..ir.check import check
from ..ir.expr import Expr
from ..ir.verify import verify


@dataclass(frozen=True)
class Part:
    """A run of a deploy module's output channels, made from one module of the trained model:
    its weights (a conv's with its BatchNorm folded in), times `scale`."""

    path: tuple  # the trained module's attribute path within its graph: ("branch1", 0)
    op: ir.Op  # the trained module's operation: a Conv, Linear or BatchNorm
    scale: Expr = 1
    norm_path: tuple | None = None  # a bare conv's BatchNorm, a module of its own beside it


# A pass's change to one graph: (an unfrozen copy to rewrite in place, the block it defines or
# None for the body and the head, the checked network the passes started from, for its shapes)
GraphPass = Callable[[nx.DiGraph, "str | None", ir.Network], None]


def rewrite(network: ir.Network, change: GraphPass, checked: ir.Network,
            in_sequence: bool = False) -> ir.Network:
    """The network with `change` applied to a copy of every graph (body, head, each block),
    verified; its shapes are inferred again by the caller. A block that is an nn.Sequential
    is changed only by a pass that keeps its layers one chain of modules (`in_sequence`: it
    folds or drops some), and its modules are numbered from 0 again after it."""
    def copy(g: nx.DiGraph, block: str | None) -> nx.DiGraph:
        g = nx.DiGraph(g)  # a thawed copy; node attribute dicts are new, their values shared
        if block is None or not network.blocks[block].sequential:
            change(g, block, checked)
        elif in_sequence:
            change(g, block, checked)
            renumber(g, [n for n in ir.topological(g) if ir.node(g, n).paths], 0)
        return nx.freeze(g)

    blocks = {name: dataclasses.replace(block, graph=copy(block.graph, name))
              for name, block in network.blocks.items()}
    out = dataclasses.replace(network, blocks=MappingProxyType(blocks),
                              body=copy(network.body, None), head=copy(network.head, None),
                              shapes=None)
    verify(out)
    return out


def bypass(g: nx.DiGraph, node: str) -> None:
    """Removes a node of one input from a graph a pass rewrites: its readers read that input
    instead, in the same order, and the graph's output moves to it where the node was."""
    (source,) = g.predecessors(node)
    for reader in list(g.successors(node)):
        g.add_edge(source, reader, order=g.edges[node, reader]["order"])
    if g.graph["output"] == node:
        g.graph["output"] = source
    g.remove_node(node)


def renumber(g: nx.DiGraph, nodes: list[str], depth: int) -> None:
    """Numbers the members at `depth` of the paths of `nodes` from 0, per nn.Sequential (the
    paths' first `depth` parts), then the groups nested in them; members with names of their
    own keep them."""
    groups: dict[tuple, list[str]] = {}
    for node in nodes:
        groups.setdefault(ir.node(g, node).paths[0][:depth], []).append(node)
    for members in groups.values():
        slots = [path[depth] for node in members for path in ir.node(g, node).paths]
        if not any(isinstance(slot, str) for slot in slots):
            numbers = {slot: i for i, slot in enumerate(dict.fromkeys(slots))}
            for node in members:
                ir.update(g, node, paths=tuple((*path[:depth], numbers[path[depth]],
                                                *path[depth + 1:])
                                               for path in ir.node(g, node).paths))
        renumber(g, [n for n in members if len(ir.node(g, n).paths[0]) > depth + 1], depth + 1)


def deploy(network: ir.Network) -> ir.Network:
    """The inference network: every pass, in order, then shapes inferred and checked again."""
    from . import (
        drop_training_only,
        flatten_concat,
        fold_bn,
        fold_scale,
        fuse_act,
        fuse_add,
        merge_siblings,
        swap_pool,
    )

    out = network
    for step in (drop_training_only, fold_bn, fuse_act, fold_scale, fuse_add, swap_pool,
                 merge_siblings, flatten_concat):
        out = rewrite(out, step.run, network, step in (drop_training_only, fold_bn, fuse_act))
    return check(out)
