"""An activation layer (`relu`, `silu`, ...); the activations themselves are archc/activations.py's
table."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..activations import ACTIVATION_FUNCTIONS, TABLE
from ..ir.expr import Sym
from ..spec.fields import Node
from .base import ModuleCall, Op, Passthrough, Weightless, register


class ActivationLayer(Node):
    """An activation as a layer of its own: `relu`, `relu6`, `silu`..."""

    type: Literal[ACTIVATION_FUNCTIONS]  # type: ignore[valid-type]


def _reader(name: str):
    def read(tokens: list[str], text: str) -> dict | None:
        return None if tokens else {"type": name}
    return read


def activation_module(name: str, inplace: bool = False) -> str:
    """The torch module of a named activation: `nn.ReLU(inplace=True)`."""
    if name == "none":
        return "nn.Identity()"
    cls, can = TABLE[name]
    return f"nn.{cls}({'inplace=True' if inplace and can else ''})"


@register
@dataclass(frozen=True)
class Activation(Weightless, Passthrough, ModuleCall, Op):
    """An activation's name, or a block parameter that names one."""

    function: str | Sym
    tag = "activation"
    SPECS = (ActivationLayer,)
    COMPACT = {name: _reader(name) for name in ACTIVATION_FUNCTIONS}
    SYNTAX = ("relu, relu6, silu, ...",)
    ORDER = 70

    @classmethod
    def from_spec(cls, model, ctx, key: str) -> Activation:
        return cls(model.type)
    rank = 0
    takes_channels_last = True  # per element: either layout

    def describe(self):
        return self.function.name if isinstance(self.function, Sym) else self.function

    def torch_module(self, emit, cin, cout):
        return emit.activation(self.function)

    def label(self, fig):
        return fig.activation(self.function)

    def fill(self):
        return ""
