"""The steps of a graph that have no module of their own in generated code: its input, a concat,
a residual add and a slice of channels (a spec's `channels A:B`, or a merged conv's part)."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import PlainValidator, WithJsonSchema

from ..activations import ACTIVATIONS
from ..ir import expr as ex
from ..ir.expr import Expr, Sym
from ..limits import MAX_CHANNELS
from ..spec.fields import EXPR_SCHEMA, Node, whole_number
from ..spec.words import number_or_text, split_outside_parentheses
from .base import NoModule, Op, Passthrough, Weightless, register


@register
@dataclass(frozen=True)
class Input(NoModule, Weightless, Passthrough, Op):
    """A graph's input: the block's or the network's."""

    tag = "input"
    opcode = "input"
    arity = 0
    rank = 0

    def describe(self):
        return "input"

    def torch_forward(self, emit, graph, node, unit, inputs):
        return None  # the forward's argument

    def label(self, fig):
        return "Previous layer"

    def fill(self):
        return "io"


@register
@dataclass(frozen=True)
class Concat(NoModule, Weightless, Op):
    """Inputs concatenated along channels, in edge order."""

    tag = "concat"
    arity = None
    rank = 0

    def channels(self, inputs):
        return ex.total(inputs)

    def infer(self, check, inputs):
        if any(s is None for s in inputs):
            return None
        branches = [check.branch_name(u) for u in check.inputs()]
        flat = [b for b, s in zip(branches, inputs) if len(s) != 3]
        if flat:
            check.error("E504", f"concat: branch `{flat[0]}` is flat, concat needs C x H x W "
                                "inputs")
            return None
        sized = [(b, s) for b, s in zip(branches, inputs) if s[1] is not None]
        size = sized[0][1][1:] if sized else (None, None)
        odd = [(b, s) for b, s in sized if s[1:] != size]
        if odd:
            check.size_failed()
            listing = ", ".join(f"`{b}` {check.show(s)}" for b, s in [sized[0]] + odd)
            check.error("E502", f"concat: the branches differ in height and width ({listing}); "
                                "they must be equal")
        channels = None if any(s[0] is None for s in inputs) else sum(s[0] for s in inputs)
        if channels is not None and channels > MAX_CHANNELS:
            check.error("E508", f"concat: the branches give {channels:,} channels, more than "
                                f"archc's bound of {MAX_CHANNELS:,}")
            channels = None
        return (channels, *size)

    def named(self, node):
        return "the concat"

    def size(self, inputs, value):
        return inputs[0]  # shape inference checks that the inputs agree

    def lineage(self, inputs, path, cout):
        return tuple(run for channels in inputs for run in channels)

    def describe(self):
        return "concat"

    def torch_forward(self, emit, graph, node, unit, inputs):
        return f"torch.cat(({', '.join(inputs)}), 1)"

    def label(self, fig):
        return "Filter concat"

    def draw(self, pen, sources):
        # A concat feeding another (a branch that splits, as in Inception-C) is not drawn: the
        # paper joins the split layers straight into the block's filter concat.
        readers = pen.readers()
        if len(readers) == 1 and isinstance(readers[0], Concat):
            return sources
        return super().draw(pen, sources)

    def fill(self):
        return ""


@register
@dataclass(frozen=True)
class Add(NoModule, Weightless, Passthrough, Op):
    """The residual sum: act(shortcut + scale * residual); input 0 is the shortcut, whose
    channels, the residual stream, the sum keeps (lineage)."""

    scale: Expr
    act: str | Sym
    tag = "add"
    arity = 2
    rank = 0
    main_path = "out"
    block_kind = "residual block"

    @property
    def residual_scale(self):
        return self.scale

    def infer(self, check, inputs):
        shortcut, residual = inputs
        check.value(self.scale, "the residual scale", whole=False)
        if isinstance(self.act, Sym):
            activation, origin = check.binding(self.act.name, self.act.name)
            if activation not in ACTIVATIONS:
                check.blame(origin, "E506", f"the residual activation is `{self.act.name}` = "
                                            f"{activation!r}, which must be an activation "
                                            f"({', '.join(ACTIVATIONS)})")
        if shortcut is None or residual is None:
            return shortcut
        first, last = check.inputs()
        what = check.what(last)
        base = "the block input" if check.is_graph_input(first) else f"the shortcut `{first}`"
        why = ""
        if check.left_out(first):  # a conditional shortcut, left out in this instance
            left_out = check.node_of(first)
            base = "the block input"
            why = f" (the shortcut `{left_out.module}` is built only where " \
                  f"`{ex.to_text(left_out.when)}`)"
        show = check.show
        if len(residual) != len(shortcut):
            check.error("E503", f"residual add: {what} gives {show(residual)}, {base} is "
                                f"{show(shortcut)}{why}", at=last)
        elif None in (residual[0], shortcut[0]):
            pass  # channels unknown after an error reported already
        elif residual[0] != shortcut[0] and residual[1:] == shortcut[1:]:
            check.error("E503", f"residual add: {what} gives {residual[0]} channels, {base} has "
                                f"{shortcut[0]}{why}", at=last)
        elif residual != shortcut and None not in residual and None not in shortcut:
            check.error("E503", f"residual add: {what} gives {show(residual)}, {base} is "
                                f"{show(shortcut)}{why}", at=last)
        return shortcut

    def describe(self):
        return "add"

    def torch_init(self, emit, graph):
        if not isinstance(self.act, Sym):
            return [] if self.act == "none" else \
                [f"        self.act = {emit.activation(self.act)}"]
        values = {value for inst in emit.instances_of(graph).values()
                  for name, value in inst.args if name == self.act.name}
        if values <= {"relu", "none"}:
            return [f'        self.act = nn.ReLU() if {self.act.name} == "relu" else '
                    'nn.Identity()']
        return [f"        self.act = {emit.activation(self.act)}"]

    def torch_forward(self, emit, graph, node, unit, inputs):
        shortcut, branch = inputs
        scale = "self.scale" if not ex.is_number(self.scale) else emit.literal(self.scale)
        expr = f"{shortcut} + {branch}" if self.scale == 1 else \
            f"{shortcut} + {scale} * {branch}"
        return f"self.act({expr})" if self.act != "none" else expr

    def label(self, fig):
        return "+"

    def draw(self, pen, sources):
        (shortcut, _), (residual, residual_shape) = sources
        last = residual
        if self.scale != 1:
            last = pen.node(f"Activation scaling ({pen.value(self.scale)})", fill="")
            pen.edge(residual, last, residual_shape)
        plus = pen.node("+", shape="circle", width="0.3", fixedsize="true")
        pen.edge(last, plus, residual_shape)
        pen.edge(shortcut, plus, pen.shape, style="dashed")
        act = self.act.name if isinstance(self.act, Sym) else self.act
        activations = pen.args.get(act, [act])
        if activations == ["none"]:
            return [(plus, pen.shape)]
        out = pen.node(pen.activation(self.act), fill="io")
        pen.edge(plus, out, pen.shape)
        return [(out, pen.shape)]

    def fill(self):
        return ""


def _channel(low: int):
    return Annotated[
        Any,
        PlainValidator(whole_number(low, MAX_CHANNELS, "a whole number or an expression")),
        WithJsonSchema({"anyOf": [{"type": "integer", "minimum": low, "maximum": MAX_CHANNELS},
                                  EXPR_SCHEMA]}),
    ]


class ChannelsLayer(Node):
    """A range of the input's channels, `start` up to but not including `stop`, as Python's
    `x[:, start:stop]`: ShuffleNet-V2's channel split."""

    type: Literal["channels"] = "channels"
    start: _channel(0)
    stop: _channel(1)


def _read_channels(tokens: list[str], text: str) -> dict:
    bounds = split_outside_parentheses(tokens[0], ":".__eq__) if len(tokens) == 1 else []
    if len(bounds) != 2 or not all(bound.strip() for bound in bounds):
        raise ValueError(f"`{text}`: write channels with a range START:STOP of the input's "
                         "channels, e.g. channels 0:in//2")
    return {"type": "channels", "start": number_or_text(bounds[0]),
            "stop": number_or_text(bounds[1])}


@register
@dataclass(frozen=True)
class Slice(NoModule, Weightless, Op):
    """`width` channels of its input from `start` on, then a ReLU if `relu`. A view in
    generated code (`x[:, start:stop]`), not a copy. A spec writes it as `channels START:STOP`
    (ShuffleNet-V2's channel split); passes/merge_siblings.py makes one for each sibling's part
    of a merged conv, which must be the only reader of its channels, whose ReLU may be applied
    in place."""

    start: Expr
    width: Expr
    relu: bool = False
    tag = "slice"
    rank = 0
    counts = "the channels"
    SPECS = (ChannelsLayer,)
    COMPACT = {"channels": _read_channels}
    SYNTAX = ("channels START:STOP",)
    ORDER = 57

    @classmethod
    def from_spec(cls, model: ChannelsLayer, ctx, key: str) -> Slice:
        start = ctx.expr(model.start, model.at("start"), key + ".start")
        stop = ctx.expr(model.stop, model.at("stop"), key + ".stop")
        return cls(start, ex.binop("-", stop, start))

    @property
    def stop(self) -> Expr:
        width = self.width
        if isinstance(width, ex.BinOp) and width.op == "-" and width.right == self.start:
            return width.left  # as a spec wrote it: `channels in//2:in`, not `in//2 + (...)`
        return ex.total([self.start, width])

    def infer(self, check, inputs):
        shape = inputs[0]
        if shape is None:
            return None
        described = self.describe()
        start = check.value(self.start, f"the start of `{described}`", least=0)
        stop = check.value(self.stop, f"the stop of `{described}`", least=0)
        if start is None or stop is None:
            return None
        if start >= stop:
            check.error("E512", f"{described}: the range {start}:{stop} is empty: its start "
                                "must be below its stop")
            return None
        if shape[0] is not None and stop > shape[0]:
            check.error("E512", f"{described}: the range {start}:{stop} is outside the input's "
                                f"{shape[0]} channels (0:{shape[0]})")
            return None
        return check.layer(self, inputs)

    def channels(self, inputs):
        return self.width

    def size(self, inputs, value):
        return inputs[0]

    def lineage(self, inputs, path, cout):
        """The run of its input's channels it takes, made by the modules that made them. Its
        bounds are read with `in`, the input's width, or known from its width where only its
        stop is; bounds of other parameters are not known to this rule (ir/lineage.py gives it
        its op unbound): taken as a range from the first channel."""
        runs = inputs[0]
        total = sum(count for _, count in runs)
        start = 0
        try:
            start = ex.evaluate(self.start, {"in": total})
        except ex.EvalError:
            with contextlib.suppress(ex.EvalError):
                start = ex.evaluate(self.stop, {"in": total}) - cout
        out, at = [], 0
        for origin, count in runs:
            low, high = max(at, start), min(at + count, start + cout)
            if low < high:
                out.append((origin, high - low))
            at += count
        return tuple(out)

    def torch_channel_runs(self, emit, graph):
        return [emit.slice_bounds(graph, self)]

    def describe(self):
        text = f"channels {_bound(self.start)}:{_bound(self.stop)}"
        return text + (" relu" if self.relu else "")

    def torch_forward(self, emit, graph, node, unit, inputs):
        channels = emit.channels_of(graph, emit.input_of(graph, node))
        expr = inputs[0]
        start, stop = emit.slice_bounds(graph, self)
        if start != 0 or stop != channels:
            kept = emit.kept(graph)
            start = "" if start == 0 else kept.code(start)
            expr = f"{expr}[:, {start}:{kept.code(stop)}]"
        if self.relu:
            emit.need("relu_slice")
            expr = f"relu_slice({expr})"
        return expr

    def label(self, fig):
        if self.relu:
            return self.describe()
        return f"Channels {ex.to_text(self.start)}:{ex.to_text(self.stop)}"  # Python's range

    def fill(self):
        return ""


def _bound(e: Expr) -> str:
    """A range's bound as the compact form writes it: an expression without spaces."""
    return ex.to_text(e).replace(" ", "")
