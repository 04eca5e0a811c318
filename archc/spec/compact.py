"""The compact form of a layer, close to the paper's labels, read into its long form:
`conv 3x3 384 /2 V` -> {type: conv, kernel: 3x3, filters: 384, stride: 2, padding: valid}.

Each op kind reads its own compact forms (its COMPACT, in archc/ops/); here they are dispatched
by their first words, and a block instance is read. Only the words are read; the long form is
validated by the models, so that both forms mean exactly the same. An expression in a compact
layer has no spaces (`4*w`) or is in parentheses (`(k + n)`).
"""

from __future__ import annotations

import re
from typing import Any

from ..names import IDENTIFIER
from ..ops import LANGUAGE
from .words import number_or_text, spaced_expression, split_outside_parentheses, words

HELP = (f"expected a layer ({', '.join(syntax for op in LANGUAGE for syntax in op.SYNTAX)}) "
        "or a block (Name, N x Name, Name(arg=value, ...))")
# `Block`, `3 x Block(k=1)`, and counts that are parameters or expressions in parentheses:
# `depth x Block`, `(depth - 1) x Block`.
_BLOCK_RE = re.compile(rf"^(?:(\d+|{IDENTIFIER}|\([^()]*\))\s*x\s+)?({IDENTIFIER})\s*"
                       r"(?:\((.*)\))?$", re.DOTALL)
# The op kinds' own readers, by the words a compact layer starts with (`avgpool global`
# before `avgpool`); a reader gives None for words that are not its form.
_READERS = {tuple(head.split()): reader for op in LANGUAGE for head, reader in op.COMPACT.items()}


def compact_to_long(text: str) -> dict:
    """The long form of a compact layer string, e.g. `conv 1x7 160` -> {type: conv, ...}."""
    tokens = words(text)
    if not tokens:
        raise ValueError("empty layer: " + HELP)
    if (spaced := spaced_expression(tokens, text)) is not None:
        raise ValueError(spaced)
    for length in (2, 1):
        reader = _READERS.get(tuple(tokens[:length]))
        long = reader(tokens[length:], text) if reader is not None else None
        if long is not None:
            return long
    m = _BLOCK_RE.match(text.strip())
    if not m and text.count("(") != text.count(")"):
        raise ValueError(f"cannot read `{text}`: its parentheses do not match (inside a YAML "
                         "flow list `[...]` commas split a block's arguments: quote the "
                         "instance, or write the list one step per line)")
    if not m:
        raise ValueError(f"cannot read `{text}`: {HELP}")
    out: dict[str, Any] = {"type": "block", "block": m[2], "args": {}}
    if m[1]:
        out["repeat"] = int(m[1]) if m[1].isdigit() else m[1]
    for arg in filter(None, (a.strip() for a in split_outside_parentheses(m[3] or "",
                                                                        ",".__eq__))):
        name, eq, value = arg.partition("=")
        name, value = name.strip(), value.strip()
        if not eq or not name or not value:
            raise ValueError(f"`{text}`: write block arguments as name=value, got `{arg}`")
        if name in out["args"]:
            raise ValueError(f"`{text}`: argument `{name}` is given twice")
        out["args"][name] = number_or_text(value)
    return out
