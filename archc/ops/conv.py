"""A conv unit: Conv2d, then an optional BatchNorm, then an optional activation; grouped and
depthwise convs are its groups."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar, Literal

from pydantic import Field

from ..activations import ACTIVATION_FUNCTIONS
from ..ir import expr as ex
from ..ir.expr import Expr, Sym
from ..spec.fields import Activation, Filters, Groups, Kernel, Layout, Node, Norm, Padding, Stride
from ..spec.words import PADDING_WORDS, window_layer
from .base import ModuleCall, Op, ShapeError, Weighted, Windowed, atom, pair_text, register
from .batchnorm import BatchNorm


class ConvLayer(Node):
    """A conv unit: Conv2d -> BatchNorm -> activation, each part as `settings.conv` says unless
    given here; `linear: true` is a Conv2d with bias and nothing after it."""

    type: Literal["conv"] = "conv"
    kernel: Kernel
    filters: Filters
    stride: Stride = 1
    padding: Padding = "same"
    groups: Groups = 1
    norm: Norm | None = Field(None, description="bn or none; default settings.conv.norm")
    activation: Activation | None = Field(None, description="default settings.conv.activation")
    bias: bool | None = Field(None, description="default settings.conv.bias")
    linear: bool = Field(False, description="no BN, no activation, conv with bias")
    layout: Layout | None = Field(None, description="unit (.conv, .bn) or sequential (.0, .1); "
                                                    "default settings.conv.layout")
    WIDTH_FIELDS: ClassVar[tuple[str, ...]] = ("filters",)


class DwConvLayer(ConvLayer):
    """A depthwise conv unit: one group per input channel."""

    type: Literal["dwconv"] = "dwconv"
    filters: Filters | None = Field(None, description="default: the input's channels")
    groups: None = Field(None, description="always one group per input channel")


_FLAGS = {
    **PADDING_WORDS,
    "linear": ("linear", True), "bn": ("norm", "bn"), "nobn": ("norm", "none"),
    "noact": ("activation", "none"), "bias": ("bias", True), "nobias": ("bias", False),
    **{a: ("activation", a) for a in ACTIVATION_FUNCTIONS},
}


def _reader(kind: str, keys: dict, filters: str):
    def read(tokens: list[str], text: str) -> dict:
        out = window_layer(kind, tokens, text, _FLAGS, keys, filters)
        if out.get("linear") and {"norm", "activation", "bias"} & set(out):
            raise ValueError(f"`{text}`: linear already means nobn noact bias")
        return out
    return read


@register
@dataclass(frozen=True)
class Conv(Weighted, Windowed, ModuleCall, Op):
    """`act` is an activation's name or a block parameter."""

    filters: Expr | None  # None: as many as its input has (a depthwise conv)
    kernel: tuple[Expr, Expr]
    stride: tuple[Expr, Expr]
    padding: tuple[tuple[Expr, Expr], tuple[Expr, Expr]]
    groups: Expr | None = 1  # None: one group per input channel (depthwise)
    bias: bool = False
    norm: BatchNorm | None = None
    act: str | Sym = "none"
    layout: str = "unit"  # "unit": .conv/.bn/.act; "sequential": .0/.1/.2

    tag = "conv"
    counts = "the filter count"
    SPECS = (ConvLayer, DwConvLayer)
    COMPACT = {"conv": _reader("conv", {"pad": "padding", "groups": "groups",
                                        "act": "activation"}, "required"),
               "dwconv": _reader("dwconv", {"pad": "padding", "act": "activation"}, "optional")}
    SYNTAX = ("conv KxK FILTERS [/S] [V|same|pad=P] [groups=G] [bn|nobn] [ACTIVATION|noact] "
              "[bias|nobias] [linear]", "dwconv KxK [FILTERS] ...")
    ORDER = 10

    @classmethod
    def from_spec(cls, model: ConvLayer, ctx, key: str) -> Conv:
        defaults = ctx.settings.conv
        kernel, stride, padding = ctx.window(model, key)
        filters = None if model.filters is None else \
            ctx.expr(model.filters, model.at("filters"), key + ".filters")
        groups = None if isinstance(model, DwConvLayer) else \
            ctx.expr(model.groups, model.at("groups"), key + ".groups")
        if model.linear:
            norm, act, bias = None, "none", True
        else:
            norm = ctx.batchnorm() if (model.norm or defaults.norm) == "bn" else None
            act = ctx.activation(model.activation or defaults.activation,
                                 model.at("activation"), key + ".activation")
            bias = defaults.bias if model.bias is None else model.bias
        return cls(filters, kernel, stride, padding, groups, bias, norm, act,
                   model.layout or defaults.layout)

    def channels(self, inputs):
        return inputs[0] if self.filters is None else self.filters

    def cost(self, cin, cout, out, value):
        kernel = [value(k, "the kernel side") for k in self.kernel]
        groups = cin if self.groups is None else value(self.groups, "the number of groups")
        if None in kernel or groups is None:
            return 0, 0
        if cin % groups or cout % groups:
            raise ShapeError("E509", f"{self.describe()}: {cin} input and {cout} output channels "
                                     f"do not divide into {groups} groups")
        weights = kernel[0] * kernel[1] * (cin // groups) * cout
        extra = (cout if self.bias else 0) + (2 * cout if self.norm else 0)
        return weights + extra, weights * math.prod(out)

    @property
    def own_conv(self):
        return self

    def problems(self):
        out = super().problems()
        if self.filters is not None and not ex.is_expr(self.filters):
            out.append(f"filters {self.filters!r}")
        if self.layout not in ("unit", "sequential"):
            out.append(f"layout {self.layout!r}")
        return out

    @property
    def batch_statistics(self):
        return self.norm is not None

    def named(self, node):
        return f"the 1x1 projection `{node}`" if self.kernel == (1, 1) else super().named(node)

    @property
    def bare(self) -> bool:
        """A Conv2d alone, without BatchNorm or activation."""
        return self.norm is None and self.act == "none"

    def describe(self):
        if self.groups is None:
            text = f"dwconv {pair_text(self.kernel)}"
            text += "" if self.filters is None else f" {atom(ex.to_text(self.filters))}"
        else:
            text = f"conv {pair_text(self.kernel)} {atom(ex.to_text(self.filters))}"
        text += self.window_text()[len(pair_text(self.kernel)):]
        if self.groups not in (1, None):
            text += f" groups={atom(ex.to_text(self.groups))}"
        if self.bare and self.bias:
            return text + " linear"
        # The paper's plain conv (BN and ReLU, no bias) needs no words.
        text += "" if self.norm else " nobn"
        if isinstance(self.act, Sym):
            text += f" act={self.act.name}"
        else:
            text += {"relu": "", "none": " noact"}.get(self.act, f" {self.act}")
        return text + (" bias" if self.bias else "")

    # ------------------------------------------------------------------ its tensors and code

    def prefixes(self) -> tuple[str, str]:
        """Where its Conv2d and BatchNorm keep their tensors within its module: `conv.` and
        `bn.` (a unit class), `0.` and `1.` (an nn.Sequential), or the module itself (a bare
        Conv2d)."""
        if self.bare:
            return "", ""
        return ("0.", "1.") if self.layout == "sequential" else ("conv.", "bn.")

    def tensors(self, cin, cout):
        groups = cin if self.groups is None else self.groups
        conv_prefix, bn_prefix = self.prefixes()
        parts = [(conv_prefix + "weight", (cout, cin // groups, *self.kernel), True)]
        if self.bias:
            parts.append((conv_prefix + "bias", (cout,), True))
        if self.norm is not None:
            parts += [(bn_prefix + name, shape, parameter)
                      for name, shape, parameter in self.norm.tensors(cout, cout)]
        return parts

    def torch_args(self, emit, cin: Expr, cout: Expr) -> list[str]:
        """Conv2d's arguments, as its unit classes take them too."""
        args = [emit.code(cin), emit.code(cout), emit.size(self.kernel)]
        if self.stride != (1, 1):
            args.append(f"stride={emit.size(self.stride)}")
        (top, bottom), (left, right) = self.padding
        if (top, left) != (bottom, right):
            raise ValueError("the torch backend writes symmetric padding only")
        if (top, left) != (0, 0):
            args.append(f"padding={emit.size((top, left))}")
        if self.groups != 1:
            groups = cin if self.groups is None else self.groups
            args.append(f"groups={emit.code(groups)}")
        return args

    def torch_module(self, emit, cin, cout):
        args = self.torch_args(emit, cin, cout)
        conv2d = f"nn.Conv2d({', '.join(args if self.bias else [*args, 'bias=False'])})"
        if self.bare and emit.deploy and self.layout == "unit":  # biased: passes.fold_bn
            emit.need("plain_conv")
            return f"Conv({', '.join(args)})"
        if self.bare:
            return conv2d
        if self.layout == "sequential":
            parts = [conv2d]
            if self.norm:
                parts.append(self.norm.torch_constructor(emit.code(cout)))
            if self.act != "none":
                parts.append(emit.activation(self.act, inplace=True))
            return "nn.Sequential(\n" + "".join(f"    {p},\n" for p in parts) + ")"
        act = "param" if isinstance(self.act, Sym) else self.act
        biased = emit.deploy  # passes.fold_bn gives every conv a bias
        unit = emit.conv_unit(self.norm, act, self.groups != 1, self.bias and not biased, biased)
        if self.bias and not biased:
            args.append("bias=True")
        if act == "param":
            args.append(f"activation={self.act.name}")
        return f"{unit}({', '.join(args)})"

    def label(self, fig):
        details = [] if self.filters is None else [fig.value(self.filters)]
        details += fig.window(self)
        if self.groups is None:
            details.append("depthwise")
        elif self.groups != 1:
            details.append(f"groups {fig.value(self.groups)}")
        if self.bare and self.bias:
            details.append("Linear")
        else:
            details += [] if self.norm else ["no BN"]
            act = fig.value(self.act)
            details += [] if act == "relu" else ["no activation" if act == "none" else act]
        return f"{fig.kernel(self)} Conv ({' '.join(details)})"

    def fill(self):
        return "linear" if self.bare and self.bias else "conv"
