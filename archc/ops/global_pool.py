"""The global average pool: C x H x W -> C."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..spec.fields import Node
from .base import ModuleCall, Op, Weightless, register


class GlobalAvgPoolLayer(Node):
    """Average over height and width: C x H x W -> C."""

    type: Literal["global_avgpool"] = "global_avgpool"


def _read(tokens: list[str], text: str) -> dict | None:
    return None if tokens else {"type": "global_avgpool"}


@register
@dataclass(frozen=True)
class GlobalAvgPool(Weightless, ModuleCall, Op):
    tag = "global_avgpool"
    classifier_part = "pool"
    SPECS = (GlobalAvgPoolLayer,)
    COMPACT = {"avgpool global": _read}
    SYNTAX = ("avgpool global",)
    ORDER = 30

    @classmethod
    def from_spec(cls, model, ctx, key: str) -> GlobalAvgPool:
        return cls()

    def channels(self, inputs):
        return inputs[0]

    def size(self, inputs, value):
        return None

    def describe(self):
        return "avgpool global"

    def torch_module(self, emit, cin, cout):
        emit.need("global_pool")
        return "GlobalAvgPool()"

    def label(self, fig):
        return "Average Pooling"

    def fill(self):
        return "pool"
