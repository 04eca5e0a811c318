"""The compact form of a layer, close to the paper's labels, read into its long form:
`conv 3x3 384 /2 V` -> {type: conv, kernel: 3x3, filters: 384, stride: 2, padding: valid}.

Only the words are read here; the long form is validated by the models (models.py), so that both
forms mean exactly the same. An expression in a compact layer has no spaces (`4*w`) or is in
parentheses (`(k + n)`).
"""

from __future__ import annotations

import re
from typing import Any

from ..names import IDENTIFIER
from ..ops import ACTIVATION_FUNCTIONS

HELP = (
    "expected a layer (conv KxK FILTERS [/S] [V|same|pad=P] [groups=G] [bn|nobn] "
    "[ACTIVATION|noact] [bias|nobias] [linear], dwconv KxK [FILTERS] ..., "
    "maxpool KxK [/S] [V|pad=P] [ceil], avgpool KxK ..., avgpool global, dropout P, "
    "linear FEATURES, bn, relu, relu6, silu, ...) "
    "or a block (Name, N x Name, Name(arg=value, ...))"
)
_BLOCK_RE = re.compile(rf"^(?:(\d+)\s*x\s+)?({IDENTIFIER})\s*(?:\((.*)\))?$", re.DOTALL)
_KERNEL_RE = re.compile(r"^\S+x\S+$")

# Words after a conv's filters or a pool's kernel: word -> (field, value).
_PADDING = {"V": ("padding", "valid"), "valid": ("padding", "valid"),
            "same": ("padding", "same")}
_CONV_FLAGS = {
    **_PADDING,
    "linear": ("linear", True), "bn": ("norm", "bn"), "nobn": ("norm", "none"),
    "noact": ("activation", "none"), "bias": ("bias", True), "nobias": ("bias", False),
    **{a: ("activation", a) for a in ACTIVATION_FUNCTIONS},
}
_POOL_FLAGS = {**_PADDING, "ceil": ("ceil", True)}
_KEYS = {"pad": "padding", "groups": "groups", "act": "activation"}  # key=value words


def words(text: str) -> list[str]:
    """Split on spaces outside parentheses: `conv 1x1 (k + n) /2` has four words."""
    return [word for word in _split(text, str.isspace) if word]


def _split(text: str, separator) -> list[str]:
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


def _number_or_text(text: str):
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    if re.fullmatch(r"-?(\d+\.\d*|\.\d+|\d+)([eE][-+]?\d+)?", text):
        return float(text)
    return text


def _window_layer(kind: str, tokens: list[str], text: str) -> dict:
    conv = kind in ("conv", "dwconv")
    out: dict[str, Any] = {"type": kind}
    if not tokens or not _KERNEL_RE.match(tokens[0]):
        raise ValueError(f"`{text}`: {kind} needs a kernel like 3x3 or 1x7 after `{kind}`")
    out["kernel"] = tokens.pop(0)
    flags = _CONV_FLAGS if conv else _POOL_FLAGS
    has_filters = conv and tokens and not (tokens[0].startswith("/") or tokens[0] in flags
                                           or "=" in tokens[0])
    if kind == "conv" and not has_filters:
        raise ValueError(f"`{text}`: conv needs a filter count after the kernel")
    if has_filters:
        out["filters"] = _number_or_text(tokens.pop(0))
    keys = {k: v for k, v in _KEYS.items() if k == "pad" or kind == "conv" or
            kind == "dwconv" and k == "act"}
    for token in tokens:
        key, eq, value = token.partition("=")
        if token.startswith("/") and len(token) > 1:
            field, setting = "stride", _number_or_text(token[1:])
        elif token in flags:
            field, setting = flags[token]
        elif eq and key in keys and value:
            field, setting = keys[key], _number_or_text(value)
        else:
            allowed = ", ".join(["/S", *flags, *(f"{k}=" for k in keys)])
            raise ValueError(f"`{text}`: unexpected `{token}` (allowed after the "
                             f"{'filters' if conv else 'kernel'}: {allowed})")
        if field in out:
            raise ValueError(f"`{text}`: {field} is given twice")
        out[field] = setting
    if out.get("linear") and {"norm", "activation", "bias"} & set(out):
        raise ValueError(f"`{text}`: linear already means nobn noact bias")
    return out


def compact_to_long(text: str) -> dict:
    """The long form of a compact layer string, e.g. `conv 1x7 160` -> {type: conv, ...}."""
    tokens = words(text)
    if not tokens:
        raise ValueError("empty layer: " + HELP)
    head, rest = tokens[0], tokens[1:]
    if head in ("conv", "dwconv", "maxpool") or (head == "avgpool" and rest != ["global"]):
        return _window_layer(head, rest, text)
    if head == "avgpool":
        return {"type": "global_avgpool"}
    if head in ("bn", *ACTIVATION_FUNCTIONS) and not rest:
        return {"type": head}
    if head == "dropout":
        if len(rest) != 1 or not isinstance(p := _number_or_text(rest[0]), (int, float)):
            raise ValueError(f"`{text}`: write dropout with its probability, e.g. dropout 0.2")
        return {"type": "dropout", "p": float(p)}
    if head == "linear":
        if len(rest) != 1:
            raise ValueError(f"`{text}`: write linear with its output features, "
                             "e.g. linear num_classes")
        return {"type": "linear", "features": _number_or_text(rest[0])}
    m = _BLOCK_RE.match(text.strip())
    if not m:
        raise ValueError(f"cannot read `{text}`: {HELP}")
    out: dict[str, Any] = {"type": "block", "block": m[2], "args": {}}
    if m[1]:
        out["repeat"] = int(m[1])
    for arg in filter(None, (a.strip() for a in _split(m[3] or "", ",".__eq__))):
        name, eq, value = arg.partition("=")
        name, value = name.strip(), value.strip()
        if not eq or not name or not value:
            raise ValueError(f"`{text}`: write block arguments as name=value, got `{arg}`")
        if name in out["args"]:
            raise ValueError(f"`{text}`: argument `{name}` is given twice")
        out["args"][name] = _number_or_text(value)
    return out

