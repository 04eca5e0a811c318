"""An activation layer (`relu`, `silu`, ...), and the table of activations: a new one is one
entry here (its name in specs, its torch class, whether it may work in place)."""

from __future__ import annotations

from dataclasses import dataclass

from ..ir.expr import Sym
from .base import ModuleCall, Op, Passthrough, Weightless, register

# name -> (torch.nn class, whether generated code may run it in place)
TABLE = {"relu": ("ReLU", True), "relu6": ("ReLU6", True), "silu": ("SiLU", True),
         "gelu": ("GELU", False), "sigmoid": ("Sigmoid", False), "tanh": ("Tanh", False),
         "hardswish": ("Hardswish", True)}
ACTIVATION_FUNCTIONS = tuple(TABLE)
ACTIVATIONS = (*ACTIVATION_FUNCTIONS, "none")  # what a conv unit or a residual add may apply
ACTIVATION_CLASSES = {name: cls for name, (cls, _) in TABLE.items()}


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
    rank = 0

    def describe(self):
        return self.function.name if isinstance(self.function, Sym) else self.function

    def torch_module(self, emit, cin, cout):
        return emit.activation(self.function)

    def label(self, fig):
        return f"Activation ({fig.value(self.function)})"

    def fill(self):
        return ""
