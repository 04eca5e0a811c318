"""Stochastic depth (Huang et al. 2016), timm's drop path: in training, a residual branch is
dropped for a whole sample with probability p and kept, scaled by 1 / (1 - p), otherwise; in
eval it is the identity. `drop_path` as a step of a residual block's layers; the network's
`drop_path_rate` gives the rates, rising linearly from 0 at the first drop path to the rate at
the last (timm's schedule), and generated network classes take it as a constructor argument."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..spec.fields import Node
from .base import ModuleCall, Op, Passthrough, Weightless, register


class DropPathLayer(Node):
    type: Literal["drop_path"] = "drop_path"


def _read(tokens: list[str], text: str) -> dict:
    if tokens:
        raise ValueError(f"`{text}`: write drop_path alone; its rate comes from the network's "
                         "drop_path_rate")
    return {"type": "drop_path"}


@register
@dataclass(frozen=True)
class DropPath(Weightless, Passthrough, ModuleCall, Op):
    tag = "drop_path"
    rank = 0
    takes_channels_last = True  # per sample: either layout
    uses_drop_path_rate = True
    training_only = True
    SPECS = (DropPathLayer,)
    COMPACT = {"drop_path": _read}
    SYNTAX = ("drop_path",)
    ORDER = 45

    @classmethod
    def from_spec(cls, model, ctx, key: str) -> DropPath:
        return cls()

    def describe(self):
        return "drop_path"

    def torch_module(self, emit, cin, cout):
        emit.need("drop_path")
        return "DropPath()"

    def label(self, fig):
        return "Drop path"

    def fill(self):
        return ""
