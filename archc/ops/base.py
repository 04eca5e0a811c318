"""What every op kind is: the rules each phase asks of it, and the registry that refuses a kind
missing one. An op kind is one file of archc/ops/ holding all that archc knows of it (the IR op
and its rules: channels, size, cost, lineage, state tensors, description; its torch emitter;
its figure label); the phases reach ops only through these rules.

Fields are resolved: padding is given per side, BatchNorm and activation are separate parts of
a conv unit, defaults from the spec's settings are filled in. Numbers are expressions
(ir/expr.py) of the block's parameters; `size` and `cost` get them evaluated through `value`,
a function that evaluates an expression in the current block instance (and reports what it
cannot evaluate).

The rules' contexts are duck-typed, so that an op file imports no phase:
- `emit` (the torch backend's generator): `code(expr)`, `size(pair)`, `literal(value)`,
  `argument(value)`, `activation(act, inplace)`, `conv_unit(norm, act, groups, bias, biased)`,
  `need(helper)`, `deploy`, `channels` (each block's symbolic channels), `blocks`,
  `kept(graph)`, `slice_bounds(graph, op)`, `channels_of(graph, node)`, `input_of(graph,
  node)`;
- `fig` (the graphviz backend): `value(v)`, `window(op)`, `kernel(op)`, `blocks`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import ClassVar

from ..ir import expr as ex
from ..ir.expr import Expr

Size = tuple[int, int]
# (expression, what it is, its least value) -> its whole value in this instance, or None after
# reporting why it has none
Value = Callable[..., "int | None"]
# Where channels come from, for lineage: (the module that made them, how many), in order.
Channels = tuple[tuple[str, int], ...]

# The rules every op kind states, each in its own file or through a mixin below that states it
# for a category (weightless, no module of its own): register() refuses a kind without one.
RULES = ("channels", "size", "cost", "describe", "tensors", "lineage", "torch_module",
         "torch_forward", "label", "fill")
# What an op kind that specs write says of its language: its models (the long forms, pydantic,
# each with its `type:`), its compact forms (first words -> a reader of the rest into a long
# form), their syntax for messages, where it stands in listings, and its elaboration.
LANGUAGE_RULES = ("SPECS", "COMPACT", "SYNTAX", "ORDER", "from_spec")
REGISTRY: dict[str, type[Op]] = {}


class ShapeError(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


class Op:
    """An operation of the IR. Categories a pass or a phase may read: `opcode` (the walk's hook
    for it, ir/walk.py: the graph's "input", a block "call", or an "op" of its own), `arity`
    (how many inputs it takes; None for two or more), `module` (it becomes a module, an
    attribute, of generated code), `weighted` (it holds trained tensors), `rank` (the input it
    needs: 3 for C x H x W, 1 for flat C, 0 for either), `counts` (what its channel count is
    called, if it sets one), `main_path` (it joins a block's input with its layers' output),
    `takes_channels_last` (it also takes a channels-last tensor, N x H x W x C after `permute
    nhwc`, acting on its channels and keeping that layout; any other op refuses one)."""

    tag: ClassVar[str]  # its key in the registry
    SPECS: ClassVar[tuple] = ()  # its language models; () for an op no spec writes
    COMPACT: ClassVar[dict] = {}
    SYNTAX: ClassVar[tuple[str, ...]] = ()
    ORDER: ClassVar[int] = 0

    @classmethod
    def from_spec(cls, model, ctx, key: str) -> Op:
        """The op a model of its language elaborates to; `ctx` (spec/elaborate.py) resolves
        expressions, windows and the settings' defaults, and reports errors at `key`."""
        raise NotImplementedError
    opcode: ClassVar[str] = "op"
    arity: ClassVar[int | None] = 1
    module = True
    weighted = False
    rank = 3
    counts: str | None = None
    main_path: str | None = None  # joining a block's input with its layers' output, this
    # names the layers' variable in generated forward (`out` for a residual sum)
    block_kind = "block"  # what a block that ends in it is called (docstrings)
    uses_drop_path_rate = False  # its rate is the network's drop_path_rate's (scheduled)
    training_only = False  # it computes nothing in eval: the deploy network leaves it out
    takes_channels_last = False

    def laid_out(self, channels_last: bool) -> Op:
        """The op told the layout of its input, after shape inference (ir/shapes.py), where its
        module or figure depends on it (a layer norm's); most ops are the same in both."""
        return self

    def infer(self, check, inputs: list):
        """Its output shape in a block instance, from its inputs' (C, H, W); `check` (ir/shapes.py)
        evaluates its numbers and reports what is wrong. A layer's is read from its rules
        (channels, size, cost); a step that checks its inputs against each other states its
        own."""
        return check.layer(self, inputs)

    residual_scale: Expr | None = None  # a residual sum's scale
    own_conv: Op | None = None  # the conv whose weights it holds (a conv, a fused conv-add)
    batch_statistics = False  # in training, it normalises with the batch's statistics
    classifier_part: str | None = None  # its part in timm's classifier head: "pool" (global),
    # "dropout" or "linear"

    def draw(self, pen, sources: list[tuple[str, str]]) -> list[tuple[str, str]]:
        """Its part of a figure, from `sources`: the (figure node, edge label) of each drawn
        step it reads; gives the same of what its readers draw edges from. A box of its
        label, unless it says otherwise."""
        box = pen.box(self)
        for source, shape in sources:
            pen.edge(source, box, shape)
        return [(box, pen.shape)]

    def problems(self) -> list[str]:
        """What is wrong with its fields, for ir/verify.py: a bug in the phase that made it."""
        return []

    def torch_init(self, emit, graph) -> list[str]:
        """Lines its block's constructor needs beside the modules (a residual activation)."""
        return []

    def torch_channel_runs(self, emit, graph) -> list[tuple[Expr, Expr]]:
        """The runs of its input's channels that its forward expression reads, as generated
        code writes their bounds (a slice's)."""
        return []

    def named(self, node: str) -> str:
        """How messages name its step `node`."""
        return f"`{node}` ({self.describe()})"

    def channels(self, inputs: list[Expr]) -> Expr:
        """Its output channels, from its inputs'."""
        raise NotImplementedError

    def channels_at(self, inputs: list[Expr], size: Size | None) -> Expr:
        """Its output channels where they depend on its input's height and width (`size`, or
        None where its block's instances differ in it): a flatten's. Most ops' are
        `channels`'."""
        return self.channels(inputs)

    def size(self, inputs: list[Size], value: Value) -> Size | None:
        """The output height and width; None when the output is flat."""
        raise NotImplementedError

    def cost(self, cin: int, cout: int, out: Size | None, value: Value) -> tuple[int, int]:
        """(parameters, multiply-accumulates)."""
        raise NotImplementedError

    def describe(self) -> str:
        """How the compact syntax writes it, for messages."""
        raise NotImplementedError

    def tensors(self, cin: int, cout: int) -> list[tuple[str, tuple[int, ...], bool]]:
        """(name within its module, shape, is a parameter) of each tensor of its module."""
        raise NotImplementedError

    def lineage(self, inputs: list[Channels], path: str, cout: int) -> Channels:
        """The channels it gives, from its inputs': which module made each (`path` is its own
        module's), so that `archc diff` sees what a tensor after it reads."""
        raise NotImplementedError

    def torch_module(self, emit, cin: Expr, cout: Expr) -> str:
        """The constructor expression of its module in generated code."""
        raise NotImplementedError

    def torch_forward(self, emit, graph, node: str, unit: str | None,
                      inputs: list[str]) -> str | None:
        """The expression of generated forward that computes it from its inputs' variables
        (None: it needs no line); `unit` is its module's attribute."""
        raise NotImplementedError

    def label(self, fig) -> str:
        """Its box in a figure, as the paper labels it: `3x3 Conv (384 stride 2 V)`."""
        raise NotImplementedError

    def fill(self) -> str:
        """Its box's colour, a key of the figures' FILL ("" for none)."""
        raise NotImplementedError


def register(cls: type[Op]) -> type[Op]:
    """Adds an op kind to the registry, refusing one that leaves a rule to Op (a weightless
    permutation reported as passing its channels on would be a silent bug)."""
    def left_to_op(rule: str) -> bool:
        return next(k for k in cls.__mro__ if rule in vars(k)) is Op

    missing = [rule for rule in RULES + (LANGUAGE_RULES if cls.SPECS else ())
               if left_to_op(rule)]
    if missing:
        raise TypeError(f"op {cls.__name__} states no rule for {', '.join(missing)}")
    if cls.tag in REGISTRY:
        raise TypeError(f"two ops of kind {cls.tag}: {REGISTRY[cls.tag].__name__}, "
                        f"{cls.__name__}")
    REGISTRY[cls.tag] = cls
    return cls


# ----------------------------------------------------------------------------- categories


class Weightless:
    """No tensors: its channels are its input's, passed on as they are."""

    weighted = False

    def tensors(self, cin, cout):
        return []

    def lineage(self, inputs, path, cout):
        return inputs[0]

    def cost(self, cin, cout, out, value):
        return 0, 0


class Weighted:
    """Trained tensors: the channels it gives are made by its own module."""

    weighted = True

    def lineage(self, inputs, path, cout):
        return ((path, cout),)


class Passthrough:
    """Its input's channels and size."""

    def channels(self, inputs):
        return inputs[0]

    def size(self, inputs, value):
        return inputs[0]


class ModuleCall:
    """Generated forward calls its module on its input."""

    def torch_forward(self, emit, graph, node, unit, inputs):
        return f"self.{unit}({inputs[0]})"


class NoModule:
    """A step of the graph with no module of its own in generated code."""

    module = False

    def torch_module(self, emit, cin, cout):
        raise AssertionError(f"{type(self).__name__} has no module")  # archc's bug


# ----------------------------------------------------------------------------- windows


def pair_text(values) -> str:
    a, b = (ex.to_text(v) for v in values)
    return f"{atom(a)}x{atom(b)}"


def atom(text: str) -> str:
    return text if text.replace("_", "").isalnum() else f"({text})"


def window(size: int, kernel: int, stride: int, pads: tuple[int, int], ceil: bool) -> int | None:
    """One side of a conv or pool output, as PyTorch computes it; None if the window does not
    fit. In ceil mode a last window may hang over the end (even of an input smaller than it)."""
    span = size + pads[0] + pads[1] - kernel + (stride - 1 if ceil else 0)
    if span < 0:
        return None
    out = span // stride + 1
    if ceil and (out - 1) * stride >= size + pads[0]:
        out -= 1  # the last window must start inside the input or its left padding
    return out if out >= 1 else None


def same_padding(kernel: tuple[Expr, Expr]) -> tuple[tuple[Expr, Expr], tuple[Expr, Expr]]:
    """The padding that keeps the size at stride 1: (k - 1) // 2 on each side of each axis."""
    pads = [ex.binop("//", ex.binop("-", k, 1), 2) for k in kernel]
    return ((pads[0], pads[0]), (pads[1], pads[1]))


class Windowed:
    """A kernel sliding over the input: conv and pool."""

    kernel: tuple[Expr, Expr]
    stride: tuple[Expr, Expr]
    padding: tuple[tuple[Expr, Expr], tuple[Expr, Expr]]  # (top, bottom), (left, right)
    ceil_mode: bool = False

    def problems(self):
        numbers = [*self.kernel, *self.stride, *self.padding[0], *self.padding[1]]
        out = [] if all(ex.is_expr(e) for e in numbers) else ["a window that is not numbers"]
        if len(self.padding) != 2 or any(len(side) != 2 for side in self.padding):
            out.append("padding is not per side")
        return out

    def numbers(self, value: Value):
        kernel = tuple(value(k, "the kernel side") for k in self.kernel)
        stride = tuple(value(s, "the stride") for s in self.stride)
        pads = tuple(tuple(value(p, "the padding", 0) for p in side) for side in self.padding)
        if None in kernel or None in stride or None in pads[0] or None in pads[1]:
            return None
        return kernel, stride, pads

    def size(self, inputs, value):
        numbers = self.numbers(value)
        if numbers is None:
            return (None, None)
        kernel, stride, pads = numbers
        h, w = inputs[0]
        if h is None:
            return (None, None)
        out = tuple(window(n, k, s, p, self.ceil_mode)
                    for n, k, s, p in zip((h, w), kernel, stride, pads))
        if None in out:
            raise ShapeError("E501", f"{self.describe()} needs an input of at least "
                                     f"{kernel[0] - sum(pads[0])} x {kernel[1] - sum(pads[1])}, "
                                     f"gets {h} x {w}")
        return out

    def window_text(self) -> str:
        text = pair_text(self.kernel)
        if self.stride[0] == self.stride[1] and self.stride[0] != 1:
            text += f" /{atom(ex.to_text(self.stride[0]))}"
        elif self.stride[0] != self.stride[1]:
            text += f" /{pair_text(self.stride)}"
        pads = self.padding
        if pads == ((0, 0), (0, 0)):
            if any(k != 1 for k in self.kernel):
                text += " V"
        elif pads != same_padding(self.kernel):
            text += f" pad={pair_text((pads[0][0], pads[1][0]))}"
        return text + (" ceil" if self.ceil_mode else "")


def bind(op: Op, values: Mapping[str, Expr]) -> Op:
    """The operation with symbols replaced in every number it holds (e.g. `in` by the channels
    every instance of its block gets)."""
    def sub(value):
        if isinstance(value, tuple):
            return tuple(sub(v) for v in value)
        if isinstance(value, Op):  # an op inside an op: a fused conv's, a conv unit's norm
            return bind(value, values)
        return ex.substitute(value, values)  # leaves what is not an expression as it is

    changes = {f.name: sub(getattr(op, f.name)) for f in dataclasses.fields(op)}
    return dataclasses.replace(op, **changes)
