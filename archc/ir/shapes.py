"""Shape inference over the IR: (C, H, W) for every node, every concat and residual add checked.

A shape is (C, H, W), or (C,) after a global pool. C is None after a bad filter count, H and W
after a spatial error, so that one error does not cascade while later layers are still checked;
a whole shape is None where nothing can be known.
Each block instance is inferred once per (block, arguments, input shape): a block repeated ten
times reports its errors once. After an error, checking goes on with the shape the layer or block
should have produced, so later errors are found too.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

import networkx as nx

from ..errors import Diagnostics
from ..spec.schema import MAX_INPUT
from . import graph as ir
from .elaborate import ACTIVATIONS

Shape = tuple


def show(shape: Shape | None) -> str:
    if shape is None:
        return "unknown"
    return " x ".join("?" if d is None else str(d) for d in shape)


@dataclass(frozen=True)
class Instance:
    """A block definition applied to an input shape with its arguments bound to values."""

    block: str
    args: tuple[tuple[str, ir.ParamValue], ...]
    output: Shape | None
    shapes: MappingProxyType  # node id -> output shape, in the block's graph
    calls: MappingProxyType  # node id of a block call -> the instance keys it ran, in order


@dataclass(frozen=True)
class Shapes:
    body: MappingProxyType  # node id -> output shape
    head: MappingProxyType
    body_calls: MappingProxyType  # node id of a block call -> the instance keys it ran
    head_calls: MappingProxyType
    instances: MappingProxyType  # (block, args, input shape, argument types) -> Instance


def infer(network: ir.Network, diags: Diagnostics | None, input_shape: Shape | None = None) \
        -> Shapes:
    """Infer every shape; report problems to diags (None: infer silently)."""
    return _Inference(network, diags).run(input_shape or network.input_shape)


def _fits(network: ir.Network, side: int) -> bool:
    """Whether a side x side input gets through every layer and concat (channels aside)."""
    probe = _Inference(network, None, probing=True)
    probe.run((network.input_shape[0], side, side))
    return not probe.size_error


def smallest_input(network: ir.Network) -> int | None:
    """The smallest square input side the network accepts (None if none up to MAX_INPUT).

    Found in a few probes, by doubling when the declared input does not fit and then halving the
    interval: valid and same windows never fit a larger input worse. (Where branches of
    different strides meet in a concat, inputs can fit and not fit by turns; the answer is then
    a side that fits, at the edge of a larger one that does not.)
    """
    low, high = 0, max(network.input_shape[1:])
    while not _fits(network, high):
        if high >= MAX_INPUT:
            return None
        low, high = high, min(2 * high, MAX_INPUT)
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (low, middle) if _fits(network, middle) else (middle, high)
    return high


class _Inference:
    def __init__(self, network: ir.Network, diags: Diagnostics | None, probing: bool = False):
        self.network = network
        self.diags = diags if diags is not None else Diagnostics()
        self.probing = probing  # only asking whether an input size fits
        self.instances: dict[tuple, Instance] = {}
        self.input_shape: Shape = network.input_shape
        self.size_error = False  # a layer or concat failed on H x W: later ones share the cause

    def run(self, input_shape: Shape) -> Shapes:
        self.input_shape = input_shape
        # A binding is (value, the block call where that value was written).
        bindings = {"num_classes": (self.network.num_classes, None)}
        body, body_calls = self.graph(self.network.body, input_shape, bindings)
        features = body[self.network.body.graph["output"]]
        head, head_calls = self.graph(self.network.head, features, bindings)
        out = head[self.network.head.graph["output"]]
        head_graph = self.network.head
        if len(head_graph) > 1 and out is not None and out != (self.network.num_classes,):
            last = head_graph.graph["output"]
            self.error(head_graph.nodes[last], "E507",
                       f"the head gives {show(out)}, but the network has num_classes "
                       f"{self.network.num_classes}: end the head in `linear num_classes`")
        return Shapes(MappingProxyType(body), MappingProxyType(head),
                      MappingProxyType(body_calls), MappingProxyType(head_calls),
                      MappingProxyType(self.instances))

    def error(self, node: dict, code: str, message: str) -> None:
        """Report at a node of the IR: its spec position and key path."""
        self.diags.error(node["pos"], code, message, node["key"])

    # --------------------------------------------------------------------------- graphs

    def graph(self, g: nx.DiGraph, input_shape: Shape, bindings: dict) -> tuple[dict, dict]:
        """Shapes of a graph's nodes, and the block instances each block call ran."""
        shapes: dict[str, Shape | None] = {}
        calls: dict[str, tuple] = {}
        for node in ir.topological(g):
            data = g.nodes[node]
            inputs = [shapes[u] for u in ir.ordered_inputs(g, node)]
            op = data["op"]
            if isinstance(op, ir.Input):
                shapes[node] = input_shape
            elif isinstance(op, ir.Concat):
                shapes[node] = self.concat(g, node, inputs)
            elif isinstance(op, ir.Add):
                shapes[node] = self.add(g, node, inputs, bindings)
            elif inputs[0] is None:
                shapes[node] = None
            elif isinstance(op, ir.BlockCall):
                shapes[node], calls[node] = self.block_call(op, data, inputs[0], bindings)
            else:
                shapes[node] = self.layer(op, data, inputs[0], bindings)
        return shapes, calls

    def block_call(self, call: ir.BlockCall, node: dict, shape: Shape, bindings: dict):
        definition = self.network.blocks.get(call.block)
        if definition is None:
            return None, ()
        inner = {name: bindings.get(value, (value, node)) if isinstance(value, str) else
                 (value, node) for name, value in call.args}
        args = tuple((name, value) for name, (value, _) in inner.items())
        keys = []
        kinds = tuple(type(value).__name__ for _, value in args)  # 8 and 8.0 differ here
        for _ in range(call.repeat):
            key = (call.block, args, shape, kinds)
            if key not in self.instances:
                shapes, calls = self.graph(definition.graph, shape, inner)
                output = shapes[definition.graph.graph["output"]]
                self.instances[key] = Instance(call.block, args, output,
                                               MappingProxyType(shapes), MappingProxyType(calls))
            keys.append(key)
            shape = self.instances[key].output
            if shape is None:
                break
        return shape, tuple(keys)

    def resolve(self, value, bindings: dict, node: dict):
        """A value or parameter's value, and the node to blame if it is wrong: the block call
        where the value was written, or the node itself for a literal."""
        if isinstance(value, str) and value in bindings:
            value, origin = bindings[value]
            return value, origin or node
        return value, node

    def number(self, value, bindings: dict, node: dict, what: str, whole: bool):
        """A number where one is needed, or None after reporting what was given instead."""
        name = value
        value, origin = self.resolve(value, bindings, node)
        ok = isinstance(value, int) and value >= 1 if whole else \
            isinstance(value, (int, float)) and not isinstance(value, bool)
        if not ok:
            need = "a whole number >= 1" if whole else "a number"
            given = f"`{name}` = {value!r}" if origin is not node else repr(value)
            self.error(origin, "E506", f"{what} is {given}, which must be {need}")
            return None
        return value

    # --------------------------------------------------------------------------- layers

    def layer(self, op: ir.Op, node: dict, shape: Shape, bindings: dict) -> Shape | None:
        name = ir.describe(op)
        if isinstance(op, ir.Linear):
            features = self.number(op.features, bindings, node, f"the features of `{name}`", True)
            if len(shape) != 1:
                self.error(node, "E505", f"{name} needs a flat input, gets {show(shape)}: put "
                                "`avgpool global` before it")
            return None if features is None else (features,)
        if isinstance(op, ir.Dropout):
            return shape
        if len(shape) != 3:
            self.error(node, "E504", f"{name} needs a C x H x W input, gets the flat {show(shape)}")
            return None
        channels, height, width = shape
        if isinstance(op, ir.GlobalAvgPool):
            return (channels,)
        if isinstance(op, ir.Conv):
            channels = self.number(op.filters, bindings, node, f"the filter count of `{name}`",
                                   True)
        if height is None:
            return (channels, None, None)
        out = [_window(size, k, op.stride, op.padding)
               for size, k in zip((height, width), op.kernel)]
        if None in out:
            if not self.size_error:
                self.size_error = True
                self.error(node, "E501", f"{name} needs an input of at least {op.kernel[0]} x "
                                 f"{op.kernel[1]}, gets {height} x {width}{self.input_hint()}")
            return (channels, None, None)
        return (channels, *out)

    def input_hint(self) -> str:
        _, h, w = self.input_shape
        if self.probing:
            return ""
        side = smallest_input(self.network)
        smallest = f"the smallest it accepts is {side} x {side}" if side else \
            f"no square input up to {MAX_INPUT} fits"
        return f" (network input {h} x {w}; {smallest})"

    def concat(self, g: nx.DiGraph, node: str, inputs: list) -> Shape | None:
        if any(s is None for s in inputs):
            return None
        branches = [_branch_name(g, u) for u in ir.ordered_inputs(g, node)]
        flat = [b for b, s in zip(branches, inputs) if len(s) != 3]
        if flat:
            self.error(g.nodes[node], "E504", f"concat: branch `{flat[0]}` is flat, "
                                             "concat needs C x H x W inputs")
            return None
        sized = [(b, s) for b, s in zip(branches, inputs) if s[1] is not None]
        size = sized[0][1][1:] if sized else (None, None)
        odd = [(b, s) for b, s in sized if s[1:] != size]
        if odd:
            self.size_error = True
            listing = ", ".join(f"`{b}` {show(s)}" for b, s in [sized[0]] + odd)
            self.error(g.nodes[node], "E502", f"concat: the branches differ in height and width "
                                             f"({listing}); they must be equal")
        channels = None if any(s[0] is None for s in inputs) else sum(s[0] for s in inputs)
        return (channels, *size)

    def add(self, g: nx.DiGraph, node: str, inputs: list, bindings: dict) -> Shape | None:
        shortcut, residual = inputs
        op = g.nodes[node]["op"]
        self.number(op.scale, bindings, g.nodes[node], "the residual scale", False)
        activation, origin = self.resolve(op.activation, bindings, g.nodes[node])
        if activation not in ACTIVATIONS:
            self.error(origin, "E506", f"the residual activation is `{op.activation}` = "
                                       f"{activation!r}, which must be relu or none")
        if shortcut is None or residual is None:
            return shortcut
        last = ir.ordered_inputs(g, node)[1]
        where = g.nodes[last]
        what = _what(g, last)
        if len(residual) != len(shortcut):
            self.error(where, "E503", f"residual add: {what} gives {show(residual)}, the block "
                                      f"input is {show(shortcut)}")
        elif None in (residual[0], shortcut[0]):
            pass  # channels unknown after an error reported already
        elif residual[0] != shortcut[0] and residual[1:] == shortcut[1:]:
            self.error(where, "E503", f"residual add: {what} gives {residual[0]} channels, the "
                                      f"block input has {shortcut[0]}")
        elif residual != shortcut and None not in residual and None not in shortcut:
            self.error(where, "E503", f"residual add: {what} gives {show(residual)}, the block "
                                      f"input is {show(shortcut)}")
        return shortcut


def _window(size: int, kernel: int, stride: int, padding: str) -> int | None:
    pad = (kernel - 1) // 2 if padding == "same" else 0
    span = size + 2 * pad
    return None if span < kernel else (span - kernel) // stride + 1


def _branch_name(g: nx.DiGraph, node: str) -> str:
    branch = g.nodes[node]["branch"]
    return branch[-1] if branch else node


def _what(g: nx.DiGraph, node: str) -> str:
    op = g.nodes[node]["op"]
    if isinstance(op, ir.Conv) and op.kernel == (1, 1):
        return f"the 1x1 projection `{node}`"
    if isinstance(op, ir.Concat):
        return "the concat"
    return f"`{node}` ({ir.describe(op)})"
