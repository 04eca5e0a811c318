"""How generated code is written as text: expressions in its names, literals, comments that
point at the spec, and lines wrapped as a formatter would. Shared by every part of the torch
backend."""

from __future__ import annotations

import functools
import json
import os
import re

from ...ir import expr as ex
from ...ir.expr import Expr

MAX_LINE = 100
NAMES = {"in": "in_channels"}  # how generated code spells the IR's symbols


def code(e: Expr) -> str:
    return ex.to_text(e, NAMES)


def python_literal(value) -> str:
    if isinstance(value, str):
        return json.dumps(value)  # an activation's name: double-quoted
    return repr(value)


def inert(text: str) -> str:
    """A path for a comment or docstring: anything outside printable ASCII, and quotes and
    backslashes, become `?`, so that nothing can end the comment or the docstring."""
    return re.sub(r'[^\x20-\x7e]|["\'\\]', "?", text)


def source_comment(pos) -> str:
    return f"# {inert(shown_path(pos.file))}:{pos.line}"


def shown_path(path: str) -> str:
    """A spec file's path as generated code writes it: relative to the root of the repository
    that holds it (the nearest folder above it with a `.git`), so that a spec gives the same
    bytes from any working folder; as given outside a repository, and for a `--set` value."""
    if path.startswith("--set "):
        return path
    absolute = os.path.abspath(path)
    root = _repository_root(os.path.dirname(absolute))
    return path if root is None else os.path.relpath(absolute, root).replace(os.sep, "/")


@functools.lru_cache(maxsize=256)
def _repository_root(folder: str) -> str | None:
    while True:
        if os.path.exists(os.path.join(folder, ".git")):
            return folder
        parent = os.path.dirname(folder)
        if parent == folder:
            return None
        folder = parent


def pair_code(pair) -> str:
    a, b = (code(v) for v in pair)
    return a if a == b else f"({a}, {b})"

def numbered_run(names: list) -> tuple[str, int, str] | None:
    """(prefix, first number, suffix) where `names` are prefix{n}suffix for n = first, first +
    1, ... (`block2-1`, `block2-2`; a template's names); None where they are not."""
    parts = [re.fullmatch(r"(.*?)(\d+)(\D*)", str(name)) for name in names]
    if not all(parts):
        return None
    prefix, first, suffix = parts[0].groups()
    if any(p.groups() != (prefix, str(int(first) + n), suffix) for n, p in enumerate(parts)):
        return None
    return prefix, int(first), suffix


def attribute(path: tuple) -> str:
    """`self.branch1[0]` for ("branch1", 0); `self.trunk.get_submodule("block1.block1-0")` for
    a path with a name that is not an identifier (a member of a sequential group); `self[0]`
    for (0,) in a block that is an nn.Sequential, `self` for ()."""
    if not path:
        return "self"
    head = f"self[{path[0]}]" if isinstance(path[0], int) else f"self.{path[0]}"
    if not all(isinstance(p, int) or p.isidentifier() for p in path[1:]):
        return f'{head}.get_submodule("{".".join(map(str, path[1:]))}")'
    return head + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path[1:])

def argument_code(value) -> str:
    """A block argument as generated code writes it: an activation's name or a number."""
    return python_literal(value) if isinstance(value, str) else code(value)

def with_comment(text: str, comment: str, indent: int) -> list[str]:
    """A statement (possibly of several lines) with its source comment."""
    lines = [part for line in text.split("\n") for part in wrap(" " * indent + line)]
    if len(lines[0]) + 2 + len(comment) <= MAX_LINE:
        lines[0] = f"{lines[0]}  {comment}"
        return lines
    return [" " * indent + comment] + lines

def wrap(line: str) -> list[str]:
    """A call or subscript too long for one line, its arguments on the next lines, as a
    formatter would."""
    if len(line) <= MAX_LINE:
        return [line]
    indent = " " * (len(line) - len(line.lstrip()))
    opening = min(i for i in (line.find("("), line.find("[")) if i >= 0)
    closing = _matching(line, opening)
    args = _split_top_level(line[opening + 1:closing])
    inner = indent + "    " + ", ".join(args)
    if len(inner) <= MAX_LINE:
        return [line[:opening + 1], inner, indent + line[closing:]]
    if len(args) == 1:  # one argument, or a comprehension (which takes no comma): wrap inside it
        return [line[:opening + 1], *wrap(inner), indent + line[closing:]]
    return [line[:opening + 1], *(f"{indent}    {arg}," for arg in args), indent + line[closing:]]

def _matching(line: str, opening: int) -> int:
    """Where the bracket opened at `opening` closes."""
    depth = 0
    for i in range(opening, len(line)):
        depth += line[i] in "([{"
        depth -= line[i] in ")]}"
        if depth == 0:
            return i
    raise ValueError(f"an unclosed bracket in generated code: {line!r}")  # archc's bug

def _split_top_level(text: str) -> list[str]:
    out, depth, current = [], 0, ""
    for char in text:
        depth += char in "([{"
        depth -= char in ")]}"
        if char == "," and depth == 0:
            out.append(current.strip())
            current = ""
        else:
            current += char
    return [a for a in out + [current.strip()] if a]
