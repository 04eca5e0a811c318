"""The spec language: pydantic models of the YAML surface syntax.

These models are the single source of truth of the language: `archc schema` prints the JSON Schema
generated from them, and docs/spec-language.md describes them.

A layer is written either compactly, close to the paper's labels (`conv 3x3 384 /2 V`), or in the
long form (`{type: conv, kernel: 3, filters: 384, stride: 2, padding: valid}`); both give the same
model. A step of a `layers` list is a layer or a block instance, unnamed (a string or a long form),
named (`name: layer`, `name: [layers]` for a group), or a `concat` of named branches.
"""

from __future__ import annotations

import builtins
import keyword
import math
import re
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    PlainValidator,
    PrivateAttr,
    RootModel,
    Tag,
    TypeAdapter,
    ValidationError,
    WithJsonSchema,
    model_validator,
)
from pydantic_core import PydanticCustomError

from ..errors import Pos


def fail(code: str, message: str) -> PydanticCustomError:
    """A validation error that carries its catalogue code (errors.CATALOGUE) as its type."""
    return PydanticCustomError(code, "{message}", {"message": message})


PYDANTIC_CODES = {
    "missing": "E201", "extra_forbidden": "E202", "union_tag_invalid": "E206",
    "too_short": "E210", "greater_than": "E204", "greater_than_equal": "E204",
    "less_than": "E204", "less_than_equal": "E204",
}


def error_code(err: dict) -> str:
    """The catalogue code of a pydantic error: ours carry it; pydantic's own map to one."""
    kind = err["type"]
    return kind if re.fullmatch(r"E\d{3}", kind) else PYDANTIC_CODES.get(kind, "E203")

MAX_CHANNELS = 1 << 16
MAX_KERNEL = 64
MAX_STRIDE = 64
MAX_REPEAT = 1000
MAX_INPUT = 8192
MAX_CLASSES = 1 << 20

IDENTIFIER = r"[A-Za-z_][A-Za-z0-9_]*"
_IDENTIFIER_RE = re.compile(rf"^{IDENTIFIER}$")

# Names the generated code already uses (attributes, locals, classes) or the language reads as
# keywords: a layer, block or parameter so named would shadow them.
RESERVED_NAMES = frozenset({
    "concat", "forward", "forward_features", "forward_head", "training", "num_classes",
    "in_channels", "self", "torch", "nn", "super", "type", "relu", "none", "x", "out",
    "ConvBnReLU", "GlobalAvgPool",
})
# nn.Module's own attributes (torch 2.14; a torch test checks the list is complete): a layer
# named like one would shadow it. The compiler does not import torch, hence the copy.
MODULE_ATTRIBUTES = frozenset({
    "T_destination", "add_module", "apply", "bfloat16", "buffers", "call_super_init",
    "children", "compile", "cpu", "cuda", "double", "dump_patches", "eval", "extra_repr",
    "float", "forward", "get_buffer", "get_extra_state", "get_parameter", "get_submodule",
    "half", "ipu", "load_state_dict", "modules", "mtia", "named_buffers", "named_children",
    "named_modules", "named_parameters", "parameters", "register_backward_hook",
    "register_buffer", "register_forward_hook", "register_forward_pre_hook",
    "register_full_backward_hook", "register_full_backward_pre_hook",
    "register_load_state_dict_post_hook", "register_load_state_dict_pre_hook",
    "register_module", "register_parameter", "register_state_dict_post_hook",
    "register_state_dict_pre_hook", "requires_grad_", "set_extra_state", "set_submodule",
    "share_memory", "state_dict", "to", "to_empty", "train", "type", "xpu", "zero_grad",
})


def check_name(name: str) -> str:
    if not _IDENTIFIER_RE.fullmatch(name):
        raise fail("E209", f"`{name}` is not a valid name: use letters, digits and _, "
                         "not starting with a digit")
    if keyword.iskeyword(name):
        raise fail("E209", f"`{name}` is a Python keyword and cannot name a layer or block")
    if name in RESERVED_NAMES or name.startswith("_") and name != "_":
        raise fail("E209", f"`{name}` is reserved: it would shadow a name of the generated "
                           "module")
    if name in MODULE_ATTRIBUTES:
        raise fail("E209", f"`{name}` is an attribute of every nn.Module and cannot name a "
                           "layer or block")
    return name


Name = Annotated[
    str,
    AfterValidator(check_name),
    WithJsonSchema({"type": "string", "pattern": f"^{IDENTIFIER}$"}),
]


def check_global_name(name: str) -> str:
    """Block (class) and parameter names are Python names in the generated module's code, where
    shadowing a builtin (`range`, `int`, `_`) would break it."""
    if name in dir(builtins) or name == "_":
        raise fail("E209", f"`{name}` is a Python builtin and cannot name a block or parameter")
    return name


GlobalName = Annotated[Name, AfterValidator(check_global_name)]


def class_name(name: str) -> str:
    """The network's class in generated code: inception_resnet_v2 -> InceptionResnetV2."""
    return "".join(part[:1].upper() + part[1:] for part in name.split("_") if part)


def check_network_name(name: str) -> str:
    if not name[:1].isalpha():
        raise fail("E209", f"`{name}` cannot name a network: start with a letter (the name "
                           "becomes a module and a class name)")
    cls = class_name(name)
    if keyword.iskeyword(cls) or cls in RESERVED_NAMES or cls in dir(builtins):
        raise fail("E209", f"`{name}` cannot name a network: its class would be `{cls}`, "
                           "a name Python or the generated module already uses")
    return name


NetworkName = Annotated[Name, AfterValidator(check_network_name)]
Count = Annotated[int, Field(ge=1, le=MAX_CHANNELS)]
_PARAM_SCHEMA = {"type": "string", "pattern": f"^{IDENTIFIER}$"}


def _is_param(value: Any) -> bool:
    return isinstance(value, str) and bool(_IDENTIFIER_RE.fullmatch(value))


def _finite(value: int | float) -> bool:
    try:
        return math.isfinite(value)
    except OverflowError:  # an integer beyond any float
        return False


def _argument(value: Any):
    """A block argument: a whole or finite number, or a name (a parameter, relu, none)."""
    if _is_param(value) or _whole(value) or (isinstance(value, float) and _finite(value)):
        return value
    if isinstance(value, float):
        raise fail("E204", f"must be a finite number, got {show_value(value)}")
    raise fail("E203", f"must be a number or a name, got {show_value(value)}")


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _filters(value: Any):
    if _is_param(value) or (_whole(value) and 1 <= value <= MAX_CHANNELS):
        return value
    raise fail("E204" if _whole(value) else "E203",
               f"must be a whole number from 1 to {MAX_CHANNELS} or a parameter name, "
               f"got {show_value(value)}")


def _scale(value: Any):
    if _is_param(value):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if _finite(value):
            return value
        raise fail("E204", f"must be a finite number, got {show_value(value)}")
    raise fail("E203", f"must be a number or a parameter name, got {show_value(value)}")


def _activation(value: Any):
    if _is_param(value):
        return value
    raise fail("E203", f"must be relu, none or a parameter name, got {show_value(value)}")


# A filter count: a number, or the name of a block parameter (Table 1's k, l, m, n) or
# `num_classes`.
Filters = Annotated[
    int | str,
    PlainValidator(_filters),
    WithJsonSchema({"anyOf": [{"type": "integer", "minimum": 1, "maximum": MAX_CHANNELS},
                              _PARAM_SCHEMA]}),
]
Scale = Annotated[
    float | str,
    PlainValidator(_scale),
    WithJsonSchema({"anyOf": [{"type": "number"}, _PARAM_SCHEMA]}),
]
Activation = Annotated[
    str,
    PlainValidator(_activation),
    WithJsonSchema({"anyOf": [{"enum": ["relu", "none"]}, _PARAM_SCHEMA]}),
]


def parse_kernel(value: Any) -> tuple[int, int]:
    """`3` or `"3x3"` -> (3, 3); `"1x7"` -> (1, 7): height x width, as the paper writes it."""
    if isinstance(value, bool):
        raise fail("E214", f"must be a size like 3, 3x3 or 1x7, got {value}")
    if isinstance(value, int):
        size = (value, value)
    elif isinstance(value, str) and (m := re.fullmatch(r"(\d+)x(\d+)", value.strip())):
        size = (int(m[1]), int(m[2]))
    else:
        raise fail("E214", f"must be a size like 3, 3x3 or 1x7, got {show_value(value)}")
    if not all(1 <= k <= MAX_KERNEL for k in size):
        raise fail("E214", f"must have sides from 1 to {MAX_KERNEL}, got {value}")
    return size


Kernel = Annotated[
    tuple[int, int],
    PlainValidator(parse_kernel),
    WithJsonSchema({
        "anyOf": [
            {"type": "integer", "minimum": 1, "maximum": MAX_KERNEL},
            {"type": "string", "pattern": r"^\d+x\d+$"},
        ],
        "description": "kernel size: 3 (square) or HxW such as 1x7",
    }),
]
Stride = Annotated[int, Field(ge=1, le=MAX_STRIDE)]
Padding = Literal["same", "valid"]


class Node(BaseModel):
    """Base of every model: strict types, no unknown keys, immutable, and a source position."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)
    _pos: Pos | None = PrivateAttr(default=None)
    _field_pos: dict = PrivateAttr(default_factory=dict)

    @model_validator(mode="wrap")
    @classmethod
    def _keep_position(cls, data: Any, handler):
        model = handler(data)
        if model._pos is None:
            model._pos = getattr(data, "pos", None)
            model._field_pos = getattr(data, "value_pos", {})
        return model

    @property
    def pos(self) -> Pos | None:
        return self._pos

    def at(self, field: str) -> Pos | None:
        """Where a field's value is written (the whole node's position for a compact layer)."""
        return self._field_pos.get(field, self._pos)


# ---------------------------------------------------------------------------------------- layers


class Conv(Node):
    """Conv2d -> BatchNorm -> ReLU; with `linear: true` a Conv2d with bias and nothing after it."""

    type: Literal["conv"] = "conv"
    kernel: Kernel
    filters: Filters
    stride: Stride = 1
    padding: Padding = "same"
    linear: bool = Field(False, description="no BN, no activation, conv with bias")


class MaxPool(Node):
    type: Literal["maxpool"] = "maxpool"
    kernel: Kernel
    stride: Stride = 1
    padding: Padding = "same"


class AvgPool(Node):
    """Average pooling; whether padding counts in the average is set by `settings.avgpool`."""

    type: Literal["avgpool"] = "avgpool"
    kernel: Kernel
    stride: Stride = 1
    padding: Padding = "same"


class GlobalAvgPool(Node):
    """Average over height and width: C x H x W -> C."""

    type: Literal["global_avgpool"] = "global_avgpool"


class Dropout(Node):
    type: Literal["dropout"] = "dropout"
    p: Annotated[float, Field(ge=0.0, lt=1.0, description="probability of zeroing")]


class Linear(Node):
    """Fully connected layer with bias (no BN, no activation)."""

    type: Literal["linear"] = "linear"
    features: Filters


ArgValue = Annotated[
    int | float | str,
    PlainValidator(_argument),
    WithJsonSchema({"anyOf": [{"type": "number"}, _PARAM_SCHEMA]}),
]


class Block(Node):
    """An instance of a block definition, `repeat` times in a row."""

    type: Literal["block"] = "block"
    block: Name
    args: dict[Name, ArgValue] = {}
    repeat: Annotated[int, Field(ge=1, le=MAX_REPEAT)] = 1


Layer = Annotated[
    Conv | MaxPool | AvgPool | GlobalAvgPool | Dropout | Linear | Block,
    Field(discriminator="type"),
]
_LAYER_ADAPTER = TypeAdapter(Layer)
LAYER_TYPES = ("conv", "maxpool", "avgpool", "global_avgpool", "dropout", "linear", "block")


# ------------------------------------------------------------------------------- compact form

_COMPACT_HELP = (
    "expected a layer (conv KxK FILTERS [/S] [V] [linear], maxpool KxK [/S] [V], "
    "avgpool KxK [/S] [V], avgpool global, dropout P, linear FEATURES) "
    "or a block (Name, N x Name, Name(arg=value, ...))"
)
_BLOCK_RE = re.compile(rf"^(?:(\d+)\s*x\s+)?({IDENTIFIER})\s*(?:\((.*)\))?$", re.DOTALL)


def _number_or_name(text: str):
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    if re.fullmatch(r"-?(\d+\.\d*|\.\d+|\d+)([eE]-?\d+)?", text):
        return float(text)
    return text


def _parse_conv_like(kind: str, tokens: list[str], text: str) -> dict:
    out: dict[str, Any] = {"type": kind}
    if not tokens or not re.fullmatch(r"\d+x\d+", tokens[0]):
        raise ValueError(f"`{text}`: {kind} needs a kernel like 3x3 or 1x7 after `{kind}`")
    out["kernel"] = tokens.pop(0)
    if kind == "conv":
        if not tokens or tokens[0].startswith("/"):
            raise ValueError(f"`{text}`: conv needs a filter count after the kernel")
        out["filters"] = _number_or_name(tokens.pop(0))
    flags = {"V": ("padding", "valid"), "valid": ("padding", "valid"), "same": ("padding", "same")}
    if kind == "conv":
        flags["linear"] = ("linear", True)
    for token in tokens:
        if m := re.fullmatch(r"/(\d+)", token):
            key, value = "stride", int(m[1])
        elif token in flags:
            key, value = flags[token]
        else:
            allowed = ", ".join(["/S"] + list(flags))
            raise ValueError(f"`{text}`: unexpected `{token}` (allowed after the "
                             f"{'filters' if kind == 'conv' else 'kernel'}: {allowed})")
        if key in out:
            raise ValueError(f"`{text}`: {key} is given twice")
        out[key] = value
    return out


def compact_to_long(text: str) -> dict:
    """The long form of a compact layer string, e.g. `conv 1x7 160` -> {type: conv, ...}."""
    tokens = text.split()
    if not tokens:
        raise ValueError("empty layer: " + _COMPACT_HELP)
    head, rest = tokens[0], tokens[1:]
    if head in ("conv", "maxpool") or (head == "avgpool" and rest != ["global"]):
        return _parse_conv_like(head, rest, text)
    if head == "avgpool":
        return {"type": "global_avgpool"}
    if head == "dropout":
        if len(rest) != 1 or not isinstance(p := _number_or_name(rest[0]), (int, float)):
            raise ValueError(f"`{text}`: write dropout with its probability, e.g. dropout 0.2")
        return {"type": "dropout", "p": float(p)}
    if head == "linear":
        if len(rest) != 1:
            raise ValueError(f"`{text}`: write linear with its output features, "
                             "e.g. linear num_classes")
        return {"type": "linear", "features": _number_or_name(rest[0])}
    m = _BLOCK_RE.match(text.strip())
    if not m:
        raise ValueError(f"cannot read `{text}`: {_COMPACT_HELP}")
    out: dict[str, Any] = {"type": "block", "block": m[2], "args": {}}
    if m[1]:
        out["repeat"] = int(m[1])
    for arg in filter(None, (a.strip() for a in (m[3] or "").split(","))):
        name, eq, value = arg.partition("=")
        name, value = name.strip(), value.strip()
        if not eq or not name or not value:
            raise ValueError(f"`{text}`: write block arguments as name=value, got `{arg}`")
        if name in out["args"]:
            raise ValueError(f"`{text}`: argument `{name}` is given twice")
        out["args"][name] = _number_or_name(value)
    return out


def parse_compact(value: Any):
    if not isinstance(value, str):
        raise fail("E203", "expected a layer written as text")
    try:
        long = compact_to_long(value)
    except ValueError as e:
        raise fail("E205", str(e)) from None
    try:
        model = _LAYER_ADAPTER.validate_python(long)
    except ValidationError as e:
        err = e.errors()[0]
        field = ".".join(str(x) for x in err["loc"][1:])  # after the layer type's tag
        raise fail(error_code(err), f"`{value}`: {field} {problem(err)}".replace("  ", " ")) \
            from None
    model._pos = getattr(value, "pos", None)
    return model


def problem(err: dict) -> str:
    """A pydantic error's complaint about a value, e.g. `must be >= 1, got 0`."""
    kind, ctx, value = err["type"], err.get("ctx", {}), err.get("input")
    bounds = {"greater_than_equal": ">=", "greater_than": ">", "less_than_equal": "<=",
              "less_than": "<"}
    if kind in bounds:
        limit = next(iter(ctx.values()))
        return f"must be {bounds[kind]} {limit}, got {show_value(value)}"
    if re.fullmatch(r"E\d{3}", kind):
        return err["msg"]
    if kind == "too_short":
        least = ctx.get("min_length")
        return f"needs at least {least} {'entry' if least == 1 else 'entries'}"
    msg = err["msg"].removeprefix("Input should be ")
    return f"must be {msg}, got {show_value(value)}" if msg != err["msg"] else \
        f"{msg[:1].lower()}{msg[1:]}, got {show_value(value)}"


def show_value(value: Any) -> str:
    """A value as an error message quotes it, shortened."""
    if isinstance(value, (dict, list)):
        return "a mapping" if isinstance(value, dict) else "a list"
    if value is None:
        return "nothing"
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 40 else text[:37] + "..."


Compact = Annotated[
    Any,
    PlainValidator(parse_compact),
    WithJsonSchema({
        "type": "string",
        "description": "a layer as the paper labels it, e.g. `conv 3x3 384 /2 V`, "
                       "`conv 1x1 1154 linear`, `maxpool 3x3 /2 V`, `4 x InceptionA`, "
                       "`ReductionA(k=192, l=224, m=256, n=384)`",
    }),
]


# ------------------------------------------------------------------------------------- steps


def _value_kind(value: Any) -> str | None:
    if isinstance(value, str):
        return "compact-form"
    if isinstance(value, dict) and "type" in value:
        return "long-form"
    if isinstance(value, list):
        return "group-form"
    return None


def _step_kind(value: Any) -> str | None:
    if isinstance(value, dict) and "type" not in value:
        if list(value) == ["concat"]:
            return "concat-form"
        return "named-form"
    if isinstance(value, list):
        return None  # an unnamed list: a group needs a name
    return _value_kind(value)


# Union tags are not identifiers, so they can never be confused with names in an error's path.
UNION_TAGS = frozenset({"compact-form", "long-form", "group-form", "concat-form", "named-form"})

NamedValue = Annotated[
    (
        Annotated[Compact, Tag("compact-form")]
        | Annotated[Layer, Tag("long-form")]
        | Annotated[list["Step"], Field(min_length=1), Tag("group-form")]
    ),
    Discriminator(
        _value_kind,
        custom_error_type="E208",
        custom_error_message="expected a layer, a block instance or a list of them",
    ),
]


class Concat(Node):
    """Parallel branches, concatenated along channels in the order written."""

    concat: Annotated[dict[Name, NamedValue], Field(min_length=2)]


class Named(RootModel[dict[Name, NamedValue]]):
    """`name: layer` or `name: [layers]`: the name becomes the attribute in generated code."""

    model_config = ConfigDict(frozen=True, strict=True)
    _pos: Pos | None = PrivateAttr(default=None)

    @model_validator(mode="wrap")
    @classmethod
    def _one_name(cls, data: Any, handler):
        if isinstance(data, dict) and len(data) != 1:
            keys = ", ".join(f"`{k}`" for k in data)
            raise fail("E212", f"a step names one layer (`name: layer`), found the keys {keys}; "
                             "a long-form layer needs `type:`")
        model = handler(data)
        model._pos = getattr(data, "pos", None)
        return model

    @property
    def name(self) -> str:
        return next(iter(self.root))

    @property
    def value(self):
        return next(iter(self.root.values()))

    @property
    def pos(self) -> Pos | None:
        return self._pos


Step = Annotated[
    (
        Annotated[Compact, Tag("compact-form")]
        | Annotated[Layer, Tag("long-form")]
        | Annotated[Concat, Tag("concat-form")]
        | Annotated[Named, Tag("named-form")]
    ),
    Discriminator(
        _step_kind,
        custom_error_type="E208",
        custom_error_message="expected a layer, `name: layer`, `name: [layers]` or `concat:`",
    ),
]

# In `layers` of a block or the network, and in `head`, every layer is named: each becomes an
# attribute of the generated class. (Inside a `name: [...]` group, unnamed layers form an
# nn.Sequential.)
TopStep = Annotated[
    Annotated[Concat, Tag("concat-form")] | Annotated[Named, Tag("named-form")],
    Discriminator(
        lambda value: k if (k := _step_kind(value)) in ("concat-form", "named-form") else None,
        custom_error_type="E207",
        custom_error_message="give this layer a name (`- name: layer`): it becomes an attribute "
                             "of the generated class",
    ),
]
Layers = Annotated[list[TopStep], Field(min_length=1)]


# ------------------------------------------------------------------------------- structure


class Residual(Node):
    """out = activation(x + scale * layers(x))."""

    scale: Scale = 1.0
    activation: Activation = "relu"


# Plain text only: a title reaches figure labels and generated docstrings.
Title = Annotated[str, Field(pattern=r"^[A-Za-z0-9 _.,:()+\-]{1,60}$")]


class BlockDef(Node):
    """A reusable block: one class in generated code, one figure in the diagrams."""

    title: Title | None = Field(None, description="the paper's name, e.g. Inception-ResNet-A")
    params: list[GlobalName] = Field([], description="names the block's layers may use for numbers")
    layers: Layers
    residual: Residual | None = None


def _size(value: Any) -> tuple[int, int]:
    sides = value if isinstance(value, list) and len(value) == 2 else [value, value]
    if all(_whole(v) and 1 <= v <= MAX_INPUT for v in sides):
        return (sides[0], sides[1])
    raise fail("E204" if all(_whole(v) for v in sides) else "E203",
               f"must be a side from 1 to {MAX_INPUT} or [height, width], got {show_value(value)}")


class Input(Node):
    channels: Count = 3
    size: Annotated[
        tuple[int, int],
        PlainValidator(_size),
        WithJsonSchema({
            "anyOf": [
                {"type": "integer", "minimum": 1, "maximum": MAX_INPUT},
                {"type": "array", "minItems": 2, "maxItems": 2,
                 "items": {"type": "integer", "minimum": 1, "maximum": MAX_INPUT}},
            ],
            "description": "299 for 299x299, or [height, width]",
        }),
    ]

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.channels, *self.size)


class BatchNormSettings(Node):
    eps: Annotated[float, Field(gt=0, lt=1)] = 0.001
    momentum: Annotated[float, Field(gt=0, le=1)] = 0.1


class AvgPoolSettings(Node):
    count_pad: bool = Field(
        False,
        description="count the zero padding in the average (PyTorch's default, timm's ports) "
                    "or leave it out (TensorFlow, which trained the released weights)",
    )


class Settings(Node):
    batchnorm: BatchNormSettings = BatchNormSettings()
    avgpool: AvgPoolSettings = AvgPoolSettings()


class Library(Node):
    """A file of shared block definitions, included by specs."""

    include: list[str] = []
    blocks: dict[GlobalName, BlockDef] = {}


class Spec(Library):
    """A network: input, body (`layers`, the features) and classifier `head`."""

    name: NetworkName
    input: Input
    num_classes: Annotated[int, Field(ge=1, le=MAX_CLASSES)] = 1000
    settings: Settings = Settings()
    layers: Layers
    head: list[TopStep] = []


def json_schema() -> dict:
    schema = TypeAdapter(Spec | Library).json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "archc spec"
    return schema
