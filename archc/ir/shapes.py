"""Shape inference over the IR, the one place that computes channels and sizes.

Two views, both from the rules of the operations (ops.py):
- per block definition, symbolic channel counts: expressions of the block's parameters and of
  `in`, its input channels (`n + m + in` for Reduction-A); what generated code writes;
- per block instance, numbers: (C, H, W) of every node, and its parameters and MACs; every concat
  and residual add is checked, every expression evaluated.

A shape is (C, H, W), or (C,) after a global pool. C is None after a bad filter count, H and W
after a spatial error, so that one error does not cascade while later layers are still checked;
a whole shape is None where nothing can be known. A tensor permuted to channels-last (`permute
nhwc`, N x H x W x C in torch) has a ChannelsLast shape, still (C, H, W) in meaning: only the ops
that take one (their `takes_channels_last`) may read it, and a graph may not end in one; once
shapes are inferred, the ops whose module depends on it are told their input's layout
(`laid_out`).
Each block instance is inferred once per (block, arguments, input shape): a block repeated ten
times reports its errors once. After an error, checking goes on with the shape the layer or block
should have produced, so later errors are found too.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from contextlib import contextmanager
from types import MappingProxyType

import networkx as nx

from ..errors import Diagnostics
from ..limits import MAX_CHANNELS, MAX_CLASSES, MAX_INPUT, MAX_NUMBER, MAX_REPEAT
from ..ops import ShapeError
from . import expr as ex
from . import graph as ir
from .expr import Expr, Sym
from .graph import Channels, GraphShapes, Instance, Shape, Shapes
from .walk import Walker

IN = Sym("in")  # a block's input channels
IN_CHANS = Sym("in_chans")  # the network's input channels, a constructor argument (timm's)


class ChannelsLast(tuple):
    """The (C, H, W) of a tensor laid out channels-last (N x H x W x C in torch)."""

    __slots__ = ()


def channels_last(shape: Shape | None) -> bool:
    return isinstance(shape, ChannelsLast)


def show(shape: Shape | None) -> str:
    if shape is None:
        return "unknown"
    text = " x ".join("?" if d is None else str(d) for d in shape)
    return text + " (channels-last)" if channels_last(shape) else text


def laid_out(network: ir.Network) -> ir.Network:
    """A checked network whose ops are told their input's layout where their module or figure
    depends on it (a layer norm after `permute nhwc` is nn.LayerNorm, LayerNorm2d elsewhere).
    A graph's layouts are the same in every instance: only permutes change them."""
    shapes = network.shapes
    numbers = {ir.BODY: [shapes.of(ir.BODY)], ir.HEAD: [shapes.of(ir.HEAD)],
               **{name: list(shapes.instances_of(name).values()) for name in network.blocks}}

    def graph(g: nx.DiGraph) -> nx.DiGraph:
        changed = {}
        for name in g:
            op = ir.node(g, name).op
            if op.takes_channels_last and g.in_degree(name) == 1:
                (source,) = g.predecessors(name)
                last = any(channels_last(n.shapes.get(source)) for n in numbers[ir.name_of(g)])
                if (told := op.laid_out(last)) != op:
                    changed[name] = told
        if not changed:
            return g
        g = nx.DiGraph(g)
        for name, op in changed.items():
            ir.update(g, name, op=op)
        return nx.freeze(g)

    blocks = {name: dataclasses.replace(block, graph=graph(block.graph))
              for name, block in network.blocks.items()}
    return dataclasses.replace(network, blocks=MappingProxyType(blocks),
                               body=graph(network.body), head=graph(network.head))


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
    return int(op.module and op.opcode != "call")


def stage_layers(network: ir.Network) -> list[tuple[nx.DiGraph, str, int]]:
    """(graph, node, layers) of each top-level step of the body and the head, counted from the
    graphs alone, before inference (whose work this count bounds): a block call counts its
    repeats times its block's layers with its arguments (a count written as an expression that
    cannot be evaluated yet counts as the most a count can be)."""
    per_block: dict[tuple, int] = {}

    def layers(g: nx.DiGraph, node: str, values: dict) -> int:
        op = ir.node(g, node).op
        if op.opcode != "call":
            return module_count(op)
        count = _known(op.repeat, values)
        count = count if isinstance(count, int) and 0 <= count <= MAX_REPEAT else MAX_REPEAT
        if count == 0 or op.block not in network.blocks:
            return 0
        inner = {name: value if isinstance(value, str) else _known(value, values)
                 for name, value in op.args}
        key = (op.block, tuple(inner.items()))
        if key not in per_block:
            block = network.blocks[op.block].graph
            per_block[key] = sum(layers(block, n, inner) for n in block)
        return count * per_block[key]

    top = {"num_classes": network.num_classes}
    return [(g, node, layers(g, node, top)) for g in (network.body, network.head) for node in g]


def _known(e: Expr, values: dict):
    """An expression's value from the values known, or None."""
    try:
        return ex.evaluate(e, {k: v for k, v in values.items() if v is not None})
    except ex.EvalError:
        return None


# ------------------------------------------------------------------------- symbolic channels


def symbolic_channels(network: ir.Network, sizes: dict[str, dict]) -> dict[str, Channels]:
    """Channels of every block definition, of the body and of the head, as expressions of the
    network's `in_chans`. A block whose every instance gets the same constant number of
    channels has it written in; others keep `in`.
    `sizes`: per graph, each node's output height and width where every instance agrees (the
    channels of a flatten are its input's times them)."""
    outputs: dict[str, Expr] = {}
    for name, definition in network.blocks.items():  # dependencies come first
        nodes, _ = _channels(definition.graph, IN, outputs, sizes[name])
        outputs[name] = nodes[definition.graph.graph["output"]]
    out: dict[str, Channels] = {}
    inputs: dict[str, set] = {name: set() for name in network.blocks}
    body = _graph_channels(network.body, IN_CHANS, outputs, inputs, sizes)
    out[ir.BODY] = body
    out[ir.HEAD] = _graph_channels(network.head, body.nodes[network.body.graph["output"]],
                                   outputs, inputs, sizes)
    for name in reversed(network.blocks):  # callers come first
        seen = inputs[name]
        only = next(iter(seen)) if len(seen) == 1 else None
        entry = only if ex.is_number(only) else IN
        out[name] = _graph_channels(network.blocks[name].graph, entry, outputs, inputs, sizes)
    return {name: out[name] for name in [*network.blocks, ir.BODY, ir.HEAD]}


def _graph_channels(g: nx.DiGraph, entry: Expr, outputs, inputs: dict[str, set],
                    sizes: dict[str, dict]) -> Channels:
    nodes, calls = _channels(g, entry, outputs, sizes[ir.name_of(g)])
    for node, per_repeat in calls.items():
        inputs[ir.node(g, node).op.block].update(per_repeat)
    return Channels(entry, MappingProxyType(nodes), MappingProxyType(calls))


def _channels(g: nx.DiGraph, entry: Expr, outputs: dict[str, Expr], sizes: dict):
    calls: dict[str, tuple] = {}
    return _Symbolic(entry, outputs, sizes).graph(g, entry, calls), calls


def agreed_sizes(numbers: list[GraphShapes]) -> dict:
    """Each node's output height and width where every instance of the graph agrees, else
    None."""
    out: dict = {}
    for shapes in (n.shapes for n in numbers):
        for node, shape in shapes.items():
            size = tuple(shape[1:]) if shape is not None and len(shape) == 3 else None
            out[node] = size if out.get(node, size) == size else None
    return out


class _Symbolic(Walker):
    """A graph's channels as expressions of its block's `in` (`entry`); `frame` gets each
    block call's channels per repeat."""

    def __init__(self, entry: Expr, outputs: dict[str, Expr], sizes: dict):
        self.entry = entry
        self.outputs = outputs  # each block's output channels, of its `in`
        self.sizes = sizes  # node -> its output's height and width, where they are known

    def call(self, g, name, node, inputs, frame):
        op, current, per_repeat = node.op, inputs[0], []
        # An argument written with the caller's `in` (`Inner(out=in)`) is the caller's
        # channels, a number where every instance of the caller gets the same.
        with _formula(node):
            values = {param: ex.substitute(value, {"in": self.entry})
                      for param, value in op.args if not isinstance(value, str)}

            def after(channels: Expr) -> Expr:
                return ex.substitute(self.outputs.get(op.block, IN), {**values, "in": channels})

            if not ex.is_number(op.repeat):  # the first repeat's input, then the others'
                per_repeat, current = [current, after(current)], after(current)
                if after(current) != current:
                    raise SymbolicError(node, "E508", f"the channels after `{op.describe()}` "
                                        "grow with each repeat, so generated code cannot write "
                                        "them for a count that only an instance knows: write "
                                        "the count as a number")
            for _ in range(op.repeat if ex.is_number(op.repeat) else 0):
                per_repeat.append(current)
                current = after(current)
        frame[name] = tuple(per_repeat)
        return current

    def op(self, g, name, node, inputs, frame):
        if node.when is not None and not node.op.module:
            return inputs[-1]  # a sum or a drop path by a condition: its branch's, either way
        before = ir.ordered_inputs(g, name)
        size = self.sizes.get(before[0]) if before else None
        with _formula(node):
            return ex.substitute(node.op.channels_at(inputs, size), {"in": self.entry})


@contextmanager
def _formula(node: ir.Node):
    try:
        yield
    except ex.TooLarge as e:
        raise SymbolicError(node, "E508", f"the channel count here, as generated code writes "
                                          f"it (a formula of the block's input channels `in`), "
                                          f"would have {e}, archc's bound") from None


class SymbolicError(Exception):
    """A node whose channel count generated code cannot write."""

    def __init__(self, node: ir.Node, code: str, message: str):
        super().__init__(message)
        self.node, self.code, self.message = node, code, message


# --------------------------------------------------------------------------- numbers


class _Inference(Walker):
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
        body = self.numbers(self.network.body, input_shape, bindings)
        features = body.shapes[self.network.body.graph["output"]]
        head = self.numbers(self.network.head, features, bindings)
        out = head.shapes[self.network.head.graph["output"]]
        head_graph = self.network.head
        if len(head_graph) > 1 and out is not None and out != (self.network.num_classes,):
            last = head_graph.graph["output"]
            self.error(ir.node(head_graph, last), "E507",
                       f"the head gives {show(out)}, but the network has num_classes "
                       f"{self.network.num_classes}: end the head in `linear num_classes`")
        sizes = {ir.BODY: agreed_sizes([body]), ir.HEAD: agreed_sizes([head]),
                 **{name: agreed_sizes([i for i in self.instances.values() if i.block == name])
                    for name in self.network.blocks}}
        channels = {} if self.probing or self.diags else self.symbolic_channels(sizes)
        return Shapes(MappingProxyType({ir.BODY: body, ir.HEAD: head}),
                      MappingProxyType(self.instances), MappingProxyType(channels))

    def symbolic_channels(self, sizes: dict[str, dict]) -> dict[str, Channels]:
        try:
            return symbolic_channels(self.network, sizes)
        except SymbolicError as e:
            self.error(e.node, e.code, e.message)
            return {}

    def error(self, node: ir.Node, code: str, message: str) -> None:
        """Report at a node of the IR: its spec position and key path."""
        self.diags.error(node.pos, code, message, node.key)

    # --------------------------------------------------------------------------- graphs

    def numbers(self, g: nx.DiGraph, input_shape: Shape, bindings: dict) -> GraphShapes:
        """The shapes of a graph's nodes, the block instances each block call ran, and the cost
        of each node's own module."""
        frame = _Frame(bindings, {}, {}, set())
        shapes = self.graph(g, input_shape, frame)
        end = g.graph["output"]
        if channels_last(shapes[end]):
            self.error(ir.node(g, end), "E504", f"{self._ends(g)} ends channels-last "
                                                f"({show(tuple(shapes[end]))}): put `permute "
                                                "nchw` at its end")
            shapes[end] = tuple(shapes[end])
        return GraphShapes(MappingProxyType(shapes), MappingProxyType(frame.calls),
                           MappingProxyType(frame.costs), frozenset(frame.absent))

    def _ends(self, g: nx.DiGraph) -> str:
        name = ir.name_of(g)
        return {ir.BODY: "the body", ir.HEAD: "the head"}.get(name, f"block `{name}`")

    def present(self, g, name, node, frame):
        """Whether a step's condition holds in this instance; recorded where it does not."""
        holds = self.value(node.when, "the condition", node, frame.bindings, truth=True)
        if holds is False:
            frame.absent.add(name)
        return holds is not False

    def call(self, g, name, node, inputs, frame):
        inputs = self.channels_first(g, name, node.op, inputs)
        if inputs[0] is None:
            return None
        shape, frame.calls[name] = self.block_call(node.op, node, inputs[0], frame.bindings)
        if shape is not None and not frame.calls[name]:
            frame.absent.add(name)  # repeated 0 times: no module, the input passed on
        return shape

    def op(self, g, name, node, inputs, frame):
        if not node.op.takes_channels_last:
            inputs = self.channels_first(g, name, node.op, inputs)
        return node.op.infer(_Step(self, g, name, frame), inputs)

    def channels_first(self, g: nx.DiGraph, name: str, op: ir.Op, inputs: list) -> list:
        """A step's inputs, where it takes channels-first ones only: a channels-last one is
        reported, and read as channels-first so that checking goes on."""
        for source, shape in zip(ir.ordered_inputs(g, name), inputs):
            if channels_last(shape):
                self.error(ir.node(g, name), "E504",
                           f"{op.describe()} needs a channels-first input (N x C x H x W), gets "
                           f"the channels-last {show(tuple(shape))} of `{source}`: put "
                           "`permute nchw` before it")
        return [tuple(s) if channels_last(s) else s for s in inputs]

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
        count = self.value(call.repeat, "the repeat count", node, bindings, least=0,
                           most=MAX_REPEAT)
        if count is None:
            return None, ()
        if count == 0 and not self.keeps_channels(call, node, shape, bindings):
            return None, ()
        for _ in range(count):
            key = (call.block, args, shape, kinds)
            if key not in self.instances:
                scope = {**inner, "in": (shape[0], None)}
                numbers = self.numbers(definition.graph, shape, scope)
                output = numbers.shapes[definition.graph.graph["output"]]
                self.instances[key] = Instance(numbers.shapes, numbers.calls, numbers.costs,
                                               numbers.absent, call.block, args, output)
            keys.append(key)
            shape = self.instances[key].output
            if shape is None:
                break
        return shape, tuple(keys)

    def value(self, e: Expr, what: str | Callable[[], str], node: ir.Node, bindings: dict,
              least: int = 1, whole: bool = True, most: int = MAX_NUMBER, truth: bool = False):
        """The number an expression has in this instance (a condition's truth value, with
        `truth`), or None after reporting why it has none (`what` names it, or makes its name).
        A wrong value is blamed on the block call where it was written, if it was."""
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
        if truth:
            return value if isinstance(value, bool) else None  # conditions are checked as such
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

    def keeps_channels(self, call: ir.BlockCall, node: ir.Node, shape: Shape,
                       bindings: dict) -> bool:
        """Whether a block, repeated 0 times here, would keep its input's channels: generated
        code writes the channels after a repeat as its block's output, for every count."""
        probe = _Inference(self.network, None, probing=True)
        once = dataclasses.replace(call, repeat=1)
        output, _ = probe.block_call(once, node, shape, bindings)
        if output is None or output[0] == shape[0]:
            return True
        names = ", ".join(f"{name} = {_number(bindings[name][0])}"
                          for name in sorted(ex.symbols(call.repeat)) if name in bindings)
        self.error(node, "E506", f"`{call.describe()}` repeats 0 times here ({names}), but "
                                 f"`{call.block}` changes the channels ({shape[0]} -> "
                                 f"{output[0]}), which generated code takes as the output: "
                                 "repeat it at least once")
        return False

    # --------------------------------------------------------------------------- layers

    def layer(self, op: ir.Op, node: ir.Node, shape: Shape, bindings: dict):
        """(output shape, (parameters, MACs)) of a layer, from its rules."""
        if op.rank == 1 and len(shape) != 1 and not channels_last(shape):
            self.error(node, "E505", f"{op.describe()} needs a flat input, gets {show(shape)}: "
                                     "put `avgpool global` before it")
            return None, (0, 0)
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


class _Frame:
    """The walk's state in one graph: the block's bindings, what the graph's block calls ran
    and its layers cost, and its steps whose condition does not hold."""

    def __init__(self, bindings: dict, calls: dict, costs: dict, absent: set):
        self.bindings = bindings
        self.calls = calls
        self.costs = costs
        self.absent = absent


class _Step:
    """What an op's `infer` rule may ask while its step is inferred: its numbers evaluated, its
    errors reported at its node (or another of its graph), its inputs' names."""

    def __init__(self, inference: _Inference, g: nx.DiGraph, name: str, frame: _Frame):
        self.inference = inference
        self.g = g
        self.name = name
        self.frame = frame

    @property
    def node(self) -> ir.Node:
        return ir.node(self.g, self.name)

    def layer(self, op: ir.Op, inputs: list[Shape | None]) -> Shape | None:
        """The usual reading of a layer's rules; records its cost. Its output keeps its input's
        layout."""
        if inputs[0] is None:
            return None
        shape, self.frame.costs[self.name] = self.inference.layer(op, self.node, inputs[0],
                                                                  self.frame.bindings)
        return self.in_layout(shape, channels_last(inputs[0]))

    channels_last = staticmethod(channels_last)

    @staticmethod
    def in_layout(shape: Shape | None, last: bool) -> Shape | None:
        """A C x H x W shape in the layout given: channels-last where `last`."""
        if shape is None or len(shape) != 3:
            return shape
        return ChannelsLast(shape) if last else tuple(shape)

    def error(self, code: str, message: str, at: str | None = None) -> None:
        """Reports at this step, or at the node `at` of its graph."""
        self.inference.error(ir.node(self.g, at or self.name), code, message)

    def value(self, e: Expr, what: str, least: int = 1, whole: bool = True):
        return self.inference.value(e, what, self.node, self.frame.bindings, least, whole)

    def binding(self, name: str, default) -> tuple[object, ir.Node]:
        """A block parameter's value, and the node to blame for it: the block call where it
        was written, or this step."""
        value, origin = self.frame.bindings.get(name, (default, None))
        return value, origin or self.node

    def blame(self, at: ir.Node, code: str, message: str) -> None:
        """Reports at a node of the IR (one `binding` named)."""
        self.inference.error(at, code, message)

    def inputs(self) -> list[str]:
        """Its inputs' node ids, in order."""
        return ir.ordered_inputs(self.g, self.name)

    def branch_name(self, node: str) -> str:
        """What messages call an input: its concat branch's name, or its node id."""
        branch = ir.node(self.g, node).branch
        return branch[-1] if branch else node

    show = staticmethod(show)

    def is_graph_input(self, node: str) -> bool:
        return node == self.g.graph["input"]

    def left_out(self, node: str) -> bool:
        """Whether a step's condition does not hold in this instance."""
        return node in self.frame.absent

    def node_of(self, node: str) -> ir.Node:
        return ir.node(self.g, node)

    def channels_made_by(self, node: str) -> str:
        """The step that set a node's channel count: the node, or the last step before it that
        sets one, through those that pass their input's on (an activation, a pool)."""
        while ir.node(self.g, node).op.counts is None and \
                len(preceding := ir.ordered_inputs(self.g, node)) == 1 and \
                ir.node(self.g, preceding[0]).op.opcode == "op":
            node = preceding[0]
        return node

    def what(self, node: str) -> str:
        """A step of the graph, as messages name it."""
        return ir.node(self.g, node).op.named(node)

    def size_failed(self) -> None:
        """Marks a failure on height and width: later ones share its cause."""
        self.inference.size_error = True


def _number(value) -> str:
    """A value for a message: its repr, or its size when that is too long to read."""
    if isinstance(value, int) and not isinstance(value, bool) and len(str(abs(value))) > 30:
        return f"a number of {len(str(abs(value)))} digits"
    return repr(value)
