"""BatchNorm2d: a layer of its own, and the normalisation part of a conv unit."""

from __future__ import annotations

from dataclasses import dataclass

from .base import ModuleCall, Op, Passthrough, Weighted, register


@register
@dataclass(frozen=True)
class BatchNorm(Weighted, Passthrough, ModuleCall, Op):
    eps: float
    momentum: float
    tag = "bn"
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
        return emit.batchnorm(emit.code(cin), self)

    def torch_constructor(self, channels: str) -> str:
        """`nn.BatchNorm2d(channels, ...)`, its settings written where they are not torch's."""
        momentum = f", momentum={self.momentum!r}" if self.momentum != 0.1 else ""
        eps = f", eps={self.eps!r}" if self.eps != 1e-5 else ""
        return f"nn.BatchNorm2d({channels}{eps}{momentum})"

    def label(self, fig):
        return "BatchNorm"

    def fill(self):
        return ""
