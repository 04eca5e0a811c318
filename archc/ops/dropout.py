"""Dropout: its probability of zeroing."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import Field

from ..spec.fields import Node
from ..spec.words import number_or_text
from .base import ModuleCall, Op, Passthrough, Weightless, register


class DropoutLayer(Node):
    type: Literal["dropout"] = "dropout"
    p: Annotated[float, Field(ge=0.0, lt=1.0, description="probability of zeroing")]


def _read(tokens: list[str], text: str) -> dict:
    if len(tokens) != 1 or not isinstance(p := number_or_text(tokens[0]), (int, float)):
        raise ValueError(f"`{text}`: write dropout with its probability, e.g. dropout 0.2")
    return {"type": "dropout", "p": float(p)}


@register
@dataclass(frozen=True)
class Dropout(Weightless, Passthrough, ModuleCall, Op):
    p: float
    tag = "dropout"
    classifier_part = "dropout"
    SPECS = (DropoutLayer,)
    COMPACT = {"dropout": _read}
    SYNTAX = ("dropout P",)
    ORDER = 40

    @classmethod
    def from_spec(cls, model, ctx, key: str) -> Dropout:
        return cls(model.p)
    rank = 0
    takes_channels_last = True  # per element: either layout

    def describe(self):
        return f"dropout {self.p:g}"

    def torch_module(self, emit, cin, cout):
        return f"nn.Dropout({emit.argument(self.p)})"  # p may be the constructor's drop_rate

    def label(self, fig):
        return f"Dropout (keep {1 - self.p:.2g})"

    def fill(self):
        return ""
