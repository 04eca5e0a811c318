"""YAML text -> plain data (dicts, lists, scalars) that remembers where every node came from.

Only YAML's safe core is accepted: no custom tags, no merge keys, no duplicate keys, one document.
Aliases are allowed, but the expanded document is bounded so that an alias bomb cannot exhaust
memory. Every bound is checked before the work it guards: a path's kind and size before it is
opened, the number of nodes and their depth while the document is composed.

Positions follow editors and YAML 1.2, not PyYAML (YAML 1.1): line breaks are `\n`, `\r\n` and
`\r`; NEL, LS and PS (U+0085, U+2028, U+2029) are ordinary characters; a byte-order mark at the
start is not part of line 1.

Plain scalars are read as YAML 1.2's core schema reads them, not as YAML 1.1 (PyYAML's default):
`1e-5` is a float, `010` is 10, `0x1F` and `0o17` are hex and octal, `1_000` is 1000 (underscores
between digits, as in Python); only true/false are booleans and `yes`, `on`, `1:30`, `0b101` and
`2001-12-14` are strings.
"""

from __future__ import annotations

import bisect
import hashlib
import os
import re
from array import array
from pathlib import Path

import yaml

from ..errors import Diagnostic, Pos, SpecError, shortened
from ..files import Unreadable, file_size, read_bounded, too_large

_SURROGATE = re.compile("[\ud800-\udfff]")
# Far above real specs (the largest bundled one has 5 KB, 276 nodes and 651 tokens), and low
# enough that PyYAML's pure-Python parser reaches any of them within a second or two.
MAX_BYTES = 1024 * 1024
MAX_NODES = 20_000
MAX_TOKENS = 100_000  # a node takes two or three; this bounds what makes none (`...`, `%X`)
MAX_DEPTH = 100

_PLAIN_TAGS = {
    "tag:yaml.org,2002:str",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
}


# YAML 1.2 core schema, with Python's underscores between digits (`1_000`, `0xFFFF_FFFF`).
_DIGITS = r"[0-9](?:_?[0-9])*"
_INT = re.compile(rf"""(?: [-+]?{_DIGITS}
                         | 0o[0-7](?:_?[0-7])*
                         | 0x[0-9a-fA-F](?:_?[0-9a-fA-F])* )\Z""", re.X)
_FLOAT = re.compile(rf"""(?: [-+]?(?:\.{_DIGITS}|{_DIGITS}(?:\.(?:{_DIGITS})?)?)
                           (?:[eE][-+]?{_DIGITS})?
                         | (?P<special>[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)) )\Z""", re.X)
_BOOL = re.compile(r"(?:(?P<true>true|True|TRUE)|false|False|FALSE)\Z")
_NULL = re.compile(r"(?:~|null|Null|NULL)?\Z")
_TOO_LARGE = 10**4300  # Python refuses to read or print a decimal integer of more digits
_SIGNS_AND_DIGITS = list("-+0123456789")


class _BadValue(Exception):
    """A value whose explicit tag (`!!int x`) it does not fit."""


class _Refused(Exception):
    """A document that passes a bound while it is composed: the code, message and YAML mark."""

    def __init__(self, code: str, message: str, mark):
        super().__init__(message)
        self.code, self.message, self.mark = code, message, mark


# PyYAML's scanner ends a line at NEL, LS and PS. It looks at characters through `peek` and takes
# text through `prefix`: it peeks into a copy of the text where they are lone surrogates (which the
# reader refuses in a spec, so the copy's surrogates are these and no others), and takes its text
# from the real one.
_STAND_INS = {"\x85": "\ud800", "\u2028": "\ud801", "\u2029": "\ud802"}
_TO_STAND_INS = str.maketrans(_STAND_INS)


class SpecLoader(yaml.SafeLoader):
    """PyYAML's safe loader, resolving and reading plain scalars by YAML 1.2's core schema, with
    NEL, LS and PS as ordinary characters, and counting nodes and depth as it composes them."""

    def __init__(self, text: str):  # a str, which the reader holds whole (bytes it would not)
        super().__init__(text)  # its reader refuses control characters and lone surrogates
        self.text = self.buffer
        self.buffer = self.buffer.translate(_TO_STAND_INS)
        self.nodes = 0
        self.depth = 0

    def prefix(self, length=1):
        return self.text[self.pointer:self.pointer + length]

    def get_token(self):
        token = super().get_token()
        if self.tokens_taken > MAX_TOKENS:
            raise _Refused("E116", f"the document has more than {MAX_TOKENS} YAML tokens",
                           token.start_mark)
        return token

    def compose_node(self, parent, index):
        mark = self.peek_event().start_mark
        self.nodes += 1  # aliases too: each costs as much to read as a small node
        if self.nodes > MAX_NODES:
            raise _Refused("E116", f"the document has more than {MAX_NODES} nodes", mark)
        if self.depth > MAX_DEPTH:
            raise _Refused("E114", f"nested more than {MAX_DEPTH} levels deep", mark)
        self.depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


SpecLoader.yaml_implicit_resolvers = {
    first: kept for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    if (kept := [(tag, regexp) for tag, regexp in resolvers
                 if tag.removeprefix("tag:yaml.org,2002:")
                 not in ("int", "float", "bool", "null", "timestamp", "value")])
}  # what is left is the merge key `<<`, which load refuses with its own message (E110)
SpecLoader.add_implicit_resolver("tag:yaml.org,2002:bool", _BOOL, list("tTfF"))
SpecLoader.add_implicit_resolver("tag:yaml.org,2002:int", _INT, _SIGNS_AND_DIGITS)
SpecLoader.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT, _SIGNS_AND_DIGITS + ["."])
SpecLoader.add_implicit_resolver("tag:yaml.org,2002:null", _NULL, ["~", "n", "N", ""])


def _fit(loader, node, pattern, what: str):
    text = loader.construct_scalar(node)
    match = pattern.match(text)
    if match is None:
        raise _BadValue(f"a value tagged !!{node.tag.rsplit(':', 1)[-1]} must be {what}, "
                        f"got {shortened(text)!r}")
    return text, match


def _construct_int(loader, node) -> int:
    text, _ = _fit(loader, node, _INT, "a whole number")
    base = {"0x": 16, "0o": 8}.get(text[:2], 10)
    value = int(text if base == 10 else text[2:], base)  # ValueError: over 4300 digits
    if abs(value) >= _TOO_LARGE:
        raise ValueError("a number too large to read")
    return value


def _construct_float(loader, node) -> float:
    text, match = _fit(loader, node, _FLOAT, "a number")
    return float(text.replace(".", "").lower() if match["special"] else text)  # -.Inf: -inf


def _construct_bool(loader, node) -> bool:
    _, match = _fit(loader, node, _BOOL, "true or false")
    return match["true"] is not None


SpecLoader.add_constructor("tag:yaml.org,2002:int", _construct_int)
SpecLoader.add_constructor("tag:yaml.org,2002:float", _construct_float)
SpecLoader.add_constructor("tag:yaml.org,2002:bool", _construct_bool)


class Mapping(dict):
    """A YAML mapping with the position of itself, of each key and of each value. A file's top
    mapping also has the sha256 and the size of the file's bytes."""

    pos: Pos
    key_pos: dict
    value_pos: dict
    sha256: str
    size: int


class Text(str):
    """A YAML string with its position (compact layers are parsed from these)."""

    pos: Pos


class Sequence(list):
    """A YAML sequence with the position of itself and of each item."""

    pos: Pos
    item_pos: list


_LINE_BREAK = re.compile(r"\r\n?|\n")


def locator(text: str, file: str):
    """A function from a character index of `text` to its Pos: the one way positions are computed
    (PyYAML's own lines and columns count NEL, LS and PS as line breaks, and a BOM as a column).
    `text` starts after any byte-order mark."""
    starts = array("q", [0])  # the index at which each line starts
    starts.extend(m.end() for m in _LINE_BREAK.finditer(text))

    def at(index: int) -> Pos:
        line = bisect.bisect_right(starts, index)
        return Pos(file, line, index - starts[line - 1] + 1)

    return at


SPEC = "a spec file"


def spec_file_size(path: str | Path) -> int:
    """The size of the spec file at `path`, its kind and size checked. Raises Unreadable."""
    return file_size(path, MAX_BYTES, SPEC)


def read_spec_bytes(path: str | Path) -> bytes:
    """The bytes of the spec file at `path`, its kind and size checked first. Raises Unreadable."""
    return read_bounded(path, MAX_BYTES, SPEC)


class Disk:
    """Spec files read from the disk, each checked for its kind and size first."""

    @staticmethod
    def size(path: str) -> int:
        return spec_file_size(path)

    @staticmethod
    def read(path: str) -> bytes:
        return read_spec_bytes(path)


DISK = Disk()


class InMemory:
    """Spec files given as texts by name, as a training checkpoint records them: a name that is
    not among them is missing, whatever the disk holds, and nothing is read from or written to
    the disk."""

    def __init__(self, texts: dict[str, str]):
        self.files = {os.path.normpath(name): text.encode("utf-8", "surrogatepass")
                      for name, text in texts.items()}

    def size(self, path: str) -> int:
        data = self.files.get(os.path.normpath(path))
        if data is None:
            raise Unreadable("E101", "no such file")
        if len(data) > MAX_BYTES:
            raise Unreadable("E104", too_large(MAX_BYTES))
        return len(data)

    def read(self, path: str) -> bytes:
        self.size(path)
        return self.files[os.path.normpath(path)]


def load_file(path: str | Path, files: Disk | InMemory = DISK):
    """Read a spec file into positioned data; raises SpecError with a located message. The top
    mapping has the sha256 and the size of the file's bytes."""
    name = str(path)
    try:
        data = files.read(name)
    except Unreadable as e:
        raise SpecError([Diagnostic(Pos(name), e.code, e.message)]) from None
    root = load_text(data, name)
    root.sha256 = hashlib.sha256(data).hexdigest()
    root.size = len(data)
    return root


def load_text(data: bytes | str, name: str):
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as e:
            before = data[: e.start].decode("utf-8").removeprefix("\ufeff")
            raise SpecError([Diagnostic(locator(before, name)(len(before)), "E105",
                                        f"not UTF-8 text (byte 0x{data[e.start]:02x})")]) \
                from None
    else:
        text = data
    text = text.removeprefix("\ufeff")
    at = locator(text, name)
    try:
        loader = SpecLoader(text)
        try:
            node = loader.get_single_node()
        finally:
            loader.dispose()
    except _Refused as e:
        raise SpecError([Diagnostic(at(e.mark.index), e.code, e.message)]) from None
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        problem = _real_characters(e.problem or e.context or "invalid YAML")
        code = "E106"
        if "expected a single document" in (e.context or ""):
            code, problem = "E107", "more than one YAML document: a spec is a single document"
        elif e.context and e.context_mark and ("end of stream" in problem
                                               or "<stream end>" in problem):
            # An unclosed quote or bracket: point at where it opens, not at the end of the file.
            mark = e.context_mark
            problem = f"{e.context.removeprefix('while ')} here, the file ends before it closes"
        raise SpecError([Diagnostic(at(mark.index), code, f"YAML syntax: {problem}")]) from None
    except yaml.reader.ReaderError as e:
        char = e.character if isinstance(e.character, int) else ord(e.character)
        raise SpecError([Diagnostic(at(e.position), "E106",
                                    f"YAML syntax: character U+{char:04X} is not allowed")]) \
            from None
    except yaml.YAMLError as e:
        raise SpecError([Diagnostic(Pos(name, 1, 1), "E106", f"YAML syntax: {e}")]) from None
    except (ValueError, OverflowError):  # PyYAML's chr() of an escape such as "\U00110000"
        escape = text.rfind("\\", 0, loader.index)
        raise SpecError([Diagnostic(at(escape), "E106", "YAML syntax: an escape for a character "
                                                        "beyond U+10FFFF")]) from None
    if node is None:
        raise SpecError([Diagnostic(Pos(name, 1, 1), "E108", "the file is empty")])
    builder = _Builder(at, loader)
    if not isinstance(node, yaml.MappingNode):
        builder.fail(node, "E213", "a spec file is a mapping (of keys such as name, input, "
                                   "layers, blocks)")
    builder.expanded_size(node, 0, {})
    return builder.build(node)


def _real_characters(problem: str) -> str:
    """A scanner's message, with the characters it saw as stand-ins named as they are."""
    for real, stand_in in _STAND_INS.items():
        problem = problem.replace(repr(stand_in)[1:-1], repr(real)[1:-1])
    return problem


class _Builder:
    def __init__(self, at, loader: yaml.SafeLoader):
        self.at = at  # character index -> Pos
        self.loader = loader

    def pos(self, node) -> Pos:
        return self.at(node.start_mark.index)

    def fail(self, node, code: str, message: str):
        raise SpecError([Diagnostic(self.pos(node), code, message)])

    def expanded_size(self, node, depth: int, sizes: dict) -> int:
        """The number of nodes the document has once aliases are expanded, counted without
        expanding them (each node once); refuses documents that are too large or too deep."""
        if depth > MAX_DEPTH:
            self.fail(node, "E114", f"nested more than {MAX_DEPTH} levels deep")
        if id(node) in sizes:
            if sizes[id(node)] is None:
                self.fail(node, "E114", "an alias refers to a node that contains it")
            return sizes[id(node)]
        sizes[id(node)] = None
        children = [] if isinstance(node, yaml.ScalarNode) else \
            node.value if isinstance(node, yaml.SequenceNode) else \
            [part for pair in node.value for part in pair]
        child_sizes = [self.expanded_size(child, depth + 1, sizes) for child in children]
        size = 1 + sum(child_sizes)
        if size > MAX_NODES and all(s <= MAX_NODES for s in child_sizes):
            self.fail(node, "E113", f"this expands to more than {MAX_NODES} nodes through "
                                    "anchors and aliases")
        sizes[id(node)] = size
        return size

    def build(self, node):
        if isinstance(node, yaml.ScalarNode):
            if node.tag not in _PLAIN_TAGS:
                self.fail(node, "E109", f"YAML tag {shortened(node.tag, 80)!r} is not supported: "
                                        "use plain values")
            try:
                value = self.loader.construct_object(node, deep=True)
            except (ValueError, OverflowError):  # an integer of more than 4300 digits
                self.fail(node, "E204", "a number too large to read")
            except _BadValue as e:  # `!!int x`, `!!bool maybe`
                self.fail(node, "E106", f"YAML syntax: {e}")
            if isinstance(value, str):
                if _SURROGATE.search(value):
                    self.fail(node, "E106", "YAML syntax: a string holds a lone surrogate "
                                            "(`\\ud800`-`\\udfff`), which is not a character")
                value = Text(value)
                value.pos = self.pos(node)
            return value
        if isinstance(node, yaml.SequenceNode):
            if node.tag != "tag:yaml.org,2002:seq":
                self.fail(node, "E109", f"YAML tag {shortened(node.tag, 80)!r} is not supported")
            out = Sequence()
            out.pos = self.pos(node)
            out.item_pos = []
            for item in node.value:
                out.append(self.build(item))
                out.item_pos.append(self.pos(item))
            return out
        if node.tag != "tag:yaml.org,2002:map":
            self.fail(node, "E109", f"YAML tag {shortened(node.tag, 80)!r} is not supported")
        out = Mapping()
        out.pos = self.pos(node)
        out.key_pos, out.value_pos = {}, {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                self.fail(key_node, "E110",
                          "YAML merge keys (<<) are not supported: write the keys out")
            if not isinstance(key_node, yaml.ScalarNode):
                self.fail(key_node, "E111", "a mapping key must be a plain name")
            key = self.build(key_node)
            if not isinstance(key, str):
                key = key_node.value  # `1: x` or `true: x`: keep the text the user wrote
            if key in out:
                first = out.key_pos[key]
                self.fail(key_node, "E112",
                          f"duplicate key `{shortened(key, 80)}` (first at line {first.line})")
            out.key_pos[key] = self.pos(key_node)
            out[key] = self.build(value_node)
            out.value_pos[key] = self.pos(value_node)
        return out
