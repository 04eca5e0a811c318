"""Flatten: C x H x W -> C * H * W, channel by channel (nn.Flatten), as VGG's and AlexNet's
classifiers read their features: `avgpool adaptive 7x7`, then `flatten`, then `linear 4096`.
Generated code writes the count: every instance of a block that holds one gets the same height
and width, since nothing joins a flat output with another (a concat and an add refuse it)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..ir import expr as ex
from ..spec.fields import Node
from .base import ModuleCall, Op, Weightless, register


class FlattenLayer(Node):
    type: Literal["flatten"] = "flatten"


def _read(tokens: list[str], text: str) -> dict | None:
    return None if tokens else {"type": "flatten"}


@register
@dataclass(frozen=True)
class Flatten(Weightless, ModuleCall, Op):
    tag = "flatten"
    SPECS = (FlattenLayer,)
    COMPACT = {"flatten": _read}
    SYNTAX = ("flatten",)
    ORDER = 35

    @classmethod
    def from_spec(cls, model, ctx, key: str) -> Flatten:
        return cls()

    def infer(self, check, inputs):
        shape = inputs[0]
        if shape is None:
            return None
        if len(shape) != 3:
            check.error("E504", f"flatten needs a C x H x W input, gets the flat "
                                f"{check.show(shape)}")
            return None
        return (None,) if None in shape else (shape[0] * shape[1] * shape[2],)

    def channels(self, inputs):
        raise AssertionError("a flatten's channels depend on its input's size (channels_at)")

    def channels_at(self, inputs, size):
        assert size is not None, "a flatten whose block's instances differ in size"
        return ex.binop("*", inputs[0], size[0] * size[1])

    def size(self, inputs, value):
        return None

    def lineage(self, inputs, path, cout):
        # Each channel becomes H x W features, in order: what a linear layer after it reads.
        per_channel = cout // sum(count for _, count in inputs[0])
        return tuple((origin, count * per_channel) for origin, count in inputs[0])

    def describe(self):
        return "flatten"

    def torch_module(self, emit, cin, cout):
        return "nn.Flatten()"

    def label(self, fig):
        return "Flatten"

    def fill(self):
        return ""
