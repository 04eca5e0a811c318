"""A permute of the dimensions between the two layouts of a C x H x W tensor: `permute nhwc`
makes it channels-last, N x H x W x C (torchvision's Permute([0, 2, 3, 1])), so that `linear` and
`layernorm` act on its channels at every position, as ConvNeXt's block does; `permute nchw`
(Permute([0, 3, 1, 2])) brings it back. Shape inference tracks the layout; shapes stay C x H x W
in meaning. Between the two, only ops that act on channels or elements (linear, layernorm,
activations, dropout, identity, drop_path) may stand: any other, a block call, or the end of a
block, the body or the head refuses a channels-last tensor (E504)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..spec.fields import Node
from .base import ModuleCall, Op, Passthrough, Weightless, register

# The layout -> the dimension order torch permutes an input in the other layout to.
ORDERS = {"nhwc": (0, 2, 3, 1), "nchw": (0, 3, 1, 2)}


class PermuteLayer(Node):
    type: Literal["permute"] = "permute"
    to: Literal["nhwc", "nchw"]


def _read(tokens: list[str], text: str) -> dict:
    if len(tokens) != 1 or tokens[0] not in ORDERS:
        raise ValueError(f"`{text}`: write permute nhwc (to channels-last) or permute nchw "
                         "(back to channels-first)")
    return {"type": "permute", "to": tokens[0]}


@register
@dataclass(frozen=True)
class Permute(Weightless, Passthrough, ModuleCall, Op):
    to: str  # "nhwc" or "nchw", the layout it gives
    tag = "permute"
    takes_channels_last = True  # `permute nchw` reads one
    SPECS = (PermuteLayer,)
    COMPACT = {"permute": _read}
    SYNTAX = ("permute nhwc|nchw",)
    ORDER = 56

    @classmethod
    def from_spec(cls, model, ctx, key: str) -> Permute:
        return cls(model.to)

    def infer(self, check, inputs):
        shape = check.layer(self, inputs)  # its input C x H x W (E504), its cost
        if shape is None or len(shape) != 3:
            return shape
        last = check.channels_last(inputs[0])
        if last == (self.to == "nhwc"):
            check.error("E504", f"{self.describe()}: its input is "
                                f"{'channels-last' if last else 'channels-first'} already")
        return check.in_layout(shape, self.to == "nhwc")

    def problems(self):
        return [] if self.to in ORDERS else [f"permute to {self.to!r}"]

    def describe(self):
        return f"permute {self.to}"

    def torch_module(self, emit, cin, cout):
        emit.need("Permute")
        return f"Permute({list(ORDERS[self.to])})"

    def label(self, fig):
        return f"Permute ({self.to.upper()})"

    def draw(self, pen, sources):
        # Not drawn: the layout is how code computes a layer, not a step of the paper's figure
        # (ConvNeXt's Figure 4 draws LN and the 1x1 convs, not the permutes around them).
        return sources

    def fill(self):
        return ""
