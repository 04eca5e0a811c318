"""Layer normalisation over the channels at each position (Ba et al. 2016, as ConvNeXt uses it):
a mean and a variance per position, then a weight and a bias per channel. `layernorm`, or
`layernorm eps=1e-6`; `{type: layernorm, eps: 1e-6}`. On an N x C x H x W tensor it is
torchvision's LayerNorm2d (nn.LayerNorm over the channels, between two permutes), on a
channels-last one (after `permute nhwc`) nn.LayerNorm over its last dimension: the same weights,
the same numbers."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Annotated, Literal

from pydantic import Field

from ..spec.fields import Node
from ..spec.words import number_options
from .base import ModuleCall, Op, Passthrough, Weighted, register

EPS = 1e-5  # PyTorch's default


class LayerNormLayer(Node):
    """LayerNorm over its input's channels; eps defaults to PyTorch's 1e-5."""

    type: Literal["layernorm"] = "layernorm"
    eps: Annotated[float, Field(gt=0, lt=1)] = EPS


def _read(tokens: list[str], text: str) -> dict:
    options = number_options(tokens, ("eps",))
    if options is None:
        raise ValueError(f"`{text}`: write layernorm alone or with its eps, e.g. "
                         "layernorm eps=1e-6")
    return {"type": "layernorm", **options}


@register
@dataclass(frozen=True)
class LayerNorm(Weighted, Passthrough, ModuleCall, Op):
    eps: float = EPS
    # its input is channels-last (shape inference tells it); not in its text, the permutes are
    channels_last: bool = field(default=False, repr=False)
    tag = "layernorm"
    takes_channels_last = True
    SPECS = (LayerNormLayer,)
    COMPACT = {"layernorm": _read}
    SYNTAX = ("layernorm [eps=E]",)
    ORDER = 61

    @classmethod
    def from_spec(cls, model, ctx, key: str) -> LayerNorm:
        return cls(model.eps)

    def laid_out(self, channels_last):
        return dataclasses.replace(self, channels_last=channels_last)

    def cost(self, cin, cout, out, value):
        return 2 * cout, 0

    def describe(self):
        return "layernorm" + (f" eps={self.eps:g}" if self.eps != EPS else "")

    def tensors(self, cin, cout):
        return [("weight", (cout,), True), ("bias", (cout,), True)]

    def torch_module(self, emit, cin, cout):
        eps = f", eps={self.eps!r}" if self.eps != EPS else ""
        if self.channels_last:
            return f"nn.LayerNorm({emit.code(cin)}{eps})"
        emit.need("LayerNorm2d")
        return f"LayerNorm2d({emit.code(cin)}{eps})"

    def label(self, fig):
        return "LayerNorm"

    def fill(self):
        return ""
