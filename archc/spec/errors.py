"""Located diagnostics: every user-facing error names a file, a line, a column and a key path."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Pos:
    """A place in a spec file; line and column count from 1 (0: the file as a whole)."""

    file: str
    line: int = 0
    col: int = 0

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}" if self.line else self.file


@dataclass(frozen=True)
class Diagnostic:
    pos: Pos | None
    message: str
    key_path: str = ""

    def __str__(self) -> str:
        where = f"{self.pos}: " if self.pos else ""
        path = f" ({self.key_path})" if self.key_path else ""
        return f"{where}error: {self.message}{path}"


class SpecError(Exception):
    """One or more independent problems in a spec; raised at the end of a phase."""

    def __init__(self, diagnostics: list[Diagnostic]):
        self.diagnostics = sorted(set(diagnostics), key=_sort_key)
        super().__init__("\n".join(str(d) for d in self.diagnostics))


def _sort_key(d: Diagnostic):
    return (d.pos is None, d.pos or Pos("", 0, 0), d.message)


class Diagnostics:
    """Collects independent errors so that one run reports them all."""

    def __init__(self) -> None:
        self.items: list[Diagnostic] = []

    def error(self, pos: Pos | None, message: str, key_path: str = "") -> None:
        self.items.append(Diagnostic(pos, message, key_path))

    def __bool__(self) -> bool:
        return bool(self.items)

    def raise_if_any(self) -> None:
        if self.items:
            raise SpecError(self.items)
