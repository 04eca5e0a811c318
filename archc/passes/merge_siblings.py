"""Sibling convs, which read the same tensor through the same window, merged into one conv whose
output is sliced back into theirs: one larger convolution instead of several small ones (TVM's
CombineParallelConv2D). Where the siblings' activations differ (ReLU and none), the merged conv
has none and each slice applies its own. Precondition: convs with a bias (fold_bn ran), without
groups, with the same kernel, stride and padding, each the first module of its unit (a
sequential group is called as a whole). Weight transform: the merged conv's `trained` parts are
the siblings' parts, in order."""

from __future__ import annotations

import dataclasses

import networkx as nx

from ..ir import expr as ex
from ..ir import graph as ir
from ..ir.expr import Sym
from . import renumber

SLICED = ("relu", "none")  # activations a slice can apply


def run(g: nx.DiGraph, block: str | None, network: ir.Network) -> None:
    for node in list(ir.topological(g)):
        groups: dict[tuple, list[str]] = {}
        for sibling in sorted(g.successors(node), key=list(g.nodes).index):
            op = ir.node(g, sibling).op
            if _mergeable(g, sibling):
                act = "relu/none" if op.act in SLICED else op.act
                groups.setdefault((op.kernel, op.stride, op.padding, act), []).append(sibling)
        for siblings in groups.values():
            if len(siblings) > 1:
                _merge(g, node, siblings)
    _renumber(g)


def _mergeable(g: nx.DiGraph, node: str) -> bool:
    op = ir.node(g, node).op
    paths = ir.node(g, node).paths
    return (isinstance(op, ir.Conv) and op.groups == 1 and op.bias and op.norm is None
            and op.filters is not None and not isinstance(op.act, Sym)
            and ir.node(g, node).trained and len(paths) == 1 and ir.node(g, node).when is None
            and (len(paths[0]) == 1 or paths[0][1:] == (0,)))


def _merge(g: nx.DiGraph, source: str, siblings: list[str]) -> None:
    ops = [ir.node(g, s).op for s in siblings]
    acts = {op.act for op in ops}
    act = acts.pop() if len(acts) == 1 else "none"
    name = _unit_name(g, f"conv{'x'.join(ex.to_text(k) for k in ops[0].kernel)}")
    first = ir.node(g, siblings[0])
    merged = dataclasses.replace(ops[0], filters=ex.total([op.filters for op in ops]), act=act)
    g.add_node(name, node=ir.Node(merged, first.pos, ((name,),), (name,), first.key,
                                  tuple(part for s in siblings for part in ir.node(g, s).trained)))
    g.add_edge(source, name, order=0)
    start: ex.Expr = 0
    for sibling, op in zip(siblings, ops):
        stop = ex.total([start, op.filters])
        ir.update(g, sibling, op=ir.Slice(start, op.filters, relu=op.act != act), paths=(),
                  trained=())
        g.remove_edge(source, sibling)
        g.add_edge(name, sibling, order=0)
        start = stop


def _unit_name(g: nx.DiGraph, base: str) -> str:
    taken = {path[0] for n in g for path in ir.node(g, n).paths} | set(g)
    name, n = base, 1
    while name in taken:
        n += 1
        name = f"{base}_{n}"
    return name


def _renumber(g: nx.DiGraph) -> None:
    """Sequential groups that lost members count their modules from 0 again, each nn.Sequential
    apart: a list inside one keeps one number in it and numbers its own members; members with
    names of their own (`features.conv0`) keep them."""
    renumber(g, [n for n in ir.topological(g) if ir.node(g, n).in_sequential], 1)
