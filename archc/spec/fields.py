"""The field types of the spec language, shared by the language's models (models.py) and the
op kinds' own models (archc/ops/): numbers, expressions, kernels, paddings, activations, and
the base of every model, which keeps its source position. Imports no op and no backend."""

from __future__ import annotations

import math
import re
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    PlainValidator,
    PrivateAttr,
    WithJsonSchema,
    model_validator,
)
from pydantic_core import PydanticCustomError

from ..activations import ACTIVATIONS
from ..errors import Pos, shortened
from ..ir import expr as ex
from ..limits import MAX_CHANNELS, MAX_KERNEL, MAX_PADDING, MAX_REPEAT, MAX_STRIDE
from ..names import IDENTIFIER, MAX_NAME_LENGTH, is_identifier
from .expr import parse_expr


def fail(code: str, message: str) -> PydanticCustomError:
    """A validation error that carries its catalogue code (errors.CATALOGUE) as its type."""
    return PydanticCustomError(code, "{message}", {"message": message})


def show_value(value: Any) -> str:
    """A value as an error message quotes it, shortened."""
    if isinstance(value, (dict, list)):
        return "a mapping" if isinstance(value, dict) else "a list"
    if value is None:
        return "nothing"
    return shortened(repr(value) if isinstance(value, str) else str(value))


PARAM_SCHEMA = {"type": "string", "pattern": f"^{IDENTIFIER}$"}
EXPR_SCHEMA = {"type": "string", "description": "a parameter's name or arithmetic on "
                                                 "parameters, e.g. `2*w`, `in // 2`, `k + n`"}


def finite(value: int | float) -> bool:
    try:
        return math.isfinite(value)
    except OverflowError:  # an integer beyond any float
        return False


def whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _expression(value: Any, what: str, condition: bool = False) -> ex.Expr:
    """An expression written as text; a number stays a number. Comparisons, `and` and `or`
    make a condition, which only a condition's field takes."""
    if not isinstance(value, str):
        raise fail("E203", f"must be {what}, got {show_value(value)}")
    try:
        out = parse_expr(value)
    except ValueError as e:
        raise fail("E215", f"cannot read the expression: {e}") from None
    if not condition and _compares(out):
        raise fail("E203", f"must be {what}, got the condition {show_value(value)} (comparisons "
                           "are for a residual's `when`)")
    return out


def _compares(e) -> bool:
    """Whether an expression compares, or joins with `and` or `or`, anywhere in it."""
    return isinstance(e, bool) or isinstance(e, ex.BinOp) and (
        e.op in ex.COMPARISONS or e.op in ex.LOGICAL or _compares(e.left) or _compares(e.right))


def whole_number(low: int, high: int, what: str):
    """A validator of whole numbers from low to high, or expressions whose value is checked
    where they are evaluated (expressions of numbers only are checked here)."""
    def validate(value: Any) -> ex.Expr:
        out = value if whole(value) else _expression(value, what)
        if ex.is_number(out) and not (whole(out) and low <= out <= high):
            raise fail("E204" if whole(out) else "E203",
                       f"must be a whole number from {low} to {high} or an expression of "
                       f"parameters, got {show_value(value)}")
        return out
    return validate


def _number(value: Any) -> ex.Expr:
    """A finite number or an expression (a residual scale, a block argument)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if finite(value):
            return value
        raise fail("E204", f"must be a finite number, got {show_value(value)}")
    return _expression(value, "a number or an expression")


def argument_value(value: Any):
    """A block argument: a number, an expression, or an activation's name."""
    if isinstance(value, str) and value in ACTIVATIONS:
        return value
    return _number(value)


def _activation(value: Any):
    if is_identifier(value):
        return value  # an activation, or a parameter: elaboration tells which
    raise fail("E203", f"must be an activation ({', '.join(ACTIVATIONS)}) or a parameter name, "
                       f"got {show_value(value)}")


def _plain_name(value: Any) -> str:
    """A name that is only a key of the spec, never a Python name in generated code (a scale's:
    `scales: {half: ...}`, `scale: half`): letters, digits and _, not starting with a digit. An
    nn.Module attribute (`half`, `train`), a keyword or a builtin is fine here."""
    if not isinstance(value, str):
        raise fail("E203", f"must be a name, got {show_value(value)}")
    if len(value) > MAX_NAME_LENGTH:
        raise fail("E209", f"`{value[:20]}...` is a name of {len(value)} characters: archc's "
                           f"bound is {MAX_NAME_LENGTH}")
    if not is_identifier(value):
        raise fail("E209", f"`{shortened(value)}` is not a valid name: use letters, digits and "
                           "_, not starting with a digit")
    return value


PlainName = Annotated[
    str,
    PlainValidator(_plain_name),
    WithJsonSchema({"type": "string", "pattern": f"^{IDENTIFIER}$",
                    "maxLength": MAX_NAME_LENGTH}),
]


def _count(low: int, high: int, what: str):
    return Annotated[
        Any,
        PlainValidator(whole_number(low, high, what)),
        WithJsonSchema({"anyOf": [{"type": "integer", "minimum": low, "maximum": high},
                                  EXPR_SCHEMA]}),
    ]


# A filter count: a number, a block parameter (Table 1's k, l, m, n), `num_classes`, `in` or an
# expression of them.
Filters = _count(1, MAX_CHANNELS, "a whole number or an expression")
# A block's repeat count: a number, or an expression of the enclosing block's parameters, whose
# value may be 0 (`(depth - 1) x Block`, the rest of a stage of one block).
Repeat = _count(1, MAX_REPEAT, "a whole number or an expression")
Stride = _count(1, MAX_STRIDE, "a whole number or an expression")
Groups = _count(1, MAX_CHANNELS, "a whole number or an expression")
Scale = Annotated[
    Any,
    PlainValidator(_number),
    WithJsonSchema({"anyOf": [{"type": "number"}, EXPR_SCHEMA]}),
]


def _condition(value: Any) -> ex.Expr:
    out = _expression(value, "a condition", condition=True)
    if not ex.is_condition(out):
        raise fail("E203", f"must be a condition: a comparison such as `stride != 1 or in != "
                           f"out`, got {show_value(value)}")
    return out


# A residual's condition: Python's comparisons, `and` and `or` on expressions.
Condition = Annotated[
    Any,
    PlainValidator(_condition),
    WithJsonSchema({"type": "string", "description": "a comparison of parameters, e.g. "
                                                     "`stride != 1 or in != out`"}),
]
Activation = Annotated[
    str,
    PlainValidator(_activation),
    WithJsonSchema({"anyOf": [{"enum": list(ACTIVATIONS)}, PARAM_SCHEMA]}),
]
_side = whole_number(1, MAX_KERNEL, "a size")
_SIDE = r"(\d+|[A-Za-z_]\w*|\([^()]*(?:\([^()]*\)[^()]*)*\))"


def parse_kernel(value: Any) -> tuple[ex.Expr, ex.Expr]:
    """`3` or `"3x3"` -> (3, 3); `"1x7"` -> (1, 7): height x width, as the paper writes it;
    `kxk` or `(2*k+1)x(2*k+1)` with parameters."""
    if isinstance(value, bool):
        raise fail("E214", f"must be a size like 3, 3x3 or 1x7, got {value}")
    if isinstance(value, int):
        sides = [value, value]
    elif isinstance(value, str) and (split := split_kernel(value.strip())):
        sides = list(split)
    elif isinstance(value, str) and is_identifier(value):
        sides = [value, value]
    else:
        raise fail("E214", f"must be a size like 3, 3x3 or 1x7, got {show_value(value)}")
    try:
        return (_side(sides[0]), _side(sides[1]))
    except PydanticCustomError:
        raise fail("E214", f"must have sides from 1 to {MAX_KERNEL}, got {value}") from None


def split_kernel(text: str) -> tuple[str, str] | None:
    """`3x3` -> ("3", "3"); `kxk` -> ("k", "k"); `(2*k)x3`; None if it is not HxW. A name that
    holds an x splits where both sides are equal, if they can be."""
    options = []
    for i, char in enumerate(text):
        if char == "x" and re.fullmatch(_SIDE, text[:i]) and re.fullmatch(_SIDE, text[i + 1:]):
            options.append((text[:i], text[i + 1:]))
    return next((o for o in options if o[0] == o[1]), options[0] if options else None)


Kernel = Annotated[
    tuple[Any, Any],
    PlainValidator(parse_kernel),
    WithJsonSchema({
        "anyOf": [
            {"type": "integer", "minimum": 1, "maximum": MAX_KERNEL},
            {"type": "string", "pattern": r"^\S+x\S+$"},
        ],
        "description": "kernel size: 3 (square) or HxW such as 1x7; sides may be parameters",
    }),
]
_pad_side = whole_number(0, MAX_PADDING, "a size")


def parse_padding(value: Any):
    """`same`, `valid`, P (every side) or [PH, PW] (top and bottom, left and right)."""
    if value in ("same", "valid"):
        return value
    split = split_kernel(value) if isinstance(value, str) else None
    sides = value if isinstance(value, list) and len(value) == 2 else \
        list(split) if split else [value, value]
    try:
        return (_pad_side(sides[0]), _pad_side(sides[1]))
    except PydanticCustomError:
        raise fail("E204", f"must be same, valid, a padding from 0 to {MAX_PADDING} or "
                           f"[height, width], got {show_value(value)}") from None


Padding = Annotated[
    Any,
    PlainValidator(parse_padding),
    WithJsonSchema({"anyOf": [
        {"enum": ["same", "valid"]},
        {"type": "integer", "minimum": 0, "maximum": MAX_PADDING},
        {"type": "array", "minItems": 2, "maxItems": 2,
         "items": {"anyOf": [{"type": "integer", "minimum": 0}, EXPR_SCHEMA]}},
        EXPR_SCHEMA,
    ]}),
]
Norm = Literal["bn", "none"]
Layout = Literal["unit", "sequential"]


class Node(BaseModel):
    """Base of every model: strict types, no unknown keys, immutable, and a source position."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)
    # The fields that hold filter counts, which a width scale multiplies (spec/scale.py).
    WIDTH_FIELDS: ClassVar[tuple[str, ...]] = ()
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
