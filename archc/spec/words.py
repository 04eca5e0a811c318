"""The words of the compact syntax, shared by the op kinds that read their own compact forms
(archc/ops/): splitting a layer's text into words, numbers, and the window layers' grammar
(`KxK [FILTERS] [/S] [V|same|pad=P] [flags] [key=value]`). Imports no op."""

from __future__ import annotations

import re
from typing import Any

_KERNEL_RE = re.compile(r"^\S+x\S+$")
# Words after a conv's filters or a pool's kernel: word -> (field, value).
PADDING_WORDS = {"V": ("padding", "valid"), "valid": ("padding", "valid"),
                 "same": ("padding", "same")}


def words(text: str) -> list[str]:
    """Split on spaces outside parentheses: `conv 1x1 (k + n) /2` has four words."""
    return [word for word in split_outside_parentheses(text, str.isspace) if word]


def split_outside_parentheses(text: str, separator) -> list[str]:
    """Split where `separator(char)` holds, outside parentheses."""
    out, depth, current = [], 0, ""
    for char in text:
        depth += char == "("
        depth -= char == ")"
        if separator(char) and depth == 0:
            out.append(current)
            current = ""
        else:
            current += char
    return out + [current]


def number_or_text(text: str):
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    if re.fullmatch(r"-?(\d+\.\d*|\.\d+|\d+)([eE][-+]?\d+)?", text):
        return float(text)
    return text


def window_layer(kind: str, tokens: list[str], text: str, flags: dict, keys: dict,
                 filters: str | None = None) -> dict:
    """The long form of a window layer's words after its kind: the kernel, then the filters
    (`filters` "required" or "optional"; None: it has none), then a stride `/S`, flags (word ->
    (field, value)) and `key=value` words (key -> field), each field given once."""
    out: dict[str, Any] = {"type": kind}
    if not tokens or not _KERNEL_RE.match(tokens[0]):
        raise ValueError(f"`{text}`: {kind} needs a kernel like 3x3 or 1x7 after `{kind}`")
    out["kernel"] = tokens.pop(0)
    has_filters = filters is not None and tokens and not (
        tokens[0].startswith("/") or tokens[0] in flags or "=" in tokens[0])
    if filters == "required" and not has_filters:
        raise ValueError(f"`{text}`: {kind} needs a filter count after the kernel")
    if has_filters:
        out["filters"] = number_or_text(tokens.pop(0))
    for token in tokens:
        key, eq, value = token.partition("=")
        if token.startswith("/") and len(token) > 1:
            field, setting = "stride", number_or_text(token[1:])
        elif token in flags:
            field, setting = flags[token]
        elif eq and key in keys and value:
            field, setting = keys[key], number_or_text(value)
        else:
            allowed = ", ".join(["/S", *flags, *(f"{k}=" for k in keys)])
            raise ValueError(f"`{text}`: unexpected `{token}` (allowed after the "
                             f"{'filters' if filters else 'kernel'}: {allowed})")
        if field in out:
            raise ValueError(f"`{text}`: {field} is given twice")
        out[field] = setting
    return out
