"""act(conv(x) + shortcut): a residual block's last conv, its add and its activation as one
fused call in deploy modules (passes/fuse_add.py). Input 0 is the conv's, input 1 the shortcut,
of the conv's output shape."""

from __future__ import annotations

from dataclasses import dataclass

from ..ir.expr import Sym
from .base import Op, register
from .conv import Conv


@register
@dataclass(frozen=True)
class ConvAdd(Op):
    conv: Conv
    act: str | Sym
    tag = "conv_add"
    arity = 2
    counts = "the filter count"
    weighted = True
    main_path = "out"
    block_kind = "residual block"

    def channels(self, inputs):
        return self.conv.channels(inputs[:1])

    def size(self, inputs, value):
        return self.conv.size(inputs[:1], value)

    def cost(self, cin, cout, out, value):
        return self.conv.cost(cin, cout, out, value)

    def describe(self):
        return f"{self.conv.describe()} + shortcut"

    def tensors(self, cin, cout):
        return self.conv.tensors(cin, cout)

    def lineage(self, inputs, path, cout):
        return self.conv.lineage(inputs, path, cout)

    def torch_module(self, emit, cin, cout):
        return self.conv.torch_module(emit, cin, cout)

    @property
    def own_conv(self):
        return self.conv

    def torch_init(self, emit, graph):
        if not isinstance(self.act, Sym):
            return []
        return [f'        self.{emit.kept(graph).of("relu")} = {self.act.name} == "relu"']

    def torch_forward(self, emit, graph, node, unit, inputs):
        relu = "" if self.act == "relu" else ", relu=False" if self.act == "none" else \
            f", relu=self.{emit.kept(graph).of('relu')}"
        return f"fused(self.{unit}, {inputs[0]}, {inputs[1]}{relu})"

    def label(self, fig):
        return f"{self.conv.label(fig)} + shortcut"

    def fill(self):
        return self.conv.fill()
