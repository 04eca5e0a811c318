"""Identifier rules shared by every phase: what a name in a spec may be, and how the network's
name becomes a class name."""

from __future__ import annotations

import re

IDENTIFIER = r"[A-Za-z_][A-Za-z0-9_]*"
IDENTIFIER_RE = re.compile(rf"^{IDENTIFIER}$")
MAX_NAME_LENGTH = 100  # a network's and a block's names make a figure's file name


def is_identifier(value) -> bool:
    return isinstance(value, str) and bool(IDENTIFIER_RE.fullmatch(value))


def class_name(name: str) -> str:
    """The network's class in generated code: inception_resnet_v2 -> InceptionResnetV2."""
    return "".join(part[:1].upper() + part[1:] for part in name.split("_") if part)
