"""A fully connected layer with bias."""

from __future__ import annotations

from dataclasses import dataclass

from ..ir import expr as ex
from ..ir.expr import Expr
from .base import ModuleCall, Op, Weighted, atom, register


@register
@dataclass(frozen=True)
class Linear(Weighted, ModuleCall, Op):
    features: Expr
    tag = "linear"
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
