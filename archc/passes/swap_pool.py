"""An average pool that leaves the padding out, followed by a 1x1 conv, swapped: the conv first,
then the pool, then the conv's activation. A 1x1 conv with a bias is affine per position, and
such a pool averages positions with weights that sum to 1, so the two commute exactly; the conv
then reads the block's input like its siblings and can join them (merge_siblings). Precondition:
the pool is an average with stride 1 whose padding is not counted (or that has none), the conv
is 1x1 with stride 1, a bias (fold_bn ran), no groups, and ReLU or no activation (ReLU only
where the conv is the last of its nn.Sequential group), and nothing else reads the pool.
Weights are unchanged."""

from __future__ import annotations

import dataclasses

import networkx as nx

from ..ir import graph as ir


def run(g: nx.DiGraph, block: str | None, network: ir.Network) -> None:
    for pool_node in list(ir.topological(g)):
        pool = ir.node(g, pool_node).op
        successors = list(g.successors(pool_node))
        if not isinstance(pool, ir.Pool) or len(successors) != 1 or not _commutes(pool) or \
                ir.node(g, pool_node).when is not None or \
                ir.node(g, successors[0]).when is not None:
            continue
        conv_node = successors[0]
        conv = ir.node(g, conv_node).op
        if not (isinstance(conv, ir.Conv) and conv.kernel == (1, 1) and conv.stride == (1, 1)
                and conv.padding == ((0, 0), (0, 0)) and conv.groups == 1 and conv.bias
                and conv.norm is None and conv.act in ("relu", "none")):
            continue
        module = ir.node(g, conv_node).module
        if conv.act == "relu" and any(ir.node(g, v).module == module
                                      for v in g.successors(conv_node)):
            continue  # the ReLU would fall inside an nn.Sequential group, which runs as one call
        # The conv takes the pool's place (and its position in a sequential group), and the
        # pool the conv's; the activation goes to a slice of the pool's output that is all of it.
        pool_paths, conv_paths = ir.node(g, pool_node).paths, ir.node(g, conv_node).paths
        ir.update(g, pool_node, paths=conv_paths)
        ir.update(g, conv_node, paths=pool_paths)
        (source,) = g.predecessors(pool_node)
        after = [(v, g.edges[conv_node, v]["order"]) for v in g.successors(conv_node)]
        g.remove_edge(source, pool_node)
        g.remove_edge(pool_node, conv_node)
        for v, _ in after:
            g.remove_edge(conv_node, v)
        g.add_edge(source, conv_node, order=0)
        g.add_edge(conv_node, pool_node, order=0)
        last = pool_node
        if conv.act == "relu":
            last = _relu_after(g, pool_node, conv.filters)
        for v, order in after:
            g.add_edge(last, v, order=order)
        ir.update(g, conv_node, op=dataclasses.replace(conv, act="none"))


def _commutes(pool: ir.Pool) -> bool:
    no_padding = pool.padding == ((0, 0), (0, 0))
    return pool.kind == "avg" and pool.stride == (1, 1) and (not pool.count_pad or no_padding)


def _relu_after(g: nx.DiGraph, node: str, channels) -> str:
    relu = f"{node}_relu"
    data = ir.node(g, node)
    g.add_node(relu, node=ir.Node(ir.Slice(0, channels, relu=True), data.pos, (), data.branch,
                                  data.key))
    g.add_edge(node, relu, order=0)
    return relu
