"""Dropout: its probability of zeroing."""

from __future__ import annotations

from dataclasses import dataclass

from .base import ModuleCall, Op, Passthrough, Weightless, register


@register
@dataclass(frozen=True)
class Dropout(Weightless, Passthrough, ModuleCall, Op):
    p: float
    tag = "dropout"
    rank = 0

    def describe(self):
        return f"dropout {self.p:g}"

    def torch_module(self, emit, cin, cout):
        return f"nn.Dropout({self.p!r})"

    def label(self, fig):
        return f"Dropout (keep {1 - self.p:.2g})"

    def fill(self):
        return ""
