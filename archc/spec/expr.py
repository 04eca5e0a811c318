"""Arithmetic in specs: `2*w`, `w // 2`, `k + n`, `in`, `(k - 1) // 2`, and conditions:
`stride != 1 or in != out`.

Numbers, names (block parameters, `in` for a block's input channels, `num_classes`), the operators
+ - * // /, the comparisons == != < <= > >=, `and`, `or` and parentheses, with Python's
precedence (a chain of comparisons, `a < b < c`, is refused: write `a < b and b < c`). Parsed
into the IR's expressions (ir/expr.py), constants folded; whether the names exist is checked when
the spec is elaborated.
"""

from __future__ import annotations

import re

from ..ir import expr as ex
from ..ir.expr import Expr

_TOKEN = re.compile(r"\s*(?:(\d[\d_]*\.?\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?)"
                    r"|([A-Za-z_][A-Za-z0-9_]*)|(//|==|!=|<=|>=|[-+*/()<>]))")
_WORDS = ("and", "or")  # operators spelt as names
MAX_LENGTH = 200


def parse_expr(text: str) -> Expr:
    """The expression a text writes; ValueError with a short reason if it is not one."""
    if len(text) > MAX_LENGTH:
        raise ValueError(f"an expression of more than {MAX_LENGTH} characters")
    tokens: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text.rstrip()):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise ValueError(f"unexpected `{text[pos:].strip()[:1]}` in `{text}`")
        number, name, symbol = m.groups()
        tokens.append(("number", number) if number else
                      ("op", name) if name in _WORDS else ("name", name) if name else
                      ("op", symbol))
        pos = m.end()
    parser = _Parser(tokens, text)
    result = parser.disjunction()
    if parser.i != len(tokens):
        raise ValueError(f"unexpected `{tokens[parser.i][1]}` in `{text}`")
    return result


class _Parser:
    def __init__(self, tokens, text):
        self.tokens, self.text, self.i = tokens, text, 0

    def peek(self) -> str | None:
        return self.tokens[self.i][1] if self.i < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        if self.i >= len(self.tokens):
            raise ValueError(f"`{self.text}` ends too soon")
        self.i += 1
        return self.tokens[self.i - 1]

    def disjunction(self) -> Expr:
        return self.joined("or", self.conjunction)

    def conjunction(self) -> Expr:
        return self.joined("and", self.comparison)

    def joined(self, word: str, operand) -> Expr:
        """Operands joined by `and` or `or`, left to right."""
        out = operand()
        while self.peek() == word:
            self.take()
            out = ex.binop(word, out, operand())
        return out

    def comparison(self) -> Expr:
        out = self.sum()
        if self.peek() in ex.COMPARISONS:
            op = self.take()[1]
            out = ex.binop(op, out, self.sum())
            if self.peek() in ex.COMPARISONS:
                raise ValueError(f"a chain of comparisons in `{self.text}`: join them with "
                                 "`and`")
        return out

    def sum(self) -> Expr:
        out = self.product()
        while self.peek() in ("+", "-"):
            op = self.take()[1]
            out = ex.binop(op, out, self.product())
        return out

    def product(self) -> Expr:
        out = self.unary()
        while self.peek() in ("*", "//", "/"):
            op = self.take()[1]
            out = ex.binop(op, out, self.unary())
        return out

    def unary(self) -> Expr:
        if self.peek() == "-" and self.tokens[self.i][0] == "op":
            self.take()
            return ex.binop("-", 0, self.unary())
        return self.atom()

    def atom(self) -> Expr:
        kind, text = self.take()
        if kind == "number":
            digits = text.replace("_", "")
            try:
                return int(digits) if re.fullmatch(r"\d+", digits) else float(digits)
            except ValueError:
                raise ValueError(f"`{text}` is not a number") from None
        if kind == "name":
            return ex.Sym(text)
        if text == "(":
            inner = self.disjunction()
            if self.take()[1] != ")":
                raise ValueError(f"a `(` without its `)` in `{self.text}`")
            return inner
        raise ValueError(f"unexpected `{text}` in `{self.text}`")
