"""The words of the compact syntax, shared by the op kinds that read their own compact forms
(archc/ops/): splitting a layer's text into words, numbers, and the window layers' grammar
(`KxK [FILTERS] [/S] [V|same|pad=P] [flags] [key=value]`). Imports no op."""

from __future__ import annotations

import difflib
import re
from typing import Any

from ..errors import MAX_CANDIDATES

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


# An expression's operators (spec/expr.py): a word that is one, or that ends in one, goes on in
# the next word; a word that starts with `//`, `*` or `+` goes on from the word before (`/2` is a
# stride and `-1` a number, so a word starting with `/` or `-` does not).
_OPERATOR_RE = re.compile(r"^(//|[-+*/])$")
_ENDS_IN_OPERATOR_RE = re.compile(r"[-+*/]$")
_STARTS_WITH_OPERATOR_RE = re.compile(r"^(//|[*+])")
_SETTING_RE = re.compile(r"^([A-Za-z_]\w*=|/(?!/))")  # `groups=` or a stride's `/` before a value
_SPACED_RE = re.compile(r"\s*(//|[-+*/])\s*")


def spaced_expression(tokens: list[str], text: str) -> str | None:
    """Why the words of a compact layer do not read, where an expression in them has spaces
    (`conv 1x1 in // 2 linear`): what to write instead; None if none has."""
    for i in range(1, len(tokens)):
        joins_left = bool(_OPERATOR_RE.match(tokens[i]) or
                          _STARTS_WITH_OPERATOR_RE.match(tokens[i]))
        if not joins_left and not (_ENDS_IN_OPERATOR_RE.search(tokens[i])
                                   and not _OPERATOR_RE.match(tokens[i])):
            continue
        begin = i - 1 if joins_left else i
        if begin == 0 or (begin == 1 and _KERNEL_RE.match(tokens[1]) and joins_left):
            # No operand before it: the kind of the layer, or its kernel (`maxpool 3x3 / 2`).
            if tokens[i] == "/" and i + 1 < len(tokens):
                return (f"`{text}`: `/ {tokens[i + 1]}`: a stride is written without a space, "
                        f"`/{tokens[i + 1]}`")
            return None
        end = begin
        while end + 1 < len(tokens) and (
                _ENDS_IN_OPERATOR_RE.search(tokens[end]) or
                _OPERATOR_RE.match(tokens[end + 1]) or
                _STARTS_WITH_OPERATOR_RE.match(tokens[end + 1])):
            end += 1
        run = tokens[begin:end + 1]
        setting = m[0] if (m := _SETTING_RE.match(run[0])) else ""
        written = " ".join(run)[len(setting):]
        tight = "".join(run)[len(setting):]
        spaced = _SPACED_RE.sub(lambda o: f" {o[1]} ", tight).strip()
        stride = f"; a stride is written `/{run[run.index('/') + 1]}`" \
            if "/" in run[1:-1] and not setting else ""
        return (f"`{text}`: `{setting}{written}`: an expression in a compact layer has no "
                f"spaces, or is in parentheses: `{setting}{tight}` or `{setting}({spaced})`"
                f"{stride}")
    return None


def close_word(word: str, candidates) -> str | None:
    """The candidate a mistyped word was likely meant to be: the same but for case, or one a
    few edits away (one for a word of up to 5 characters, two for a longer one; none for one of
    1 or 2). Among equally close ones, one of the word's length (`relu7` is `relu6`, not `relu`),
    then the most alike (difflib's ratio: `nbn` is `nobn`, not `bn`), then the first. None
    among more than MAX_CANDIDATES (errors.close_match's bound)."""
    candidates = list(dict.fromkeys(candidates))
    if len(candidates) > MAX_CANDIDATES or not isinstance(word, str):
        return None
    for candidate in candidates:
        if candidate.lower() == word.lower():
            return candidate
    limit = 0 if len(word) <= 2 else 1 if len(word) <= 5 else 2
    scored = [(distance, len(candidate) != len(word),
               -difflib.SequenceMatcher(None, word, candidate).ratio(), i, candidate)
              for i, candidate in enumerate(candidates)
              if abs(len(candidate) - len(word)) <= limit
              and (distance := _edits(word.lower(), candidate.lower(), limit)) <= limit]
    return min(scored)[-1] if scored else None


def _edits(a: str, b: str, limit: int) -> int:
    """The edits (insert, delete, replace, swap two neighbours) from a to b; limit + 1 for any
    number above limit."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    before, row = None, list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        current = [i]
        for j, y in enumerate(b, 1):
            cost = min(row[j] + 1, current[j - 1] + 1, row[j - 1] + (x != y))
            if before is not None and i > 1 and j > 1 and x == b[j - 2] and a[i - 2] == y:
                cost = min(cost, before[j - 2] + 1)
            current.append(cost)
        if min(row) > limit and min(current) > limit:  # no later row can come back below
            return limit + 1
        before, row = row, current
    return min(row[-1], limit + 1)


def number_or_text(text: str):
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    if re.fullmatch(r"-?(\d+\.\d*|\.\d+|\d+)([eE][-+]?\d+)?", text):
        return float(text)
    return text


def number_options(tokens: list[str], keys: tuple[str, ...]) -> dict | None:
    """`key=number` tokens (`eps=1e-6`), each key one of `keys` and given once, as a dict; None
    where a token is not one."""
    out = {}
    for token in tokens:
        key, eq, value = token.partition("=")
        number = number_or_text(value)
        if not eq or key not in keys or key in out or not isinstance(number, (int, float)):
            return None
        out[key] = float(number)
    return out


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
            close = close_word(token, flags) if not eq else \
                (f"{hint}={value}" if (hint := close_word(key, keys)) else None)
            hint = f"did you mean `{close}`? " if close else ""
            raise ValueError(f"`{text}`: unexpected `{token}` ({hint}allowed after the "
                             f"{'filters' if filters else 'kernel'}: {allowed})")
        if field in out:
            raise ValueError(f"`{text}`: {field} is given twice")
        out[field] = setting
    return out
