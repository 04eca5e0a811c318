"""The identity: a step that computes nothing (nn.Identity), for a place a network keeps a
module without work, as torchvision and timm do (an optional norm, a shortcut in a list)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..spec.fields import Node
from .base import ModuleCall, Op, Passthrough, Weightless, register


class IdentityLayer(Node):
    type: Literal["identity"] = "identity"


def _read(tokens: list[str], text: str) -> dict | None:
    return None if tokens else {"type": "identity"}


@register
@dataclass(frozen=True)
class Identity(Weightless, Passthrough, ModuleCall, Op):
    tag = "identity"
    rank = 0
    takes_channels_last = True  # per element: either layout
    SPECS = (IdentityLayer,)
    COMPACT = {"identity": _read}
    SYNTAX = ("identity",)
    ORDER = 75

    @classmethod
    def from_spec(cls, model, ctx, key: str) -> Identity:
        return cls()

    def describe(self):
        return "identity"

    def torch_module(self, emit, cin, cout):
        return "nn.Identity()"

    def label(self, fig):
        return "Identity"

    def fill(self):
        return ""
