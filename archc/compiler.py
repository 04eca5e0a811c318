"""The front end in one call: spec file -> checked, fully shaped IR."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping

from .errors import Diagnostic, Diagnostics, SpecError
from .ir.check import check
from .ir.graph import Network
from .spec.elaborate import elaborate
from .spec.load import DISK, InMemory
from .spec.parse import parse_spec


def compile_spec(path=None, overrides: list[str] | tuple[str, ...] = (),
                 files: dict[str, str] | None = None, *, text: str | None = None,
                 name: str = "spec.yaml") -> Network:
    """Load, parse, elaborate and shape-check a spec, with its bases and `--set` overrides
    (KEY=VALUE, see spec/inherit.py); raises SpecError listing every problem.

    The spec: a file's path; or a mapping, the data of a spec (`{"name": ..., "layers": ...}`);
    or `text=`, a spec's YAML text. A spec given in memory is known as `name` in messages,
    which point at its YAML text (a mapping's, as yaml.safe_dump writes it).
    files: the spec files' texts by name, the spec among them, to compile without the disk (as
    a training checkpoint records its spec); its `extends` and `include` reach only these.

    Raises TypeError or ValueError for an argument of the wrong kind (a path that is not a str
    or an os.PathLike of one, or is empty or holds a NUL; overrides that are not a list of
    texts; files that are not texts by name)."""
    if isinstance(path, Mapping):
        path, text = None, _yaml_of(path)
    if path is None and text is None:
        raise TypeError("compile_spec() takes a spec path (str or os.PathLike), a spec's data "
                        "(a mapping) or text=YAML, not NoneType")
    if path is not None and text is not None:
        raise TypeError("compile_spec() takes a spec path, a mapping or text=YAML: one of them")
    if text is not None:
        if not isinstance(text, str):
            raise TypeError(f"compile_spec() takes text= as a str, not {type(text).__name__}")
        path = spec_path(name, "compile_spec() name=")
        files = {**(files or {}), path: text}
    path, overrides = spec_path(path), _overrides(overrides)
    if files is not None and not (isinstance(files, dict) and all(
            isinstance(name, str) and isinstance(text, str) for name, text in files.items())):
        raise TypeError("compile_spec() takes as files a dict of spec texts (str) by name (str)")
    parsed = parse_spec(path, overrides, DISK if files is None else InMemory(files))
    try:
        diags = Diagnostics()
        network = elaborate(parsed, diags)
        diags.raise_if_any()
        return check(network)
    except SpecError as e:
        if parsed.spec.scale is None:
            raise
        raise SpecError([_scaled_note(d, parsed.spec) for d in e.diagnostics]) from None


def _yaml_of(data: Mapping) -> str:
    """A spec's data as YAML text, for messages to point into."""
    import yaml

    try:
        return yaml.safe_dump(dict(data), sort_keys=False, allow_unicode=True)
    except yaml.YAMLError as e:
        raise TypeError(f"compile_spec() takes a mapping of plain data (dicts, lists, str, "
                        f"numbers, bools): {e}") from None


def spec_path(path, caller: str = "compile_spec()") -> str:
    """A spec path given to the Python API, as a str: a str or an os.PathLike of one, not empty
    and without NUL (as on the command line). Raises TypeError or ValueError."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{caller} takes a spec path (str or os.PathLike), not "
                        f"{type(path).__name__}")
    path = os.fspath(path)
    if not isinstance(path, str):
        raise TypeError(f"{caller} takes a str spec path, not {type(path).__name__}")
    if not path or "\0" in path:
        raise ValueError(f"{caller} got the spec path {path!r:.80}: it must be non-empty and "
                         "without NUL characters")
    return path


def _overrides(overrides) -> list[str]:
    """`--set` overrides given to the Python API: a list or tuple of KEY=VALUE texts (a single
    text would be read a character at a time)."""
    if not isinstance(overrides, (list, tuple)) or not all(isinstance(o, str) for o in overrides):
        raise TypeError("compile_spec() takes overrides as a list of KEY=VALUE texts, e.g. "
                        f"[\"num_classes=10\"], not {type(overrides).__name__} {overrides!r:.60}")
    return list(overrides)


def _scaled_note(diagnostic: Diagnostic, spec) -> Diagnostic:
    """A shape error of a scaled spec says so: the numbers it quotes are not the ones written."""
    if not diagnostic.code.startswith("E5"):
        return diagnostic
    scale = spec.scales[spec.scale]
    note = f" (with scale `{spec.scale}`: width {scale.width:g}, depth {scale.depth:g})"
    return dataclasses.replace(diagnostic, message=diagnostic.message + note)
