"""BatchNorm2d: a layer of its own, and the normalisation part of a conv unit."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import Field

from ..spec.fields import Node
from .base import ModuleCall, Op, Passthrough, Weighted, register


class BatchNormLayer(Node):
    """BatchNorm2d over its input's channels; eps and momentum default to settings.batchnorm."""

    type: Literal["bn"] = "bn"
    eps: Annotated[float, Field(gt=0, lt=1)] | None = None
    momentum: Annotated[float, Field(gt=0, le=1)] | None = None


def _read(tokens: list[str], text: str) -> dict | None:
    return None if tokens else {"type": "bn"}


@register
@dataclass(frozen=True)
class BatchNorm(Weighted, Passthrough, ModuleCall, Op):
    eps: float
    momentum: float
    tag = "bn"
    batch_statistics = True
    SPECS = (BatchNormLayer,)
    COMPACT = {"bn": _read}
    SYNTAX = ("bn",)
    ORDER = 60

    @classmethod
    def from_spec(cls, model, ctx, key: str) -> BatchNorm:
        return ctx.batchnorm(model.eps, model.momentum)
    rank = 0

    def cost(self, cin, cout, out, value):
        return 2 * cout, 0

    def describe(self):
        return "bn"

    def tensors(self, cin, cout):
        return [("weight", (cout,), True), ("bias", (cout,), True),
                ("running_mean", (cout,), False), ("running_var", (cout,), False),
                ("num_batches_tracked", (), False)]

    def torch_module(self, emit, cin, cout):
        return self.torch_constructor(emit.code(cin))

    def torch_constructor(self, channels: str) -> str:
        """`nn.BatchNorm2d(channels, ...)`, its settings written where they are not torch's."""
        momentum = f", momentum={self.momentum!r}" if self.momentum != 0.1 else ""
        eps = f", eps={self.eps!r}" if self.eps != 1e-5 else ""
        return f"nn.BatchNorm2d({channels}{eps}{momentum})"

    def label(self, fig):
        return "BatchNorm"

    def fill(self):
        return ""
