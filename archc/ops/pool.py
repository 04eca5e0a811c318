"""Max and average pooling over a window."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import Field

from ..ir.expr import Expr
from ..spec.fields import Kernel, Node, Padding, Stride
from ..spec.words import PADDING_WORDS, window_layer
from .base import ModuleCall, Op, ShapeError, Weightless, Windowed, register


class MaxPoolLayer(Node):
    type: Literal["maxpool"] = "maxpool"
    kernel: Kernel
    stride: Stride = 1
    padding: Padding = "same"
    ceil: bool = Field(False, description="ceil_mode: a last, partial window counts")


class AvgPoolLayer(Node):
    """Average pooling; whether padding counts in the average is set by `settings.avgpool`
    unless `count_pad` is given."""

    type: Literal["avgpool"] = "avgpool"
    kernel: Kernel
    stride: Stride = 1
    padding: Padding = "same"
    ceil: bool = Field(False, description="ceil_mode: a last, partial window counts")
    count_pad: bool | None = None


def _reader(kind: str):
    def read(tokens: list[str], text: str) -> dict:
        return window_layer(kind, tokens, text, {**PADDING_WORDS, "ceil": ("ceil", True)},
                            {"pad": "padding"})
    return read


@register
@dataclass(frozen=True)
class Pool(Weightless, Windowed, ModuleCall, Op):
    kind: str  # "max" or "avg"
    kernel: tuple[Expr, Expr]
    stride: tuple[Expr, Expr]
    padding: tuple[tuple[Expr, Expr], tuple[Expr, Expr]]
    ceil_mode: bool = False
    count_pad: bool = False  # average pools: the padding counts in the average
    tag = "pool"
    SPECS = (MaxPoolLayer, AvgPoolLayer)
    COMPACT = {"maxpool": _reader("maxpool"), "avgpool": _reader("avgpool")}
    SYNTAX = ("maxpool KxK [/S] [V|pad=P] [ceil]", "avgpool KxK ...")
    ORDER = 20

    @classmethod
    def from_spec(cls, model, ctx, key: str) -> Pool:
        kernel, stride, padding = ctx.window(model, key)
        if isinstance(model, MaxPoolLayer):
            return cls("max", kernel, stride, padding, model.ceil)
        count_pad = ctx.settings.avgpool.count_pad if model.count_pad is None else \
            model.count_pad
        return cls("avg", kernel, stride, padding, model.ceil, count_pad)

    def channels(self, inputs):
        return inputs[0]

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

    def torch_module(self, emit, cin, cout):
        args = [emit.size(self.kernel), f"stride={emit.size(self.stride)}"]
        (top, _), (left, _) = self.padding
        if (top, left) != (0, 0):
            args.append(f"padding={emit.size((top, left))}")
        if self.ceil_mode:
            args.append("ceil_mode=True")
        if self.kind == "max":
            return f"nn.MaxPool2d({', '.join(args)})"
        if not self.count_pad and (top, left) != (0, 0):
            args.append("count_include_pad=False")
        return f"nn.AvgPool2d({', '.join(args)})"

    def label(self, fig):
        details = fig.window(self) + (["ceil"] if self.ceil_mode else [])
        if self.kind == "avg" and not details and self.kernel == (3, 3):
            return "Avg Pooling"
        name = "MaxPool" if self.kind == "max" else "AvgPool"
        kernel = fig.kernel(self)
        return f"{kernel} {name} ({' '.join(details)})" if details else f"{kernel} {name}"

    def fill(self):
        return "pool"
