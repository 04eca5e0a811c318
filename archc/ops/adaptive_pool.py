"""An average pool to a fixed output size, whatever the input's (PyTorch's AdaptiveAvgPool2d):
`avgpool adaptive 7x7` before VGG's classifier, `avgpool adaptive 1x1` in a squeeze-excitation
gate (C x H x W -> C x 1 x 1, where `avgpool global` gives the flat C)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..spec.fields import Kernel, Node
from .base import ModuleCall, Op, Weightless, pair_text, register


class AdaptiveAvgPoolLayer(Node):
    type: Literal["adaptive_avgpool"] = "adaptive_avgpool"
    size: Kernel


def _read(tokens: list[str], text: str) -> dict:
    if len(tokens) != 1:
        raise ValueError(f"`{text}`: write the output size, e.g. avgpool adaptive 7x7")
    return {"type": "adaptive_avgpool", "size": tokens[0]}


@register
@dataclass(frozen=True)
class AdaptiveAvgPool(Weightless, ModuleCall, Op):
    size_out: tuple
    tag = "adaptive_avgpool"
    SPECS = (AdaptiveAvgPoolLayer,)
    COMPACT = {"avgpool adaptive": _read}
    SYNTAX = ("avgpool adaptive HxW",)
    ORDER = 31

    @classmethod
    def from_spec(cls, model: AdaptiveAvgPoolLayer, ctx, key: str) -> AdaptiveAvgPool:
        return cls(tuple(ctx.expr(side, model.at("size"), key + ".size")
                         for side in model.size))

    def channels(self, inputs):
        return inputs[0]

    def size(self, inputs, value):
        sides = tuple(value(side, "the output size") for side in self.size_out)
        return (None, None) if None in sides else sides

    def describe(self):
        return f"avgpool adaptive {pair_text(self.size_out)}"

    def torch_module(self, emit, cin, cout):
        return f"nn.AdaptiveAvgPool2d({emit.size(self.size_out)})"

    def label(self, fig):
        if self.size_out == (1, 1):
            return "Global pooling"  # as Hu et al.'s Figure 2 labels the squeeze
        return f"Adaptive Avg Pooling ({'x'.join(fig.value(s) for s in self.size_out)})"

    def fill(self):
        return "pool"
