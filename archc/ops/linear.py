"""A fully connected layer with bias."""

from __future__ import annotations

from dataclasses import dataclass
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
    tag = "linear"
    classifier_part = "linear"
    SPECS = (LinearLayer,)
    COMPACT = {"linear": _read}
    SYNTAX = ("linear FEATURES",)
    ORDER = 50

    @classmethod
    def from_spec(cls, model, ctx, key: str) -> Linear:
        return cls(ctx.expr(model.features, model.at("features"), key + ".features"))
    rank = 1
    counts = "the features"

    def channels(self, inputs):
        return self.features

    def size(self, inputs, value):
        return None

    def cost(self, cin, cout, out, value):
        return cin * cout + cout, cin * cout

    def describe(self):
        return f"linear {atom(ex.to_text(self.features))}"

    def tensors(self, cin, cout):
        return [("weight", (cout, cin), True), ("bias", (cout,), True)]

    def torch_module(self, emit, cin, cout):
        return f"nn.Linear({emit.code(cin)}, {emit.code(cout)})"

    def label(self, fig):
        return f"Linear ({fig.value(self.features)})"

    def fill(self):
        return ""
