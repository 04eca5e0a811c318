"""Group normalisation (Wu and He 2018): the channels in G groups, each normalised over its
channels and positions, then a weight and a bias per channel (nn.GroupNorm). `groupnorm 32`, or
`groupnorm 32 eps=1e-6`; `{type: groupnorm, groups: 32}`. G must divide the channels (E509);
`groupnorm 1` normalises over all channels and positions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import Field

from ..ir import expr as ex
from ..ir.expr import Expr
from ..spec.fields import Groups, Node
from ..spec.words import number_options, number_or_text
from .base import ModuleCall, Op, Passthrough, ShapeError, Weighted, atom, register

EPS = 1e-5  # PyTorch's default


class GroupNormLayer(Node):
    """GroupNorm over its input's channels in `groups` groups; eps defaults to PyTorch's 1e-5."""

    type: Literal["groupnorm"] = "groupnorm"
    groups: Groups
    eps: Annotated[float, Field(gt=0, lt=1)] = EPS


def _read(tokens: list[str], text: str) -> dict:
    options = number_options(tokens[1:], ("eps",))
    if not tokens or "=" in tokens[0] or options is None:
        raise ValueError(f"`{text}`: write groupnorm with its number of groups and, if not "
                         "1e-5, its eps, e.g. groupnorm 32 eps=1e-6")
    return {"type": "groupnorm", "groups": number_or_text(tokens[0]), **options}


@register
@dataclass(frozen=True)
class GroupNorm(Weighted, Passthrough, ModuleCall, Op):
    groups: Expr
    eps: float = EPS
    tag = "groupnorm"
    SPECS = (GroupNormLayer,)
    COMPACT = {"groupnorm": _read}
    SYNTAX = ("groupnorm G [eps=E]",)
    ORDER = 62

    @classmethod
    def from_spec(cls, model, ctx, key: str) -> GroupNorm:
        return cls(ctx.expr(model.groups, model.at("groups"), key + ".groups"), model.eps)

    def cost(self, cin, cout, out, value):
        groups = value(self.groups, "the number of groups")
        if groups is not None and cin % groups:
            raise ShapeError("E509", f"{self.describe()}: {cin} channels do not divide into "
                                     f"{groups} groups")
        return 2 * cout, 0

    def describe(self):
        eps = f" eps={self.eps:g}" if self.eps != EPS else ""
        return f"groupnorm {atom(ex.to_text(self.groups))}{eps}"

    def tensors(self, cin, cout):
        return [("weight", (cout,), True), ("bias", (cout,), True)]

    def torch_module(self, emit, cin, cout):
        eps = f", eps={self.eps!r}" if self.eps != EPS else ""
        return f"nn.GroupNorm({emit.code(self.groups)}, {emit.code(cin)}{eps})"

    def label(self, fig):
        return f"GroupNorm ({fig.value(self.groups)} groups)"

    def fill(self):
        return ""
