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
import functools
import keyword
import operator
import re
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    AfterValidator,
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

from ..activations import ACTIVATIONS
from ..backends.torch.names import CONV_UNIT_CLASS, HELPERS, MODULE_ATTRIBUTES, RESERVED_NAMES
from ..errors import Pos, listing
from ..ir import expr as ex
from ..limits import (
    MAX_CHANNELS,
    MAX_CLASSES,
    MAX_INPUT,
)
from ..names import IDENTIFIER, IDENTIFIER_RE, MAX_NAME_LENGTH, class_name
from ..ops import LANGUAGE
from .compact import compact_to_long
from .fields import (
    EXPR_SCHEMA,
    Activation,
    Condition,
    Layout,
    Node,
    Norm,
    PlainName,
    Repeat,
    Scale,
    argument_value,
    fail,
    finite,
    show_value,
    whole,
)

PYDANTIC_CODES = {
    "missing": "E201", "extra_forbidden": "E202", "union_tag_invalid": "E206",
    "too_short": "E210", "greater_than": "E204", "greater_than_equal": "E204",
    "less_than": "E204", "less_than_equal": "E204",
}


def error_code(err: dict) -> str:
    """The catalogue code of a pydantic error: ours carry it; pydantic's own map to one."""
    kind = err["type"]
    return kind if re.fullmatch(r"E\d{3}", kind) else PYDANTIC_CODES.get(kind, "E203")


def check_name(name: str) -> str:
    if len(name) > MAX_NAME_LENGTH:
        raise fail("E209", f"`{name[:20]}...` is a name of {len(name)} characters: archc's "
                           f"bound is {MAX_NAME_LENGTH} (names become file names)")
    if not IDENTIFIER_RE.fullmatch(name):
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
    WithJsonSchema({"type": "string", "pattern": f"^{IDENTIFIER}$",
                    "maxLength": MAX_NAME_LENGTH}),
]


def check_global_name(name: str) -> str:
    """Block (class) and parameter names are Python names in the generated module's code, where
    shadowing a builtin (`range`, `int`, `_`) would break it."""
    if name in dir(builtins) or name == "_":
        raise fail("E209", f"`{name}` is a Python builtin and cannot name a block or parameter")
    if name in ACTIVATIONS:
        raise fail("E209", f"`{name}` is an activation and cannot name a block or parameter")
    if CONV_UNIT_CLASS.fullmatch(name):
        raise fail("E209", f"`{name}` is reserved for the conv units of generated code")
    if name in HELPERS:
        raise fail("E209", f"`{name}` is reserved for a helper of generated code")
    return name


GlobalName = Annotated[Name, AfterValidator(check_global_name)]


def check_network_name(name: str) -> str:
    if not name[:1].isalpha():
        raise fail("E209", f"`{name}` cannot name a network: start with a letter (the name "
                           "becomes a module and a class name)")
    cls = class_name(name)
    if keyword.iskeyword(cls) or cls in RESERVED_NAMES or cls in dir(builtins) or \
            CONV_UNIT_CLASS.fullmatch(cls) or cls in HELPERS:
        raise fail("E209", f"`{name}` cannot name a network: its class would be `{cls}`, "
                           "a name Python or the generated module already uses")
    return name


NetworkName = Annotated[Name, AfterValidator(check_network_name)]
Count = Annotated[int, Field(ge=1, le=MAX_CHANNELS)]
ArgValue = Annotated[
    Any,
    PlainValidator(argument_value),
    WithJsonSchema({"anyOf": [{"type": "number"}, {"enum": list(ACTIVATIONS)}, EXPR_SCHEMA]}),
]


class Block(Node):
    """An instance of a block definition, `repeat` times in a row."""

    type: Literal["block"] = "block"
    block: Name
    args: dict[Name, ArgValue] = {}
    repeat: Repeat = 1

    @property
    def repeat_text(self) -> str:
        """`depth x Block`, `(depth - 1) x Block`: as a message quotes it."""
        return f"{ex.operand_text(self.repeat)} x {self.block}"


# The op kinds' layers (archc/ops/, in their order), and a block instance.
LAYER_MODELS = (*(model for op in LANGUAGE for model in op.SPECS), Block)
Layer = Annotated[functools.reduce(operator.or_, LAYER_MODELS), Field(discriminator="type")]
_LAYER_ADAPTER = TypeAdapter(Layer)
LAYER_TYPES = tuple(kind for model in LAYER_MODELS
                    for kind in get_args(model.model_fields["type"].annotation))


# ------------------------------------------------------------------------------- compact form


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
        field = ".".join(str(x) for x in err["loc"][1:] if not str(x).startswith("function-"))
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
    if isinstance(value, dict) and value.get("type") == "sequential":
        return "sequential-form"
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
    return _value_kind(value)  # an unnamed list: a numbered group inside an nn.Sequential


# Union tags are not identifiers, so they can never be confused with names in an error's path.
UNION_TAGS = frozenset({"compact-form", "long-form", "group-form", "concat-form", "named-form",
                        "sequential-form"})

# A member of a `type: sequential` group is named as an nn.Sequential built from an OrderedDict
# names it (torchvision's `features.denseblock1.denselayer1`, RegNet's `block1-0`): hyphens
# allowed. `{N}` in a name numbers a repeat's instances from N (`denselayer{1}: 6 x DenseLayer`).
MEMBER_NAME = r"[A-Za-z_][A-Za-z0-9_-]*(\{[0-9]{1,4}\}[A-Za-z0-9_-]*)?"


def check_member_name(name: str) -> str:
    if len(name) > MAX_NAME_LENGTH:
        raise fail("E209", f"`{name[:20]}...` is a name of {len(name)} characters: archc's "
                           f"bound is {MAX_NAME_LENGTH}")
    if not re.fullmatch(MEMBER_NAME, name):
        raise fail("E209", f"`{name}` is not a valid name in a sequential group: use letters, "
                           "digits, _ and -, not starting with a digit or -, and at most one "
                           "{N} that numbers a repeat's instances from N")
    return name


MemberName = Annotated[
    str,
    AfterValidator(check_member_name),
    WithJsonSchema({"type": "string", "pattern": f"^{MEMBER_NAME}$",
                    "maxLength": MAX_NAME_LENGTH}),
]

NamedValue = Annotated[
    (
        Annotated[Compact, Tag("compact-form")]
        | Annotated[Layer, Tag("long-form")]
        | Annotated[list["Step"], Field(min_length=1), Tag("group-form")]
        | Annotated["SequentialGroup", Tag("sequential-form")]
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
            keys = listing(data)
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


class Member(Named):
    """`name: layer` in a `type: sequential` group: the name of the member in its
    nn.Sequential (an OrderedDict's key), not an attribute."""

    root: dict[MemberName, NamedValue]


MemberStep = Annotated[
    (
        Annotated[Compact, Tag("compact-form")]
        | Annotated[Layer, Tag("long-form")]
        | Annotated[list["Step"], Field(min_length=1), Tag("group-form")]
        | Annotated["SequentialGroup", Tag("sequential-form")]
        | Annotated[Member, Tag("named-form")]
    ),
    Discriminator(
        lambda value: k if (k := _step_kind(value)) != "concat-form" else None,
        custom_error_type="E208",
        custom_error_message="expected a layer, a list of layers or `name: layer` (a sequential "
                             "group runs its members one after another: no concat)",
    ),
]


class SequentialGroup(Node):
    """`{type: sequential, layers: [...]}`: an nn.Sequential whose members have names of their
    own (torchvision's `features.conv0`, `features.denseblock1`); an unnamed member is named by
    its number, as nn.Sequential numbers modules."""

    type: Literal["sequential"] = "sequential"
    layers: Annotated[list[MemberStep], Field(min_length=1)]


class Sequence(RootModel[Annotated[list["Step"], Field(min_length=1)]]):
    """A list inside an nn.Sequential group: an nn.Sequential at its index (`features.2.0`)."""

    model_config = ConfigDict(frozen=True, strict=True)

    @property
    def pos(self) -> Pos | None:
        return self.root[0].pos


Step = Annotated[
    (
        Annotated[Compact, Tag("compact-form")]
        | Annotated[Layer, Tag("long-form")]
        | Annotated[Sequence, Tag("group-form")]
        | Annotated[SequentialGroup, Tag("sequential-form")]
        | Annotated[Concat, Tag("concat-form")]
        | Annotated[Named, Tag("named-form")]
    ),
    Discriminator(
        _step_kind,
        custom_error_type="E208",
        custom_error_message="expected a layer, a list of layers, `name: layer`, "
                             "`name: [layers]` or `concat:`",
    ),
]

Sequence.model_rebuild()
Member.model_rebuild()
SequentialGroup.model_rebuild()

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


class Projection(Node):
    """A shortcut present by a condition: `{when: stride != 1 or in != out, layers: [...]}` is
    its one step where the condition holds, the block's input itself elsewhere."""

    when: Condition
    layers: Annotated[list[TopStep], Field(min_length=1)]


class Residual(Node):
    """out = activation(shortcut(x) + scale * layers(x)); without a shortcut, shortcut(x) = x."""

    scale: Scale = 1.0
    activation: Activation | None = Field(None, description="after the sum; default: the "
                                                            "settings' conv activation")
    shortcut: Annotated[
        Annotated[Layers, Tag("steps")] | Annotated[Projection, Tag("projection")],
        Discriminator(lambda value: "steps" if isinstance(value, list) else "projection"),
    ] | None = Field(
        None, description="steps from the block's input, e.g. a projection conv 1x1 /2 + BN; "
                          "or {when: CONDITION, layers: [ONE STEP]}, the input itself where "
                          "the condition does not hold")
    when: Condition | None = Field(None, description="where the sum is made, e.g. `stride == 1 "
                                                     "and in == out`; elsewhere the block is "
                                                     "its layers alone (and drops no path)")


# Plain text only: a title reaches figure labels and generated docstrings.
Title = Annotated[str, Field(pattern=r"^[A-Za-z0-9 _.,:()+\-]{1,60}$")]


def _block_layers_kind(value: Any) -> str:
    """A block's layers all unnamed make an nn.Sequential; else each one is named."""
    unnamed = isinstance(value, list) and value and all(
        _step_kind(item) in ("compact-form", "long-form", "group-form", "sequential-form")
        for item in value)
    return "sequential-form" if unnamed else "named-form"


class BlockDef(Node):
    """A reusable block: one class in generated code, one figure in the diagrams."""

    title: Title | None = Field(None, description="the paper's name, e.g. Inception-ResNet-A")
    params: list[GlobalName] = Field([], description="names the block's layers may use for numbers")
    defaults: dict[Name, ArgValue] = Field({}, description="values of parameters that an "
                                           "instance may leave out, e.g. {scale: 1.0}")
    layers: Annotated[
        Annotated[Layers, Tag("named-form")] | Annotated[Sequence, Tag("sequential-form")],
        Discriminator(_block_layers_kind),
    ] = Field(description="named steps (attributes of the block's class), or unnamed ones: the "
                          "class is then an nn.Sequential of them, numbered from 0")
    residual: Residual | None = None
    gate: bool = Field(False, description="out = x * layers(x), the layers giving C x 1 x 1 "
                                          "(squeeze-and-excitation) or 1 x H x W")


def _size(value: Any) -> tuple[int, int]:
    sides = value if isinstance(value, list) and len(value) == 2 else [value, value]
    if all(whole(v) and 1 <= v <= MAX_INPUT for v in sides):
        return (sides[0], sides[1])
    raise fail("E204" if all(whole(v) for v in sides) else "E203",
               f"must be a side from 1 to {MAX_INPUT} or [height, width], got {show_value(value)}")


def _per_channel(value: Any) -> tuple[float, ...]:
    """A number for every channel, or a list of one number per channel (checked by Input)."""
    values = value if isinstance(value, list) else [value]
    if values and all(isinstance(v, (int, float)) and not isinstance(v, bool) and finite(v)
                      for v in values):
        return tuple(float(v) for v in values)
    raise fail("E203", f"must be a number or a list of one number per channel, "
                       f"got {show_value(value)}")


PerChannel = Annotated[
    tuple[float, ...],
    PlainValidator(_per_channel),
    WithJsonSchema({"anyOf": [{"type": "number"},
                              {"type": "array", "minItems": 1, "items": {"type": "number"}}]}),
]


FLOAT32_TINY = 2.0 ** -126
FLOAT32_MAX = (2 - 2.0 ** -23) * 2.0 ** 127


class Input(Node):
    """The input a network takes: its channels, its size and how images are normalised for it,
    (x - mean) / std per channel (the Inception weights': 0.5 and 0.5, inputs in [-1, 1])."""

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

    mean: PerChannel = Field((0.5,), description="a number, or one per channel")
    std: PerChannel = Field((0.5,), description="a number, or one per channel (above zero)")
    resize: Annotated[int, Field(ge=1, le=MAX_INPUT)] | None = Field(
        None, description="how images are evaluated, as the weights were: the shorter side "
                          "resized to this, then the centre `size` cropped (torchvision's "
                          "resize_size); default: size / 0.875, the Inception weights'")
    interpolation: Literal["bilinear", "bicubic", "nearest"] = Field(
        "bicubic", description="how images are resized for the weights (torchvision's "
                               "InterpolationMode)")

    @model_validator(mode="after")
    def _one_per_channel(self) -> Input:
        if self.resize is not None and self.resize < max(self.size):
            raise fail("E204", f"`resize` must be at least the size it is cropped to, "
                               f"{max(self.size)}, got {self.resize}")
        for name in ("mean", "std"):
            values = getattr(self, name)
            if len(values) not in (1, self.channels):
                raise fail("E216", f"`{name}` has {len(values)} values, the input has "
                                   f"{self.channels} channel{'s' if self.channels != 1 else ''}")
        # Images are normalised in float32: each value must be one, and std not round to 0.
        if min(self.std) < FLOAT32_TINY:
            raise fail("E204", f"`std` must be at least {FLOAT32_TINY:.3g} (float32's smallest "
                               f"normal number), got {show_value(min(self.std))}")
        for name in ("mean", "std"):
            if max(abs(v) for v in getattr(self, name)) > FLOAT32_MAX:
                raise fail("E204", f"`{name}` must be within float32's range, +-{FLOAT32_MAX:.3g}")
        return self

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.channels, *self.size)

    @property
    def normalisation(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """(mean, std), one value per channel."""
        return tuple(tuple(v * (self.channels // len(v))) for v in (self.mean, self.std))


class BatchNormSettings(Node):
    eps: Annotated[float, Field(gt=0, lt=1)] = 0.001
    momentum: Annotated[float, Field(gt=0, le=1)] = 0.1


class AvgPoolSettings(Node):
    count_pad: bool = Field(
        False,
        description="count the zero padding in the average (PyTorch's default, timm's ports) "
                    "or leave it out (TensorFlow, which trained the released weights)",
    )


class ConvSettings(Node):
    norm: Norm = Field("bn", description="the normalisation after each conv: bn or none")
    activation: Activation = Field("relu", description="the activation after each conv")
    bias: bool = Field(False, description="whether convs have a bias")
    layout: Layout = Field("unit", description="unit: one module with .conv and .bn (timm); "
                                               "sequential: an nn.Sequential (.0, .1)")


class Settings(Node):
    batchnorm: BatchNormSettings = BatchNormSettings()
    avgpool: AvgPoolSettings = AvgPoolSettings()
    conv: ConvSettings = ConvSettings()


class Library(Node):
    """A file of shared block definitions, included by specs."""

    include: list[str] = []
    blocks: dict[GlobalName, BlockDef] = {}


class Scaling(Node):
    """A width and depth multiplier (`scales: {s: {width: 0.5, depth: 0.33}}`), and changes
    written as a variant writes them (`changes: {layers: {layer3: {repeat: 23}}}`)."""

    width: Annotated[float, Field(gt=0, le=4)] = 1.0
    depth: Annotated[float, Field(gt=0, le=4)] = 1.0
    divisor: Annotated[int, Field(ge=1, le=64)] = Field(8, description="filter counts become "
                                                        "multiples of this")
    changes: dict[str, Any] = Field({}, description="what this size changes in the spec, as a "
                                                    "variant would (merged when it is picked)")


class Spec(Library):
    """A network: input, body (`layers`, the features) and classifier `head`."""

    extends: str | None = Field(None, description="a spec this one changes (a variant): a path "
                                "relative to this file; the keys given here override its own")
    name: NetworkName
    input: Input
    num_classes: Annotated[int, Field(ge=1, le=MAX_CLASSES)] = 1000
    drop_path_rate: Annotated[float, Field(ge=0.0, lt=1.0)] = Field(
        0.0, description="stochastic depth: the rate of the last `drop_path` step, the ones "
                         "before it rising linearly from 0 (timm's drop_path_rate)")
    settings: Settings = Settings()
    layers: Layers
    head: list[TopStep] = []
    scales: dict[PlainName, Scaling] = Field({}, description="named width and depth multipliers")
    scale: PlainName | None = Field(None, description="the entry of `scales` this network is "
                                                      "built with (`--scale NAME` on the "
                                                      "command line)")


def json_schema() -> dict:
    schema = TypeAdapter(Spec | Library).json_schema()
    # A block's named steps are steps too: its layers are either form, not one of them.
    layers = schema["$defs"]["BlockDef"]["properties"]["layers"]
    layers["anyOf"] = layers.pop("oneOf")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "archc spec"
    return schema
