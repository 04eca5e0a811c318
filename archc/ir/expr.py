"""Numbers inside a block definition: constants, parameters and arithmetic on them.

A filter count, kernel side, stride, padding or block argument is an expression: a Python number,
a `Sym` (a block parameter, `in` for the block's input channels, `num_classes`), or a `BinOp` of
two expressions. The constructors fold constants and keep sums flat, so that an expression of
numbers is a number and channel counts print as people write them (`n + m + 384`).
A condition (a residual's `when`) is a comparison of expressions, or comparisons joined by `and`
and `or` (`stride != 1 or in != out`), with Python's meaning; its value is a bool.
"""

from __future__ import annotations

import math
import operator
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from ..limits import MAX_EXPR_SIZE, MAX_NUMBER

Number = int | float


@dataclass(frozen=True)
class Sym:
    name: str


class TooLarge(Exception):
    """An expression of more than MAX_EXPR_SIZE operations: composing a block's channel formula
    with itself over many repeats can double it each time."""


@dataclass(frozen=True)
class BinOp:
    op: str  # one of OPERATORS
    left: Expr
    right: Expr
    size: int = field(init=False, compare=False, repr=False)  # operations in the whole tree

    def __post_init__(self):
        size = 1 + sum(part.size for part in (self.left, self.right) if isinstance(part, BinOp))
        if size > MAX_EXPR_SIZE:
            raise TooLarge(f"more than {MAX_EXPR_SIZE} operations")
        object.__setattr__(self, "size", size)


Expr = Number | Sym | BinOp

COMPARISONS: dict[str, Callable] = {
    "==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le, ">": operator.gt,
    ">=": operator.ge,
}
LOGICAL: dict[str, Callable] = {"and": lambda a, b: a and b, "or": lambda a, b: a or b}
OPERATORS: dict[str, Callable] = {
    "+": operator.add, "-": operator.sub, "*": operator.mul, "//": operator.floordiv,
    "/": operator.truediv, **COMPARISONS, **LOGICAL,
}
_PRECEDENCE = {"or": -2, "and": -1, **dict.fromkeys(COMPARISONS, 0),
               "+": 1, "-": 1, "*": 2, "//": 2, "/": 2}


def is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def is_expr(value) -> bool:
    """A number, a symbol or an operation of them."""
    return is_number(value) or isinstance(value, (Sym, BinOp))


def is_condition(value) -> bool:
    """A comparison, comparisons joined by `and` and `or`, or a constant truth value."""
    return isinstance(value, bool) or isinstance(value, BinOp) and (
        value.op in COMPARISONS or value.op in LOGICAL and is_condition(value.left)
        and is_condition(value.right))


def binop(op: str, left: Expr, right: Expr) -> Expr:
    """`left op right`, computed when both are numbers (kept as an expression when that fails: a
    division by zero is reported where the expression is evaluated). A constant truth value
    decides `and` and `or` where it can: `True and c` is `c`."""
    if op in LOGICAL:
        for known, other in ((left, right), (right, left)):
            if isinstance(known, bool):
                return other if known == (op == "and") else known
        return BinOp(op, left, right)
    if is_number(left) and is_number(right):
        try:
            return OPERATORS[op](left, right)
        except (ZeroDivisionError, OverflowError):
            return BinOp(op, left, right)
    if op == "+":
        return total([left, right])
    if op == "*" and (left == 1 or right == 1):
        return right if left == 1 else left
    if op == "//" and right == 1:
        return left
    return BinOp(op, left, right)


def total(terms: list[Expr]) -> Expr:
    """The sum of terms, flattened, like terms counted once with their multiple (`in + in` is
    `2 * in`), the constants added into one last term."""
    flat: list[Expr] = []
    for term in terms:
        flat += _summands(term)
    const = sum(t for t in flat if is_number(t))
    counts: Counter = Counter()
    for term in flat:
        if not is_number(term):
            factor, base = _coefficient(term)
            counts[base] += factor
    rest = [base if factor == 1 else BinOp("*", factor, base)
            for base, factor in counts.items() if factor]
    if not rest:
        return const
    out = rest[0]
    for term in rest[1:] + ([const] if const else []):
        out = BinOp("+", out, term)
    return out


def _summands(e: Expr) -> list[Expr]:
    out, stack = [], [e]
    while stack:
        term = stack.pop()
        if isinstance(term, BinOp) and term.op == "+":
            stack += [term.right, term.left]
        else:
            out.append(term)
    return out


def _coefficient(term: Expr) -> tuple[int, Expr]:
    """`3 * w` -> (3, w); `w` -> (1, w)."""
    if isinstance(term, BinOp) and term.op == "*" and isinstance(term.left, int) \
            and not isinstance(term.left, bool):
        return term.left, term.right
    return 1, term


def symbols(e: Expr) -> set[str]:
    if isinstance(e, Sym):
        return {e.name}
    if isinstance(e, BinOp):
        return symbols(e.left) | symbols(e.right)
    return set()


def substitute(e: Expr, values: Mapping[str, Expr]) -> Expr:
    """e with symbols replaced by expressions (or numbers); unknown symbols stay."""
    if isinstance(e, Sym):
        return values.get(e.name, e)
    if isinstance(e, BinOp):
        return binop(e.op, substitute(e.left, values), substitute(e.right, values))
    return e


class EvalError(Exception):
    """An expression that has no value: an unbound name, a division by zero, a value too large."""


def evaluate(e: Expr, values: Mapping[str, object]) -> Number | bool:
    """The number e stands for when its symbols have these values (a condition's: a bool)."""
    if isinstance(e, Sym):
        if e.name not in values:
            raise EvalError(f"`{e.name}` has no value here")
        value = values[e.name]
        if not is_number(value):
            raise EvalError(f"`{e.name}` is {value!r}, not a number")
        return value
    if isinstance(e, BinOp):
        left, right = evaluate(e.left, values), evaluate(e.right, values)
        try:
            value = OPERATORS[e.op](left, right)
        except ZeroDivisionError:
            raise EvalError(f"`{to_text(e)}` divides by zero") from None
        except OverflowError:
            value = math.inf
        if not in_range(value):
            raise EvalError(f"`{to_text(e)}` is more than archc's bound of {MAX_NUMBER:,}")
        return value
    return e


def operand_text(e: Expr) -> str:
    """e as one operand of a larger text: in parentheses where it is an operation (a repeat
    count, `(depth - 1) x Block`)."""
    return f"({to_text(e)})" if isinstance(e, BinOp) else to_text(e)


def in_range(value: Number) -> bool:
    """Whether a number is within archc's bound (finite, magnitude at most MAX_NUMBER)."""
    return abs(value) <= MAX_NUMBER


def to_text(e: Expr, names: Mapping[str, str] | None = None) -> str:
    """e in Python syntax with the fewest parentheses; `names` renames symbols for a backend."""
    if isinstance(e, Sym):
        return (names or {}).get(e.name, e.name)
    if isinstance(e, BinOp):
        p = _PRECEDENCE[e.op]
        left = _operand(e.left, names, p, right=False)
        right = _operand(e.right, names, p, right=True)
        return f"{left} {e.op} {right}"
    return repr(e)


def _operand(e: Expr, names, parent: int, right: bool) -> str:
    text = to_text(e, names)
    if isinstance(e, BinOp):
        p = _PRECEDENCE[e.op]
        if p < parent or (right or e.op in COMPARISONS) and p == parent:  # `(a < b) == c`
            return f"({text})"
    elif is_number(e) and e < 0:
        return f"({text})"
    return text
