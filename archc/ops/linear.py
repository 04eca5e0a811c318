"""A fully connected layer with bias: over a flat input's features (a classifier), or over the
channels of a channels-last tensor at every position (after `permute nhwc`: ConvNeXt's pointwise
layers, a 1x1 conv written as nn.Linear)."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Literal

from ..ir import expr as ex
from ..ir.expr import Expr
from ..spec.fields import Filters, Node
from ..spec.words import number_or_text
from .base import ModuleCall, Op, Weighted, atom, register


class LinearLayer(Node):
    """Fully connected layer with bias (no BN, no activation)."""

    type: Literal["linear"] = "linear"
    features: Filters


def _read(tokens: list[str], text: str) -> dict:
    if len(tokens) != 1:
        raise ValueError(f"`{text}`: write linear with its output features, "
                         "e.g. linear num_classes")
    return {"type": "linear", "features": number_or_text(tokens[0])}


@register
@dataclass(frozen=True)
class Linear(Weighted, ModuleCall, Op):
    features: Expr
    # its input is channels-last (shape inference tells it); not in its text, the permutes are
    channels_last: bool = field(default=False, repr=False)
    act: str = field(default="none", repr=False)  # a deploy module's fused activation
    tag = "linear"
    classifier_part = "linear"
    SPECS = (LinearLayer,)
    COMPACT = {"linear": _read}
    SYNTAX = ("linear FEATURES",)
    ORDER = 50

    @classmethod
    def from_spec(cls, model, ctx, key: str) -> Linear:
        return cls(ctx.expr(model.features, model.at("features"), key + ".features"))
    rank = 1  # flat, or channels-last (shape inference refuses C x H x W: E505)
    counts = "the features"
    takes_channels_last = True

    def laid_out(self, channels_last):
        return dataclasses.replace(self, channels_last=channels_last)

    def channels(self, inputs):
        return self.features

    def size(self, inputs, value):
        return inputs[0]  # asked only of a channels-last input: each position is kept

    def cost(self, cin, cout, out, value):
        return cin * cout + cout, cin * cout * math.prod(out)

    def describe(self):
        return f"linear {atom(ex.to_text(self.features))}"

    def tensors(self, cin, cout):
        return [("weight", (cout, cin), True), ("bias", (cout,), True)]

    def torch_module(self, emit, cin, cout):
        if emit.deploy and (self.channels_last or self.act != "none"):  # a pointwise layer
            emit.need("ONEDNN_LINEAR")
            emit.need("Linear")
            act = f", act={emit.literal(self.act)}" if self.act != "none" else ""
            return f"Linear({emit.code(cin)}, {emit.code(cout)}{act})"
        return f"nn.Linear({emit.code(cin)}, {emit.code(cout)})"

    def label(self, fig):
        if self.channels_last:  # a 1x1 conv with bias and nothing after it (ConvNeXt's Fig. 4)
            return f"1x1 Conv ({fig.value(self.features)} Linear)"
        return f"Linear ({fig.value(self.features)})"

    def fill(self):
        return "linear" if self.channels_last else ""
