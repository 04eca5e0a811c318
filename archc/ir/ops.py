"""The IR's operations, each with its own rules: output channels, output size, cost, and how the
compact spec syntax writes it. A new kind of layer is one class here.

Fields are resolved: padding is given per side, BatchNorm and activation are separate parts of a
conv unit, defaults from the spec's settings are filled in. Numbers are expressions (expr.py) of
the block's parameters; `size` and `cost` get them evaluated through `value`, a function that
evaluates an expression in the current block instance (and reports what it cannot evaluate).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from . import expr as ex
from .expr import Expr, Sym

ACTIVATION_FUNCTIONS = ("relu", "relu6", "silu", "gelu", "sigmoid", "tanh", "hardswish")
ACTIVATIONS = (*ACTIVATION_FUNCTIONS, "none")  # what a conv unit or a residual add may apply

Size = tuple[int, int]
# (expression, what it is, its least value) -> its whole value in this instance, or None after
# reporting why it has none
Value = Callable[..., "int | None"]


class ShapeError(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def _pair(values) -> str:
    a, b = (ex.to_text(v) for v in values)
    return f"{_atom(a)}x{_atom(b)}"


def _atom(text: str) -> str:
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


class Op:
    """Defaults: a layer that keeps its input's channels and size, and costs nothing."""

    module = True  # becomes a module (an attribute) in generated code
    weighted = False  # holds trained tensors (weights, biases, statistics)
    rank = 3  # the input it needs: 3 (C x H x W), 1 (flat C) or 0 (either)
    counts: str | None = None  # what its channel count is called, if it sets one

    def channels(self, inputs: list[Expr]) -> Expr:
        return inputs[0]

    def size(self, inputs: list[Size], value: Value) -> Size | None:
        """The output height and width; None when the output is flat."""
        return inputs[0]

    def cost(self, cin: int, cout: int, out: Size | None, value: Value) -> tuple[int, int]:
        """(parameters, multiply-accumulates)."""
        return 0, 0

    def describe(self) -> str:
        return type(self).__name__.lower()


class _Window(Op):
    kernel: tuple[Expr, Expr]
    stride: tuple[Expr, Expr]
    padding: tuple[tuple[Expr, Expr], tuple[Expr, Expr]]  # (top, bottom), (left, right)
    ceil_mode: bool = False

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
        text = _pair(self.kernel)
        if self.stride[0] == self.stride[1] and self.stride[0] != 1:
            text += f" /{_atom(ex.to_text(self.stride[0]))}"
        elif self.stride[0] != self.stride[1]:
            text += f" /{_pair(self.stride)}"
        pads = self.padding
        if pads == ((0, 0), (0, 0)):
            if any(k != 1 for k in self.kernel):
                text += " V"
        elif pads != same_padding(self.kernel):
            text += f" pad={_pair((pads[0][0], pads[1][0]))}"
        return text + (" ceil" if self.ceil_mode else "")


def bind(op: Op, values: Mapping[str, Expr]) -> Op:
    """The operation with symbols replaced in every number it holds (e.g. `in` by the channels
    every instance of its block gets)."""
    def sub(value):
        if isinstance(value, tuple):
            return tuple(sub(v) for v in value)
        return ex.substitute(value, values)  # leaves what is not an expression as it is

    changes = {f.name: sub(getattr(op, f.name)) for f in dataclasses.fields(op)}
    return dataclasses.replace(op, **changes)


def same_padding(kernel: tuple[Expr, Expr]) -> tuple[tuple[Expr, Expr], tuple[Expr, Expr]]:
    """The padding that keeps the size at stride 1: (k - 1) // 2 on each side of each axis."""
    pads = [ex.binop("//", ex.binop("-", k, 1), 2) for k in kernel]
    return ((pads[0], pads[0]), (pads[1], pads[1]))


@dataclass(frozen=True)
class BatchNorm(Op):
    """BatchNorm2d; also the normalisation part of a conv unit."""

    eps: float
    momentum: float
    rank = 0
    weighted = True

    def cost(self, cin, cout, out, value):
        return 2 * cout, 0

    def describe(self):
        return "bn"


@dataclass(frozen=True)
class Conv(_Window):
    """A conv unit: Conv2d, then an optional BatchNorm, then an optional activation. `act` is an
    activation's name or a block parameter."""

    filters: Expr | None  # None: as many as its input has (a depthwise conv)
    kernel: tuple[Expr, Expr]
    stride: tuple[Expr, Expr]
    padding: tuple[tuple[Expr, Expr], tuple[Expr, Expr]]
    groups: Expr | None = 1  # None: one group per input channel (depthwise)
    bias: bool = False
    norm: BatchNorm | None = None
    act: str | Sym = "none"
    layout: str = "unit"  # "unit": .conv/.bn/.act; "sequential": .0/.1/.2

    counts = "the filter count"
    weighted = True

    def channels(self, inputs):
        return inputs[0] if self.filters is None else self.filters

    def cost(self, cin, cout, out, value):
        kernel = [value(k, "the kernel side") for k in self.kernel]
        groups = cin if self.groups is None else value(self.groups, "the number of groups")
        if None in kernel or groups is None:
            return 0, 0
        if cin % groups or cout % groups:
            raise ShapeError("E509", f"{self.describe()}: {cin} input and {cout} output channels "
                                     f"do not divide into {groups} groups")
        weights = kernel[0] * kernel[1] * (cin // groups) * cout
        extra = (cout if self.bias else 0) + (2 * cout if self.norm else 0)
        return weights + extra, weights * math.prod(out)

    @property
    def bare(self) -> bool:
        """A Conv2d alone, without BatchNorm or activation."""
        return self.norm is None and self.act == "none"

    def describe(self):
        if self.groups is None:
            text = f"dwconv {_pair(self.kernel)}"
            text += "" if self.filters is None else f" {_atom(ex.to_text(self.filters))}"
        else:
            text = f"conv {_pair(self.kernel)} {_atom(ex.to_text(self.filters))}"
        text += self.window_text()[len(_pair(self.kernel)):]
        if self.groups not in (1, None):
            text += f" groups={_atom(ex.to_text(self.groups))}"
        if self.bare and self.bias:
            return text + " linear"
        # The paper's plain conv (BN and ReLU, no bias) needs no words.
        text += "" if self.norm else " nobn"
        if isinstance(self.act, Sym):
            text += f" act={self.act.name}"
        else:
            text += {"relu": "", "none": " noact"}.get(self.act, f" {self.act}")
        return text + (" bias" if self.bias else "")


@dataclass(frozen=True)
class ConvAdd(Op):
    """act(conv(x) + shortcut), one fused call in deploy modules (passes/fuse_add.py): input 0
    is the conv's, input 1 the shortcut, of the conv's output shape."""

    conv: Conv
    act: str | Sym
    counts = "the filter count"
    weighted = True

    def channels(self, inputs):
        return self.conv.channels(inputs[:1])

    def size(self, inputs, value):
        return self.conv.size(inputs[:1], value)

    def cost(self, cin, cout, out, value):
        return self.conv.cost(cin, cout, out, value)

    def describe(self):
        return f"{self.conv.describe()} + shortcut"


@dataclass(frozen=True)
class Pool(_Window):
    kind: str  # "max" or "avg"
    kernel: tuple[Expr, Expr]
    stride: tuple[Expr, Expr]
    padding: tuple[tuple[Expr, Expr], tuple[Expr, Expr]]
    ceil_mode: bool = False
    count_pad: bool = False  # average pools: the padding counts in the average

    def size(self, inputs, value):
        numbers = self.numbers(value)
        if numbers is not None:
            kernel, _, pads = numbers
            for k, side in zip(kernel, pads):
                if max(side) > k // 2:
                    raise ShapeError("E510", f"{self.describe()}: padding {max(side)} is more "
                                             f"than half the window ({k}): PyTorch's pools take "
                                             f"at most {k // 2}")
        return super().size(inputs, value)

    def describe(self):
        return f"{self.kind}pool {self.window_text()}"


@dataclass(frozen=True)
class Activation(Op):
    function: str | Sym
    rank = 0

    def describe(self):
        return self.function.name if isinstance(self.function, Sym) else self.function


@dataclass(frozen=True)
class GlobalAvgPool(Op):
    """C x H x W -> C."""

    def size(self, inputs, value):
        return None

    def describe(self):
        return "avgpool global"


@dataclass(frozen=True)
class Dropout(Op):
    p: float
    rank = 0

    def describe(self):
        return f"dropout {self.p:g}"


@dataclass(frozen=True)
class Linear(Op):
    features: Expr
    rank = 1
    weighted = True

    counts = "the features"

    def channels(self, inputs):
        return self.features

    def size(self, inputs, value):
        return None

    def cost(self, cin, cout, out, value):
        return cin * cout + cout, cin * cout

    def describe(self):
        return f"linear {_atom(ex.to_text(self.features))}"


@dataclass(frozen=True)
class BlockCall(Op):
    """`repeat` instances of a block definition; shape inference handles it (shapes.py)."""

    block: str
    args: tuple[tuple[str, Expr | str], ...]  # in the definition's parameter order
    repeat: int = 1
    rank = 0

    def describe(self):
        args = ", ".join(f"{k}={v if isinstance(v, str) else ex.to_text(v)}"
                         for k, v in self.args)
        call = f"{self.block}({args})" if args else self.block
        return f"{self.repeat} x {call}" if self.repeat > 1 else call


@dataclass(frozen=True)
class Input(Op):
    module = False
    rank = 0


@dataclass(frozen=True)
class Concat(Op):
    """Inputs concatenated along channels, in edge order."""

    module = False
    rank = 0

    def channels(self, inputs):
        return ex.total(inputs)

    def describe(self):
        return "concat"


@dataclass(frozen=True)
class Slice(Op):
    """`width` channels of its input from `start` on, then a ReLU if `relu`: one sibling's part
    of a merged conv (passes/merge_siblings.py). A view in generated code, not a copy: it must
    be the only reader of its channels, whose ReLU may be applied in place."""

    start: Expr
    width: Expr
    relu: bool = False
    module = False
    rank = 0
    counts = "the channels"

    @property
    def stop(self) -> Expr:
        return ex.total([self.start, self.width])

    def channels(self, inputs):
        return self.width

    def describe(self):
        text = f"channels {ex.to_text(self.start)}:{ex.to_text(self.stop)}"
        return text + (" relu" if self.relu else "")


@dataclass(frozen=True)
class Add(Op):
    """The residual sum: act(shortcut + scale * residual); input 0 is the shortcut."""

    scale: Expr
    act: str | Sym
    module = False
    rank = 0

    def describe(self):
        return "add"
