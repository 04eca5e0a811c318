"""The front end in one call: spec file -> checked, fully shaped IR."""

from __future__ import annotations

import dataclasses

from .ir.elaborate import elaborate
from .ir.graph import Network
from .ir.shapes import infer
from .spec.errors import Diagnostics
from .spec.parse import parse_spec


def compile_spec(path: str) -> Network:
    """Load, parse, elaborate and shape-check a spec; raises SpecError listing every problem."""
    parsed = parse_spec(path)
    diags = Diagnostics()
    network = elaborate(parsed, diags)
    diags.raise_if_any()
    shapes = infer(network, diags)
    diags.raise_if_any()
    return dataclasses.replace(network, shapes=shapes)
