"""The steps of a graph that are not layers: its input, a concat, a residual add and a slice
of a merged conv's output. None has a module of its own in generated code."""

from __future__ import annotations

from dataclasses import dataclass

from ..ir import expr as ex
from ..ir.expr import Expr, Sym
from .base import NoModule, Op, Passthrough, Weightless, register


@register
@dataclass(frozen=True)
class Input(NoModule, Weightless, Passthrough, Op):
    """A graph's input: the block's or the network's."""

    tag = "input"
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
    rank = 0

    def channels(self, inputs):
        return ex.total(inputs)

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
    rank = 0

    def describe(self):
        return "add"

    def torch_forward(self, emit, graph, node, unit, inputs):
        shortcut, branch = inputs
        scale = "self.scale" if not ex.is_number(self.scale) else emit.literal(self.scale)
        expr = f"{shortcut} + {branch}" if self.scale == 1 else \
            f"{shortcut} + {scale} * {branch}"
        return f"self.act({expr})" if self.act != "none" else expr

    def label(self, fig):
        return "+"

    def fill(self):
        return ""


@register
@dataclass(frozen=True)
class Slice(NoModule, Weightless, Op):
    """`width` channels of its input from `start` on, then a ReLU if `relu`: one sibling's part
    of a merged conv (passes/merge_siblings.py). A view in generated code, not a copy: it must
    be the only reader of its channels, whose ReLU may be applied in place."""

    start: Expr
    width: Expr
    relu: bool = False
    tag = "slice"
    rank = 0
    counts = "the channels"

    @property
    def stop(self) -> Expr:
        return ex.total([self.start, self.width])

    def channels(self, inputs):
        return self.width

    def size(self, inputs, value):
        return inputs[0]

    def describe(self):
        text = f"channels {ex.to_text(self.start)}:{ex.to_text(self.stop)}"
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
        return self.describe()

    def fill(self):
        return ""
