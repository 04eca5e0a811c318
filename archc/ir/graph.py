"""The IR: the one contract between the front end and every backend.

A block definition, the network body and the head are each a frozen networkx DiGraph whose
nodes each hold a typed `Node` (`node(graph, name)`):
    op      what it computes: one of the op kinds of archc/ops/
    pos     the spec position it came from (None for the graph's input)
    paths   the attribute paths of its modules in generated code, one per repeated instance:
            (("conv2d_1a",),) for a named layer, (("branch1", 0),) for the first layer of an
            nn.Sequential group, (("repeat", 0), ..., ("repeat", 9)) for a named repeat,
            (("features", 2, 0),) for the first layer of a list inside a group;
            () for nodes without a module (input, concat, add)
    branch  the concat branch names that lead to it, outermost first (for diagrams)
    key     its key path in the spec, for messages (`blocks.Block17.layers[1].conv2d`)
    trained after the deploy passes: the parts of the trained model its weights come from
    when    None, or the condition (an Expr of its block's parameters and `in`) under which the
            step runs in an instance: a conditional shortcut's, a conditional residual's sum and
            drop paths. Where it does not hold the step is absent: no module, and its value is
            its last input's (a shortcut: the block's input; a sum: the residual branch)
Edges carry `order`: the position of the source among the target's inputs (concat order; for an
add, 0 is the shortcut and 1 the residual branch). graph.graph holds `input` and `output` node ids.
"""

from __future__ import annotations

import dataclasses
import hashlib
import weakref
from dataclasses import dataclass
from types import MappingProxyType

import networkx as nx

from ..errors import Pos
from ..names import class_name  # noqa: F401 (the network class is part of the IR's API)
from ..ops import (  # noqa: F401 (the operations are the IR's vocabulary)
    ACTIVATIONS,
    Activation,
    Add,
    BatchNorm,
    BlockCall,
    Concat,
    Conv,
    ConvAdd,
    Dropout,
    GlobalAvgPool,
    Input,
    Linear,
    Op,
    Pool,
    Slice,
    bind,
)
from .expr import Expr, is_number

# How images are evaluated where the spec does not say (`input.resize`): the centre 87.5% of
# the image, as the Inception weights were (timm's crop_pct for Inception-v3, Inception-v4 and
# Inception-ResNet-v2).
CROP_PCT = 0.875
Shape = tuple  # (C, H, W) or (C,), a dimension None where it cannot be known


# The names of the network's graphs; a block definition's graph is named as the block, an
# identifier, which these are not.
BODY, HEAD = "<body>", "<head>"


def name_of(graph: nx.DiGraph) -> str:
    """A graph's name: BODY, HEAD or its block's."""
    return graph.graph["name"]


@dataclass(frozen=True)
class GraphShapes:
    """One graph's numbers in one instance."""

    shapes: MappingProxyType  # node id -> output shape
    calls: MappingProxyType  # node id of a block call -> the instance keys it ran, in order
    costs: MappingProxyType  # node id -> (parameters, MACs) of its own module
    absent: frozenset  # node ids whose condition (`when`) does not hold here, or repeated 0 times


@dataclass(frozen=True)
class Instance(GraphShapes):
    """A block definition applied to an input shape with its arguments bound to values: its
    graph's numbers, and its output."""

    block: str
    args: tuple[tuple[str, object], ...]
    output: Shape | None


@dataclass(frozen=True)
class Channels:
    """The symbolic channel counts of one graph."""

    input: Expr  # the graph's input: a number, or `in` where instances differ
    nodes: MappingProxyType  # node id -> output channels
    calls: MappingProxyType  # node id of a block call -> each repeat's input channels


@dataclass(frozen=True)
class Shapes:
    graphs: MappingProxyType  # BODY and HEAD -> their GraphShapes
    instances: MappingProxyType  # (block, args, input shape, argument types) -> Instance
    channels: MappingProxyType  # graph name -> Channels

    def of(self, graph: str) -> GraphShapes:
        """The numbers of the body or the head."""
        return self.graphs[graph]

    @property
    def body(self) -> MappingProxyType:
        """Node id -> output shape, in the body."""
        return self.graphs[BODY].shapes

    @property
    def head(self) -> MappingProxyType:
        return self.graphs[HEAD].shapes

    def instances_of(self, block: str) -> dict[tuple, Instance]:
        """The instances of one block definition, by key, in the order they were first met."""
        return {key: inst for key, inst in self.instances.items() if inst.block == block}

    def ran(self, numbers: GraphShapes, node: str) -> list[Instance]:
        """The instances a block call of a graph ran, one per repeat."""
        return [self.instances[key] for key in numbers.calls[node]]


ModulePath = tuple  # an attribute path in generated code: ("branch1", 0) for `branch1.0`


@dataclass(frozen=True)
class Node:
    """A node of an IR graph: its op, the spec position and key path it came from, the
    attribute paths of its module in generated code (one per repeated instance; none for a step
    without a module), the concat branches that lead to it, and, after the deploy passes, the
    parts of the trained model its weights are made from (passes.Part)."""

    op: Op
    pos: Pos | None = None
    paths: tuple[ModulePath, ...] = ()
    branch: tuple[str, ...] = ()
    key: str = ""
    trained: tuple = ()
    when: Expr | None = None

    @property
    def module(self) -> str | None:
        """The attribute of the module that runs it (a unit, or the nn.Sequential group of
        which it is a member); None for a node without one."""
        return self.paths[0][0] if self.paths else None

    @property
    def in_sequential(self) -> bool:
        """Whether its module is a member of an nn.Sequential group (its path is the group's
        attribute and its index there, or the indices of nn.Sequentials inside it), rather
        than a module of its own."""
        return bool(self.paths) and len(self.paths[0]) > 1


def node(graph: nx.DiGraph, name: str) -> Node:
    """The node `name` of an IR graph."""
    return graph.nodes[name]["node"]


def update(graph: nx.DiGraph, name: str, **changes) -> None:
    """Replaces fields of a node of a graph a pass rewrites."""
    graph.nodes[name]["node"] = dataclasses.replace(node(graph, name), **changes)


@dataclass(frozen=True)
class BlockDef:
    name: str
    params: tuple[str, ...]
    graph: nx.DiGraph
    pos: Pos | None
    residual: bool
    title: str  # for figures: the spec's title, or the name
    defaults: tuple[tuple[str, object], ...] = ()  # (parameter, value) an instance may leave out
    sequential: bool = False  # its class is an nn.Sequential of its modules, paths (0,), (1,)...


@dataclass(frozen=True)
class Network:
    name: str
    source: str  # the spec's path as given
    sources: tuple[tuple[str, str], ...]  # (path, sha256) of the spec and its includes
    input_shape: tuple[int, int, int]
    mean: tuple[float, ...]  # the input's normalisation, (x - mean) / std, one per channel
    std: tuple[float, ...]
    num_classes: int
    blocks: MappingProxyType  # name -> BlockDef, the blocks the network uses, in first-use order
    body: nx.DiGraph  # forward_features
    head: nx.DiGraph  # forward_head
    shapes: Shapes | None = None  # filled in by shape inference
    drop_path_rate: float = 0.0  # the last drop path's rate; the ones before it rise to it
    resize: int | None = None  # images' shorter side before the centre crop (None: CROP_PCT)
    interpolation: str = "bicubic"  # how images are resized

    @property
    def crop_pct(self) -> float:
        """timm's crop_pct: the share of the resized image that the crop keeps."""
        if self.resize is None:
            return CROP_PCT
        return round(min(self.input_shape[1:]) / self.resize, 4)


def fingerprint(network: Network) -> str:
    """A sha256 of what the network computes and how its weights are named: the same for two
    specs that differ only in their name, files, layout and comments. Node ids are the spec's
    layer names; positions, key paths and titles, which only locate and label, are left out."""
    def graph_text(graph: nx.DiGraph) -> list[str]:
        return [*(f"{n} {node(graph, n).op!r} {node(graph, n).paths!r}"
                   + (f" when {node(graph, n).when!r}" if node(graph, n).when is not None else "")
                  for n in topological(graph)),
                *(f"{u} -> {v} {graph.edges[u, v]['order']}" for u, v in sorted(graph.edges)),
                f"{graph.graph['input']} => {graph.graph['output']}"]

    lines = [f"{network.input_shape} {network.mean} {network.std} {network.num_classes}"
             + (f" drop_path_rate {network.drop_path_rate}" if network.drop_path_rate else "")]
    for name, block in network.blocks.items():
        lines += [f"block {name} {block.params} {block.defaults} {block.residual}"
                  + (" sequential" if block.sequential else ""),
                  *graph_text(block.graph)]
    lines += ["body", *graph_text(network.body), "head", *graph_text(network.head)]
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def repeat_paths(node: Node, count: int) -> tuple[ModulePath, ...]:
    """The module paths of a block call's repeats where an instance ran it `count` times: its
    paths, or, where its count is an expression (one path, its first repeat's), `count`
    consecutive numbers from that path's last part."""
    if is_number(node.op.repeat) or not node.paths:
        return node.paths
    *group, first = node.paths[0]
    return tuple((*group, first + j) for j in range(count))


def dotted(path: tuple) -> str:
    """An attribute path as generated code and state_dict names write it: `branch1.0`."""
    return ".".join(str(part) for part in path)


def ordered_inputs(graph: nx.DiGraph, node: str) -> list[str]:
    """A node's inputs in concat order."""
    return sorted(graph.predecessors(node), key=lambda u: graph.edges[u, node]["order"])


_ORDERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def topological(graph: nx.DiGraph) -> list[str]:
    """Nodes in data-flow order, ties broken by insertion order (deterministic). Computed once
    per frozen graph (IR graphs are frozen; a pass's working copy is not)."""
    if graph in _ORDERS:
        return _ORDERS[graph]
    index = {n: i for i, n in enumerate(graph.nodes)}
    order = list(nx.lexicographical_topological_sort(graph, key=index.__getitem__))
    if nx.is_frozen(graph):
        _ORDERS[graph] = order
    return order


def modules(graph: nx.DiGraph) -> dict[str, list[str]]:
    """Each module's attribute and the nodes it runs, in data-flow order."""
    out: dict[str, list[str]] = {}
    for name in topological(graph):
        if node(graph, name).paths:
            out.setdefault(node(graph, name).module, []).append(name)
    return out

