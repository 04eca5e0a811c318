"""Located diagnostics: every user-facing error names a file, a line, a column and a key path."""

from __future__ import annotations

import difflib
from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Pos:
    """A place in a spec file; line and column count from 1 (0: the file as a whole)."""

    file: str
    line: int = 0
    col: int = 0

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}" if self.line else self.file


# Every user-facing error has a stable code; docs/errors.md shows an example of each.
CATALOGUE: dict[str, str] = {
    # reading a file
    "E101": "the file does not exist",
    "E102": "the path is a folder, not a file",
    "E103": "the file cannot be read",
    "E104": "the file is too large",
    "E105": "the file is not UTF-8 text",
    "E106": "YAML syntax error",
    "E107": "more than one YAML document",
    "E108": "the file is empty",
    "E109": "YAML tag not supported",
    "E110": "YAML merge key not supported",
    "E111": "a mapping key that is not a plain name",
    "E112": "duplicate key",
    "E113": "anchors and aliases expand the document too far",
    "E114": "nested too deeply",
    "E115": "the path is not a regular file",
    "E116": "the document has too many YAML nodes",
    # the language
    "E201": "a required key is missing",
    "E202": "unknown key",
    "E203": "a value of the wrong type",
    "E204": "a number out of range",
    "E205": "a compact layer that cannot be read",
    "E206": "unknown layer type",
    "E207": "a layer that needs a name",
    "E208": "not a layer or step",
    "E209": "a name that cannot be used",
    "E210": "too few entries",
    "E211": "a file of block definitions given as a network",
    "E212": "a step with several keys",
    "E213": "a spec that is not a mapping",
    "E214": "a kernel size that cannot be read",
    "E215": "an expression that cannot be read",
    "E216": "per-channel values that do not match the input's channels",
    # includes and definitions
    "E301": "included file not found",
    "E302": "include cycle",
    "E303": "included path is a folder",
    "E304": "a network spec included as a library",
    "E305": "block defined twice",
    "E306": "parameter listed twice",
    "E307": "too many included files",
    "E308": "a base spec that cannot be extended",
    "E309": "an override of something the base does not have",
    # names, parameters and blocks
    "E401": "unknown parameter",
    "E402": "unknown block",
    "E403": "unknown block argument",
    "E404": "missing block argument",
    "E405": "a name used twice in one module",
    "E406": "a name the generated code uses",
    "E407": "a group that mixes named and unnamed steps",
    "E408": "a block that contains itself",
    "E409": "same padding with an even kernel",
    "E410": "unknown activation",
    "E411": "blocks nested too deeply",
    "E412": "unknown scale",
    "E413": "a block that is both a residual block and a gate",
    "E414": "a drop_path_rate that no step uses",
    "E415": "a step without a module in an nn.Sequential",
    "E416": "a residual's condition written where generated code cannot build it",
    "E417": "a repeat count that only an instance knows, where a number is needed",
    "E418": "a block of unnamed layers with a residual sum or a gate",
    # shapes
    "E501": "the input is too small for a layer",
    "E502": "concat branches differ in height and width",
    "E503": "residual add of different shapes",
    "E504": "a layer that needs C x H x W gets a flat or channels-last input",
    "E505": "a linear layer that gets an unflattened input",
    "E506": "a block argument of the wrong kind",
    "E507": "the head does not end in num_classes",
    "E508": "the network is larger than archc's bounds",
    "E509": "channels that do not divide into a conv's groups",
    "E510": "a pool's padding more than half its window",
    "E511": "a gate whose shape does not fit its block's input",
    "E512": "a range of channels outside its input's",
    # output
    "E601": "output folder does not exist",
    "E602": "output path is not a folder",
    "E603": "output folder is not writable",
    "E604": "cannot write a file",
    "E605": "two specs write the same file",
    "E606": "the graphviz dot program is missing",
    "E607": "no such block in the network",
    "E608": "generated code is out of date",
    "E609": "standard output cannot be written",
    "E610": "graphviz dot failed",
    "E611": "an output that archc does not replace",
    # checkpoints
    "E701": "a checkpoint that cannot be loaded",
    "E702": "a checkpoint that is not a state_dict of the source spec",
    "E703": "a package archc needs is not installed",
    # training and its runs
    "E801": "a data folder that is not an image folder",
    "E802": "data that does not fit the spec",
    "E803": "a run folder that cannot be used",
    "E804": "a checkpoint of another network",
    "E805": "an image that cannot be read",
    "E806": "training options that cannot be used",
    "E807": "training diverged",
    "E808": "a run folder without metrics",
}


@dataclass(frozen=True)
class Diagnostic:
    pos: Pos | None
    code: str
    message: str
    key_path: str = ""

    def __post_init__(self):
        assert self.code in CATALOGUE, self.code

    def __str__(self) -> str:
        where = f"{self.pos}: " if self.pos else ""
        path = f" ({_cut(self.key_path, 200)})" if self.key_path else ""
        return printable(f"{where}error[{self.code}]: {_cut(self.message, 1000)}{path}")


def _cut(text: str, limit: int) -> str:
    """A message part that quotes the spec (a compact layer, a key) fits in a readable line."""
    return text if len(text) <= limit else f"{text[:limit - 20]}... ({len(text):,} characters)"


def printable(text: str) -> str:
    """One line that any terminal can print: escapes for line breaks, control characters and
    lone surrogates (which a spec can write as `"\\ud800"`)."""
    return "".join(c if c.isprintable() and not 0xD800 <= ord(c) <= 0xDFFF
                   else c.encode("unicode_escape", "backslashreplace").decode("ascii")
                   for c in text)


MAX_LISTED = 10  # names listed in one message
MAX_HINTED = 50  # did-you-mean hints are looked for while a run has fewer errors than this
MAX_CANDIDATES = 500  # ... and among at most this many names


def close_match(name: str, candidates) -> str | None:
    """The candidate `name` was likely meant to be (difflib's), among at most MAX_CANDIDATES:
    beyond that, comparing with every one costs more than a hint is worth."""
    candidates = list(candidates)
    if len(candidates) > MAX_CANDIDATES:
        return None
    close = difflib.get_close_matches(name, candidates, n=1)
    return close[0] if close else None


def shortened(text: str, width: int = 40) -> str:
    """`text`, cut to fit in a one-line message."""
    return text if len(text) <= width else text[:width - 3] + "..."


def listing(names, quote: bool = True) -> str:
    """`a`, `b`, `c`: at most MAX_LISTED names, then how many more."""
    names = list(names)
    shown = [f"`{n}`" if quote else str(n) for n in names[:MAX_LISTED]]
    if len(names) > MAX_LISTED:
        shown.append(f"and {len(names) - MAX_LISTED:,} more")
    return ", ".join(shown)


def shown_chain(names: list[str]) -> str:
    """`a -> b -> c` on one short line: its first three names and its last two."""
    shown = names if len(names) <= 5 else names[:3] + ["..."] + names[-2:]
    return " -> ".join(shown)


class SpecError(Exception):
    """One or more independent problems in a spec; raised at the end of a phase."""

    def __init__(self, diagnostics: list[Diagnostic]):
        self.diagnostics = sorted(set(diagnostics), key=_sort_key)
        super().__init__("\n".join(str(d) for d in self.diagnostics))


def _sort_key(d: Diagnostic):
    return (d.pos is None, d.pos or Pos(""), d.message)


class Diagnostics:
    """Collects independent errors so that one run reports them all."""

    def __init__(self) -> None:
        self.items: list[Diagnostic] = []

    def error(self, pos: Pos | None, code: str, message: str, key_path: str = "") -> None:
        self.items.append(Diagnostic(pos, code, message, key_path))

    def close_match(self, name: str, candidates) -> str | None:
        """close_match, while this run has few errors: a spec of many wrong names and many
        definitions cannot make the hints quadratic."""
        return close_match(name, candidates) if len(self.items) < MAX_HINTED else None

    def __bool__(self) -> bool:
        return bool(self.items)

    def raise_if_any(self) -> None:
        if self.items:
            raise SpecError(self.items)
