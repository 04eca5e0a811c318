"""An external PyTorch module, the language's escape hatch: what archc cannot say is named by its
import path, with its arguments and a declared rule for what it gives (its channels, its stride),
so that a user is never blocked by the language. `external mypkg.layers.CBAM`, or
`{type: external, module: mypkg.layers.CBAM, args: {channels: in, reduction: 16}, channels: in,
stride: 1}`.

archc checks shapes from the declared rule, not from the module, and never imports it to check,
build or draw: a spec cannot make archc run code. The generated file imports it (`import
mypkg.layers`), so running the model (archc.build_model, archc train) does. Its weights are its
own: archc counts neither them nor its multiply-accumulates, diff and migrate do not list them,
and the deploy module copies them as they are."""

from __future__ import annotations

import keyword
import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import Field, PlainValidator, WithJsonSchema

from ..activations import ACTIVATIONS
from ..backends.torch.names import HELPERS, RESERVED_NAMES
from ..ir import expr as ex
from ..ir.expr import Expr
from ..spec.fields import (
    EXPR_SCHEMA,
    Filters,
    Node,
    PlainName,
    Stride,
    argument_value,
    fail,
)
from .base import ModuleCall, Op, Weighted, atom, register

# A dotted import path of a class: a module, then the class (mypkg.layers.CBAM).
IMPORT_PATH = r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+"


def _import_path(value: Any) -> str:
    if not isinstance(value, str) or len(value) > 200 or not re.fullmatch(IMPORT_PATH, value):
        raise fail("E203", "must be a class's import path, a module and the class: "
                           "`mypkg.layers.CBAM`")
    root = value.split(".")[0]
    if root != "torch" and (root in RESERVED_NAMES or root in HELPERS or keyword.iskeyword(root)):
        raise fail("E209", f"`{value}`: a package named `{root}` would shadow a name of the "
                           "generated module")
    return value


class ExternalLayer(Node):
    """A module of a package of one's own, with the rule archc checks shapes by."""

    type: Literal["external"] = "external"
    module: Annotated[str, PlainValidator(_import_path),
                      WithJsonSchema({"type": "string", "pattern": f"^{IMPORT_PATH}$"})]
    args: dict[PlainName,
               Annotated[Any, PlainValidator(argument_value),
                         WithJsonSchema({"anyOf": [{"type": "number"},
                                                   {"enum": list(ACTIVATIONS)},
                                                   EXPR_SCHEMA]})]] = {}
    channels: Filters | None = Field(None, description="the channels it gives; default: its "
                                                       "input's")
    stride: Stride = Field(1, description="it divides the height and width by this (rounding "
                                          "up)")


def _read(tokens: list[str], text: str) -> dict:
    if len(tokens) != 1:
        raise ValueError(f"`{text}`: write external with a class's import path, e.g. external "
                         "mypkg.layers.CBAM (the long form takes its args, channels and stride)")
    return {"type": "external", "module": tokens[0]}


@register
@dataclass(frozen=True)
class External(Weighted, ModuleCall, Op):
    module_path: str
    args: tuple[tuple[str, Expr | str], ...]
    out_channels: Expr | None  # None: the input's
    stride: Expr
    tag = "external"
    rank = 3
    counts = "the channels"
    SPECS = (ExternalLayer,)
    COMPACT = {"external": _read}
    SYNTAX = ("external PACKAGE.MODULE.CLASS",)
    ORDER = 90

    @classmethod
    def from_spec(cls, model: ExternalLayer, ctx, key: str) -> External:
        root = model.module.split(".")[0]
        if root in ctx.params:
            ctx.diags.error(model.pos, "E209", f"`{root}` names a parameter here and the package "
                                               f"of {model.module}: rename the parameter", key)
        args = tuple((name, ctx.argument(value, model.pos, f"{key}.args.{name}"))
                     for name, value in model.args.items())
        channels = None if model.channels is None else \
            ctx.expr(model.channels, model.at("channels"), key + ".channels")
        return cls(model.module, args, channels,
                   ctx.expr(model.stride, model.at("stride"), key + ".stride"))

    @property
    def package(self) -> str:
        return self.module_path.rsplit(".", 1)[0]

    @property
    def class_name(self) -> str:
        return self.module_path.rsplit(".", 1)[1]

    def channels(self, inputs):
        return inputs[0] if self.out_channels is None else self.out_channels

    def size(self, inputs, value):
        stride = value(self.stride, "the stride", 1)
        if stride is None:
            return None
        return tuple(-(-side // stride) for side in inputs[0])

    def cost(self, cin, cout, out, value):
        return 0, 0  # its own: archc cannot know them

    def describe(self):
        args = ", ".join(f"{k}={v if isinstance(v, str) else ex.to_text(v)}" for k, v in self.args)
        return f"external {self.module_path}({args})"

    def tensors(self, cin, cout):
        return []

    def torch_module(self, emit, cin, cout):
        if self.package not in ("torch", "torch.nn"):  # imported in every generated file
            emit.need(f"import {self.package}")
        args = ", ".join(f"{name}={emit.argument(value)}" for name, value in self.args)
        return f"{self.module_path}({args})"

    def label(self, fig):
        stride = "" if self.stride == 1 else f" stride {atom(fig.value(self.stride))}"
        return f"{self.class_name} ({self.package}{stride})"

    def fill(self):
        return ""
