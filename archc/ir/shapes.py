"""Shape inference over the IR, the one place that computes channels and sizes.

Two views, both from the rules of the operations (ops.py):
- per block definition, symbolic channel counts: expressions of the block's parameters and of
  `in`, its input channels (`n + m + in` for Reduction-A); what generated code writes;
- per block instance, numbers: (C, H, W) of every node, and its parameters and MACs; every concat
  and residual add is checked, every expression evaluated.

A shape is (C, H, W), or (C,) after a global pool. C is None after a bad filter count, H and W
after a spatial error, so that one error does not cascade while later layers are still checked;
a whole shape is None where nothing can be known.
Each block instance is inferred once per (block, arguments, input shape): a block repeated ten
times reports its errors once. After an error, checking goes on with the shape the layer or block
should have produced, so later errors are found too.
"""

from __future__ import annotations

from collections.abc import Callable
from types import MappingProxyType

import networkx as nx

from ..errors import Diagnostics
from ..limits import MAX_CHANNELS, MAX_CLASSES, MAX_INPUT, MAX_NUMBER
from ..ops import ShapeError
from . import expr as ex
from . import graph as ir
from .expr import Expr, Sym
from .graph import Channels, Instance, Shape, Shapes

IN = Sym("in")  # a block's input channels


def show(shape: Shape | None) -> str:
    if shape is None:
        return "unknown"
    return " x ".join("?" if d is None else str(d) for d in shape)


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


# ------------------------------------------------------------------------- layer counts


def module_count(op: ir.Op) -> int:
    """The modules a node holds itself (a block call's are its block's)."""
    return int(op.module and not isinstance(op, ir.BlockCall))


def stage_layers(network: ir.Network) -> list[tuple[nx.DiGraph, str, int]]:
    """(graph, node, layers) of each top-level step of the body and the head, counted from the
    graphs alone, before inference (whose work this count bounds): a block call counts its
    repeats times its block's layers."""
    per_block: dict[str, int] = {}

    def layers(g: nx.DiGraph, node: str) -> int:
        op = ir.node(g, node).op
        if isinstance(op, ir.BlockCall):
            return op.repeat * per_block.get(op.block, 0)
        return module_count(op)

    for name, definition in network.blocks.items():  # dependencies come first
        per_block[name] = sum(layers(definition.graph, node) for node in definition.graph)
    return [(g, node, layers(g, node)) for g in (network.body, network.head) for node in g]


# ------------------------------------------------------------------------- symbolic channels


def symbolic_channels(network: ir.Network) -> dict[str, Channels]:
    """Channels of every block definition, of the body and of the head. A block whose every
    instance gets the same constant number of channels has it written in; others keep `in`."""
    outputs: dict[str, Expr] = {}
    for name, definition in network.blocks.items():  # dependencies come first
        nodes, _ = _channels(definition.graph, IN, outputs)
        outputs[name] = nodes[definition.graph.graph["output"]]
    out: dict[str, Channels] = {}
    inputs: dict[str, set] = {name: set() for name in network.blocks}
    body = _graph_channels(network.body, network.input_shape[0], outputs, inputs)
    out["body"] = body
    out["head"] = _graph_channels(network.head, body.nodes[network.body.graph["output"]],
                                  outputs, inputs)
    for name in reversed(network.blocks):  # callers come first
        seen = inputs[name]
        only = next(iter(seen)) if len(seen) == 1 else None
        entry = only if ex.is_number(only) else IN
        out[name] = _graph_channels(network.blocks[name].graph, entry, outputs, inputs)
    return {name: out[name] for name in [*network.blocks, "body", "head"]}


def _graph_channels(g: nx.DiGraph, entry: Expr, outputs, inputs: dict[str, set]) -> Channels:
    nodes, calls = _channels(g, entry, outputs)
    for node, per_repeat in calls.items():
        inputs[ir.node(g, node).op.block].update(per_repeat)
    return Channels(entry, MappingProxyType(nodes), MappingProxyType(calls))


def _channels(g: nx.DiGraph, entry: Expr, outputs: dict[str, Expr]):
    nodes: dict[str, Expr] = {}
    calls: dict[str, tuple] = {}
    for node in ir.topological(g):
        op = ir.node(g, node).op
        inputs = [nodes[u] for u in ir.ordered_inputs(g, node)]
        try:
            if isinstance(op, ir.Input):
                nodes[node] = entry
            elif isinstance(op, ir.BlockCall):
                current, per_repeat = inputs[0], []
                # An argument written with the caller's `in` (`Inner(out=in)`) is the caller's
                # channels, a number where every instance of the caller gets the same.
                values = {name: ex.substitute(value, {"in": entry})
                          for name, value in op.args if not isinstance(value, str)}
                for _ in range(op.repeat):
                    per_repeat.append(current)
                    current = ex.substitute(outputs.get(op.block, IN), {**values, "in": current})
                nodes[node], calls[node] = current, tuple(per_repeat)
            else:
                nodes[node] = ex.substitute(op.channels(inputs), {"in": entry})
        except ex.TooLarge as e:
            raise FormulaTooLarge(ir.node(g, node), str(e)) from None
    return nodes, calls


class FormulaTooLarge(Exception):
    """A node whose channel count, as a formula of its block's `in`, is too large to write."""

    def __init__(self, node: ir.Node, reason: str):
        super().__init__(reason)
        self.node = node


# --------------------------------------------------------------------------- numbers


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
        body, body_calls, body_costs = self.graph(self.network.body, input_shape, bindings)
        features = body[self.network.body.graph["output"]]
        head, head_calls, head_costs = self.graph(self.network.head, features, bindings)
        out = head[self.network.head.graph["output"]]
        head_graph = self.network.head
        if len(head_graph) > 1 and out is not None and out != (self.network.num_classes,):
            last = head_graph.graph["output"]
            self.error(ir.node(head_graph, last), "E507",
                       f"the head gives {show(out)}, but the network has num_classes "
                       f"{self.network.num_classes}: end the head in `linear num_classes`")
        channels = {} if self.probing or self.diags else self.symbolic_channels()
        return Shapes(MappingProxyType(body), MappingProxyType(head),
                      MappingProxyType(body_calls), MappingProxyType(head_calls),
                      MappingProxyType(body_costs), MappingProxyType(head_costs),
                      MappingProxyType(self.instances), MappingProxyType(channels))

    def symbolic_channels(self) -> dict[str, Channels]:
        try:
            return symbolic_channels(self.network)
        except FormulaTooLarge as e:
            self.error(e.node, "E508", f"the channel count here, as generated code writes it (a "
                                       f"formula of the block's input channels `in`), would have "
                                       f"{e}, archc's bound")
            return {}

    def error(self, node: ir.Node, code: str, message: str) -> None:
        """Report at a node of the IR: its spec position and key path."""
        self.diags.error(node.pos, code, message, node.key)

    # --------------------------------------------------------------------------- graphs

    def graph(self, g: nx.DiGraph, input_shape: Shape, bindings: dict):
        """Shapes of a graph's nodes, the block instances each block call ran, and the cost of
        each node's own module."""
        shapes: dict[str, Shape | None] = {}
        calls: dict[str, tuple] = {}
        costs: dict[str, tuple[int, int]] = {}
        for node in ir.topological(g):
            data = ir.node(g, node)
            inputs = [shapes[u] for u in ir.ordered_inputs(g, node)]
            op = data.op
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
                shapes[node], costs[node] = self.layer(op, data, inputs[0], bindings)
        return shapes, calls, costs

    def block_call(self, call: ir.BlockCall, node: ir.Node, shape: Shape, bindings: dict):
        definition = self.network.blocks.get(call.block)
        if definition is None:
            return None, ()
        inner = {}
        for name, value in call.args:
            if isinstance(value, str):  # an activation's name
                inner[name] = (value, node)
            elif isinstance(value, Sym) and value.name in bindings:
                inner[name] = bindings[value.name][0], bindings[value.name][1] or node
            else:
                inner[name] = (self.value(value, f"the argument `{name}`", node, bindings,
                                          whole=False), node)
        args = tuple((name, value) for name, (value, _) in inner.items())
        keys = []
        kinds = tuple(type(value).__name__ for _, value in args)  # 8 and 8.0 differ here
        for _ in range(call.repeat):
            key = (call.block, args, shape, kinds)
            if key not in self.instances:
                scope = {**inner, "in": (shape[0], None)}
                shapes, calls, costs = self.graph(definition.graph, shape, scope)
                output = shapes[definition.graph.graph["output"]]
                self.instances[key] = Instance(call.block, args, output,
                                               MappingProxyType(shapes), MappingProxyType(calls),
                                               MappingProxyType(costs))
            keys.append(key)
            shape = self.instances[key].output
            if shape is None:
                break
        return shape, tuple(keys)

    def value(self, e: Expr, what: str | Callable[[], str], node: ir.Node, bindings: dict,
              least: int = 1, whole: bool = True, most: int = MAX_NUMBER):
        """The number an expression has in this instance, or None after reporting why it has
        none (`what` names it, or makes its name). A wrong value is blamed on the block call
        where it was written, if it was."""
        if callable(what):
            what = what()
        origin = node
        if isinstance(e, Sym) and e.name in bindings:
            value, written = bindings[e.name]
            origin = written or node
        elif any(bindings.get(name, (0,))[0] is None for name in ex.symbols(e)):
            return None  # of an argument reported already
        else:
            try:
                value = ex.evaluate(e, {k: v for k, (v, _) in bindings.items()})
            except ex.EvalError as err:
                self.error(node, "E506", f"{what} `{ex.to_text(e)}` has no value: {err}")
                return None
        if value is None:
            return None  # an argument reported already
        if whole:
            ok = isinstance(value, int) and not isinstance(value, bool) and value >= least
            need = f"a whole number >= {least}"
        else:
            ok = ex.is_number(value)
            need = "a number"
        if ok and not (ex.in_range(value) and value <= most):
            code, need = "E508", f"at most {most:,}, archc's bound"
            ok = False
        else:
            code = "E506"
        if not ok:
            if origin is not node:
                given = f"`{e.name}` = {_number(value)}"
            elif ex.is_number(e):
                given = _number(value)
            else:
                names = ", ".join(f"{name} = {_number(bindings[name][0])}"
                                  for name in sorted(ex.symbols(e)) if name in bindings)
                given = f"`{ex.to_text(e)}` = {_number(value)} ({names})"
            self.error(origin, code, f"{what} is {given}, which must be {need}")
            return None
        return value

    # --------------------------------------------------------------------------- layers

    def layer(self, op: ir.Op, node: ir.Node, shape: Shape, bindings: dict):
        if op.rank == 1 and len(shape) != 1:
            self.error(node, "E505", f"{op.describe()} needs a flat input, gets {show(shape)}: "
                                     "put `avgpool global` before it")
        if op.rank == 3 and len(shape) != 3:
            self.error(node, "E504", f"{op.describe()} needs a C x H x W input, gets the flat "
                                     f"{show(shape)}")
            return None, (0, 0)

        def value(e, what, least=1, most=MAX_NUMBER):
            # Most values are whole numbers in range, checked here; the layer is described only
            # for a message, since describing every layer costs more than inferring it.
            if type(e) is int and least <= e <= most:
                return e
            return self.value(e, lambda: f"{what} of `{op.describe()}`", node, bindings, least,
                              most=most)

        channels = op.channels([shape[0]])
        if op.counts is not None:
            channels = value(channels, op.counts,
                             most=MAX_CLASSES if op.rank == 1 else MAX_CHANNELS)
        elif not ex.is_number(channels):
            channels = None
        size = shape[1:] if len(shape) == 3 else None
        try:
            if size is not None:
                size = op.size([size], value)
        except ShapeError as e:
            if e.code != "E501":  # not about the input's size
                self.error(node, e.code, e.message)
            elif not self.size_error:
                self.size_error = True
                self.error(node, e.code, e.message + self.input_hint())
            size = (None, None)
        if size is not None and any(side is not None and side > MAX_INPUT for side in size):
            self.error(node, "E508", f"{op.describe()} would give {show(size)}, more than "
                                     f"archc's bound of {MAX_INPUT:,} per side")
            size = (None, None)
        out = (channels,) if size is None else (channels, *size)
        cost = (0, 0)
        if not self.probing and channels is not None and shape[0] is not None \
                and None not in out:
            try:
                cost = op.cost(shape[0], channels, out[1:], value)
            except ShapeError as e:
                self.error(node, e.code, e.message)
        return out, cost

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
            self.error(ir.node(g, node), "E504", f"concat: branch `{flat[0]}` is flat, "
                                             "concat needs C x H x W inputs")
            return None
        sized = [(b, s) for b, s in zip(branches, inputs) if s[1] is not None]
        size = sized[0][1][1:] if sized else (None, None)
        odd = [(b, s) for b, s in sized if s[1:] != size]
        if odd:
            self.size_error = True
            listing = ", ".join(f"`{b}` {show(s)}" for b, s in [sized[0]] + odd)
            self.error(ir.node(g, node), "E502", f"concat: the branches differ in height and width "
                                             f"({listing}); they must be equal")
        channels = None if any(s[0] is None for s in inputs) else sum(s[0] for s in inputs)
        if channels is not None and channels > MAX_CHANNELS:
            self.error(ir.node(g, node), "E508", f"concat: the branches give {channels:,} "
                                             f"channels, more than archc's bound of "
                                             f"{MAX_CHANNELS:,}")
            channels = None
        return (channels, *size)

    def add(self, g: nx.DiGraph, node: str, inputs: list, bindings: dict) -> Shape | None:
        shortcut, residual = inputs
        data = ir.node(g, node)
        op = data.op
        self.value(op.scale, "the residual scale", data, bindings, whole=False)
        if isinstance(op.act, Sym):
            activation, origin = bindings.get(op.act.name, (op.act.name, None))
            if activation not in ir.ACTIVATIONS:
                self.error(origin or data, "E506",
                           f"the residual activation is `{op.act.name}` = {activation!r}, which "
                           f"must be an activation ({', '.join(ir.ACTIVATIONS)})")
        if shortcut is None or residual is None:
            return shortcut
        first, last = ir.ordered_inputs(g, node)
        where = ir.node(g, last)
        what = _what(g, last)
        base = "the block input" if first == g.graph["input"] else f"the shortcut `{first}`"
        if len(residual) != len(shortcut):
            self.error(where, "E503", f"residual add: {what} gives {show(residual)}, {base} is "
                                      f"{show(shortcut)}")
        elif None in (residual[0], shortcut[0]):
            pass  # channels unknown after an error reported already
        elif residual[0] != shortcut[0] and residual[1:] == shortcut[1:]:
            self.error(where, "E503", f"residual add: {what} gives {residual[0]} channels, "
                                      f"{base} has {shortcut[0]}")
        elif residual != shortcut and None not in residual and None not in shortcut:
            self.error(where, "E503", f"residual add: {what} gives {show(residual)}, {base} is "
                                      f"{show(shortcut)}")
        return shortcut


def _number(value) -> str:
    """A value for a message: its repr, or its size when that is too long to read."""
    if isinstance(value, int) and not isinstance(value, bool) and len(str(abs(value))) > 30:
        return f"a number of {len(str(abs(value)))} digits"
    return repr(value)


def _branch_name(g: nx.DiGraph, node: str) -> str:
    branch = ir.node(g, node).branch
    return branch[-1] if branch else node


def _what(g: nx.DiGraph, node: str) -> str:
    op = ir.node(g, node).op
    if isinstance(op, ir.Conv) and op.kernel == (1, 1):
        return f"the 1x1 projection `{node}`"
    if isinstance(op, ir.Concat):
        return "the concat"
    return f"`{node}` ({op.describe()})"
