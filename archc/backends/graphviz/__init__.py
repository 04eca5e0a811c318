"""The graphviz backend: IR -> paper-style block figures and network overviews."""

from __future__ import annotations

import subprocess

import graphviz

from .render import block_figure, figures, label, overview_figure

__all__ = ["DOT_TIMEOUT_S", "DotError", "block_figure", "draw", "figures", "label",
           "overview_figure"]

DOT_TIMEOUT_S = 60.0  # the paper's largest figure takes dot well under a second


class DotError(Exception):
    """graphviz `dot` could not draw a figure; the message says why."""


def draw(figure: graphviz.Digraph, fmt: str) -> bytes:
    """The figure drawn by `dot` in `fmt` (svg, png, pdf). Digraph.pipe runs the same command
    but waits for `dot` for ever."""
    try:
        done = subprocess.run(["dot", "-Kdot", f"-T{fmt}"], input=figure.source.encode(),
                              capture_output=True, timeout=DOT_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise DotError(f"no result after {DOT_TIMEOUT_S:g} s") from None
    except OSError as e:
        raise DotError(e.strerror) from None
    if done.returncode < 0:
        raise DotError(f"killed by signal {-done.returncode}")
    if done.returncode:
        said = done.stderr.decode(errors="replace").strip().splitlines()
        raise DotError(f"exit status {done.returncode}" + (f": {said[-1]}" if said else ""))
    return done.stdout
