"""The IR: the one contract between the front end and every backend.

A block definition, the network body and the head are each a frozen networkx DiGraph. Every node
has the attributes
    op      what it computes: one of the dataclasses below
    pos     the spec position it came from (None for the graph's input)
    paths   the attribute paths of its modules in generated code, one per repeated instance:
            (("conv2d_1a",),) for a named layer, (("branch1", 0),) for the first layer of an
            nn.Sequential group, (("repeat", 0), ..., ("repeat", 9)) for a named repeat;
            () for nodes without a module (input, concat, add)
    branch  the concat branch names that lead to it, outermost first (for diagrams)
    key     its key path in the spec, for messages (`blocks.Block17.layers[1].conv2d`)
Edges carry `order`: the position of the source among the target's inputs (concat order; for an
add, 0 is the shortcut and 1 the residual branch). graph.graph holds `input` and `output` node ids.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING

import networkx as nx

from ..errors import Pos
from ..spec.schema import class_name  # noqa: F401 (the network class is part of the IR's API)

if TYPE_CHECKING:
    from .shapes import Shapes

ParamValue = int | float | str  # a number, `relu`/`none`, or a parameter's name


@dataclass(frozen=True)
class Conv:
    kernel: tuple[int, int]
    filters: ParamValue
    stride: int = 1
    padding: str = "same"  # or "valid"
    linear: bool = False  # conv with bias, no BN, no activation


@dataclass(frozen=True)
class Pool:
    kind: str  # "max" or "avg"
    kernel: tuple[int, int]
    stride: int = 1
    padding: str = "same"


@dataclass(frozen=True)
class GlobalAvgPool:
    pass


@dataclass(frozen=True)
class Dropout:
    p: float


@dataclass(frozen=True)
class Linear:
    features: ParamValue


@dataclass(frozen=True)
class BlockCall:
    block: str
    args: tuple[tuple[str, ParamValue], ...]  # in the definition's parameter order
    repeat: int = 1


@dataclass(frozen=True)
class Input:
    pass


@dataclass(frozen=True)
class Concat:
    pass


@dataclass(frozen=True)
class Add:
    """The residual sum: activation(shortcut + scale * residual)."""

    scale: ParamValue
    activation: ParamValue  # "relu", "none" or a parameter's name


Op = Conv | Pool | GlobalAvgPool | Dropout | Linear | BlockCall | Input | Concat | Add
LAYER_OPS = (Conv, Pool, GlobalAvgPool, Dropout, Linear, BlockCall)


@dataclass(frozen=True)
class BlockDef:
    name: str
    params: tuple[str, ...]
    graph: nx.DiGraph
    pos: Pos | None
    residual: bool
    title: str  # for figures: the spec's title, or the name


@dataclass(frozen=True)
class Settings:
    bn_eps: float
    bn_momentum: float
    avgpool_count_pad: bool


@dataclass(frozen=True)
class Network:
    name: str
    source: str  # the spec's path as given
    sources: tuple[tuple[str, str], ...]  # (path, sha256) of the spec and its includes
    input_shape: tuple[int, int, int]
    num_classes: int
    settings: Settings
    blocks: MappingProxyType  # name -> BlockDef, the blocks the network uses, in first-use order
    body: nx.DiGraph  # forward_features
    head: nx.DiGraph  # forward_head
    shapes: Shapes | None = None  # filled in by shape inference


def ordered_inputs(graph: nx.DiGraph, node: str) -> list[str]:
    """A node's inputs in concat order."""
    return sorted(graph.predecessors(node), key=lambda u: graph.edges[u, node]["order"])


_ORDERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def topological(graph: nx.DiGraph) -> list[str]:
    """Nodes in data-flow order, ties broken by insertion order (deterministic). Computed once
    per graph: IR graphs are frozen."""
    if graph not in _ORDERS:
        index = {n: i for i, n in enumerate(graph.nodes)}
        _ORDERS[graph] = list(nx.lexicographical_topological_sort(graph, key=index.__getitem__))
    return _ORDERS[graph]


def describe(op: Op) -> str:
    """A layer as the compact spec syntax writes it: `conv 3x3 384 /2 V`, `4 x InceptionA`."""
    def window(kernel, stride, padding):
        text = f"{kernel[0]}x{kernel[1]}"
        text += f" /{stride}" if stride != 1 else ""
        return text + (" V" if padding == "valid" else "")

    if isinstance(op, Conv):
        kernel = window(op.kernel, 1, "same")
        rest = window(op.kernel, op.stride, op.padding)[len(kernel):]
        return f"conv {kernel} {op.filters}{rest}" + (" linear" if op.linear else "")
    if isinstance(op, Pool):
        return f"{op.kind}pool {window(op.kernel, op.stride, op.padding)}"
    if isinstance(op, GlobalAvgPool):
        return "avgpool global"
    if isinstance(op, Dropout):
        return f"dropout {op.p:g}"
    if isinstance(op, Linear):
        return f"linear {op.features}"
    if isinstance(op, BlockCall):
        args = ", ".join(f"{k}={v}" for k, v in op.args)
        call = f"{op.block}({args})" if args else op.block
        return f"{op.repeat} x {call}" if op.repeat > 1 else call
    return type(op).__name__.lower()
