"""Channel shuffle (ShuffleNet): the channels, in `groups` groups, interleaved, so that the
next grouped conv reads from every group. `shuffle 2`, or `{type: shuffle, groups: 2}`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..ir import expr as ex
from ..ir.expr import Expr
from ..spec.fields import Groups, Node
from ..spec.words import number_or_text
from .base import ModuleCall, Op, Passthrough, ShapeError, atom, register


class ShuffleLayer(Node):
    type: Literal["shuffle"] = "shuffle"
    groups: Groups


def _read(tokens: list[str], text: str) -> dict:
    if len(tokens) != 1:
        raise ValueError(f"`{text}`: write shuffle with its number of groups, e.g. shuffle 2")
    return {"type": "shuffle", "groups": number_or_text(tokens[0])}


@register
@dataclass(frozen=True)
class ChannelShuffle(Passthrough, ModuleCall, Op):
    groups: Expr
    tag = "shuffle"
    SPECS = (ShuffleLayer,)
    COMPACT = {"shuffle": _read}
    SYNTAX = ("shuffle G",)
    ORDER = 55

    @classmethod
    def from_spec(cls, model: ShuffleLayer, ctx, key: str) -> ChannelShuffle:
        return cls(ctx.expr(model.groups, model.at("groups"), key + ".groups"))

    def cost(self, cin, cout, out, value):
        groups = value(self.groups, "the number of groups")
        if groups is not None and cin % groups:
            raise ShapeError("E509", f"{self.describe()}: {cin} channels do not divide into "
                                     f"{groups} groups")
        return 0, 0

    def describe(self):
        return f"shuffle {atom(ex.to_text(self.groups))}"

    def tensors(self, cin, cout):
        return []

    def lineage(self, inputs, path, cout):
        # Each output channel is another input channel: what reads them reads something new.
        return ((path, cout),)

    def torch_module(self, emit, cin, cout):
        return f"nn.ChannelShuffle({emit.code(self.groups)})"

    def label(self, fig):
        return f"Channel shuffle ({fig.value(self.groups)} groups)"

    def fill(self):
        return ""
