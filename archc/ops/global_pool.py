"""The global average pool: C x H x W -> C."""

from __future__ import annotations

from dataclasses import dataclass

from .base import ModuleCall, Op, Weightless, register


@register
@dataclass(frozen=True)
class GlobalAvgPool(Weightless, ModuleCall, Op):
    tag = "global_avgpool"

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
