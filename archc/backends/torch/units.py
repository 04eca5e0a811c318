"""The conv unit classes of a generated module (ConvBnReLU, ...): Conv2d, then BatchNorm2d
and/or an activation, one class per combination the module's convs use."""

from __future__ import annotations

from dataclasses import dataclass

from ...activations import ACTIVATION_CLASSES
from ...ir import graph as ir
from ...ops.activation import activation_module
from .text import wrap


@dataclass(frozen=True)
class ConvUnit:
    """A helper class of the generated module: Conv2d, then BatchNorm2d and/or an activation."""

    norm: ir.BatchNorm | None
    act: str  # an activation's name, or "param" for one chosen by the constructor's argument
    groups: bool  # whether the constructor takes groups
    bias: bool  # whether the constructor takes bias
    biased: bool = False  # every conv of this unit has a bias (deploy): it takes no argument

    @property
    def name(self) -> str:
        act = "Act" if self.act == "param" else ACTIVATION_CLASSES.get(self.act, "")
        return "Conv" + ("Bn" if self.norm else "") + act

    @property
    def doc(self) -> str:
        parts = ["Conv2d" if self.bias or self.biased else "Conv2d without bias"]
        if self.norm:
            parts.append("BatchNorm2d")
        if self.act == "param":
            parts.append("the activation named by `activation`")
        elif self.act != "none":
            parts.append(ACTIVATION_CLASSES[self.act])
        plain = self.norm and self.act == "relu" and not self.bias
        return ("The paper's plain conv: " if plain else "") + " -> ".join(parts) + "."

    @property
    def signature(self) -> str:
        extra = (", groups=1" if self.groups else "") + (", bias=False" if self.bias else "")
        extra += ", activation=\"relu\"" if self.act == "param" else ""
        return f"in_channels: int, out_channels: int, kernel_size, stride=1, padding=0{extra}"

    @property
    def init(self) -> list[str]:
        args = "in_channels, out_channels, kernel_size, stride, padding"
        args += ", groups=groups" if self.groups else ""
        args += ", bias=bias" if self.bias else "" if self.biased else ", bias=False"
        lines = wrap(f"        self.conv = nn.Conv2d({args})")
        if self.norm:
            lines.append(f"        self.bn = {self.norm.torch_constructor('out_channels')}")
        if self.act == "param":
            lines.append("        self.act = ACTIVATIONS[activation]()")
        elif self.act != "none":
            lines.append(f"        self.act = {activation_module(self.act, inplace=True)}")
        return lines

    @property
    def constructor(self) -> list[str]:
        return wrap(f"    def __init__(self, {self.signature}):")

    @property
    def fused(self) -> bool:
        """Whether forward runs conv, bias and ReLU as one call where it can (deploy)."""
        return self.biased and self.act == "relu" and self.norm is None

    @property
    def forward(self) -> str:
        if self.fused:
            return "fused(self.conv, x)"
        out = "self.conv(x)"
        if self.norm:
            out = f"self.bn({out})"
        return f"self.act({out})" if self.act != "none" else out
