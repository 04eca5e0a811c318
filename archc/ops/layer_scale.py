"""Layer scale (Touvron et al. 2021, CaiT; ConvNeXt): a learnable weight per channel that
multiplies the step's input, initialised to a small value so that a residual branch starts
near zero. `layer_scale 1e-6`, or `{type: layer_scale, init: 1e-6}`, as a named step of its own
(`- layer_scale: layer_scale 1e-6`): it is a parameter of its module, not a module,
`self.layer_scale = nn.Parameter(torch.full((C, 1, 1), 1e-06))`, whose state_dict key is the
step's name itself (torchvision's `features.1.0.layer_scale`), and forward multiplies by it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import Field

from ..spec.fields import Node
from ..spec.words import number_or_text
from .base import Op, Passthrough, Weighted, register


class LayerScaleLayer(Node):
    type: Literal["layer_scale"] = "layer_scale"
    init: Annotated[float, Field(allow_inf_nan=False, description="each weight's initial value")]


def _read(tokens: list[str], text: str) -> dict:
    if len(tokens) != 1 or not isinstance(init := number_or_text(tokens[0]), (int, float)):
        raise ValueError(f"`{text}`: write layer_scale with its initial value, "
                         "e.g. layer_scale 1e-6")
    return {"type": "layer_scale", "init": float(init)}


@register
@dataclass(frozen=True)
class LayerScale(Weighted, Passthrough, Op):
    init: float
    tag = "layer_scale"
    SPECS = (LayerScaleLayer,)
    COMPACT = {"layer_scale": _read}
    SYNTAX = ("layer_scale INIT",)
    ORDER = 63

    @classmethod
    def from_spec(cls, model, ctx, key: str) -> LayerScale:
        return cls(model.init)

    def infer(self, check, inputs):
        if check.node.in_sequential:
            check.error("E207", f"{self.describe()} is a parameter of its module, not a module: "
                                "it cannot be a member of an nn.Sequential; give it a name of "
                                "its own (`- layer_scale: layer_scale 1e-6`)")
        return check.layer(self, inputs)

    def cost(self, cin, cout, out, value):
        return cout, 0

    def describe(self):
        return f"layer_scale {self.init:g}"

    def tensors(self, cin, cout):
        return [("", (cout, 1, 1), True)]  # the attribute itself: `block.layer_scale`

    def torch_module(self, emit, cin, cout):
        return f"nn.Parameter(torch.full(({emit.code(cin)}, 1, 1), {self.init!r}))"

    def torch_forward(self, emit, graph, node, unit, inputs):
        return f"self.{unit} * {inputs[0]}"

    def label(self, fig):
        return f"Layer scale ({self.init:g})"

    def fill(self):
        return ""
