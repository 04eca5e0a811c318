"""YAML text -> plain data (dicts, lists, scalars) that remembers where every node came from.

Only YAML's safe core is accepted: no custom tags, no merge keys, no duplicate keys, one document.
Aliases are allowed, but the expanded document is bounded so that an alias bomb cannot exhaust
memory.

Plain scalars are read as YAML 1.2's core schema reads them, not as YAML 1.1 (PyYAML's default):
`1e-5` is a float, `010` is 10, `0x1F` and `0o17` are hex and octal, `1_000` is 1000 (underscores
between digits, as in Python); only true/false are booleans and `yes`, `on`, `1:30`, `0b101` and
`2001-12-14` are strings.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import yaml

from ..errors import Diagnostic, Pos, SpecError

_SURROGATE = re.compile("[\ud800-\udfff]")
MAX_NODES = 200_000
MAX_DEPTH = 100
MAX_BYTES = 4 * 1024 * 1024

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


class SpecLoader(yaml.SafeLoader):
    """PyYAML's safe loader, resolving and reading plain scalars by YAML 1.2's core schema."""


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
        shown = text if len(text) <= 40 else text[:37] + "..."
        raise _BadValue(f"a value tagged !!{node.tag.rsplit(':', 1)[-1]} must be {what}, "
                        f"got {shown!r}")
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
    mapping also has the sha256 of the file's bytes."""

    pos: Pos
    key_pos: dict
    value_pos: dict
    sha256: str


class Text(str):
    """A YAML string with its position (compact layers are parsed from these)."""

    pos: Pos


class Sequence(list):
    """A YAML sequence with the position of itself and of each item."""

    pos: Pos
    item_pos: list


def position(file: str, mark) -> Pos:
    return Pos(file, mark.line + 1, mark.column + 1)


def load_file(path: str | Path, display: str | None = None):
    """Read a spec file into positioned data; raises SpecError with a located message."""
    name = display or str(path)
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise SpecError([Diagnostic(Pos(name), "E101", "no such file")]) from None
    except IsADirectoryError:
        raise SpecError([Diagnostic(Pos(name), "E102", "is a folder, not a spec file")]) from None
    except OSError as e:
        raise SpecError([Diagnostic(Pos(name), "E103", f"cannot read: {e.strerror}")]) from None
    if len(data) > MAX_BYTES:
        raise SpecError([Diagnostic(Pos(name), "E104",
                                    f"file is larger than {MAX_BYTES // 2**20} MiB")])
    root = load_text(data, name)
    root.sha256 = hashlib.sha256(data).hexdigest()
    return root


def load_text(data: bytes | str, name: str):
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as e:
            line = data[: e.start].count(b"\n") + 1
            col = e.start - (data.rfind(b"\n", 0, e.start) + 1) + 1
            raise SpecError(
                [Diagnostic(Pos(name, line, col), "E105",
                            f"not UTF-8 text (byte 0x{data[e.start]:02x})")]
            ) from None
    else:
        text = data
    try:
        loader = SpecLoader(text)  # its reader refuses control characters such as NUL
        try:
            node = loader.get_single_node()
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        problem = e.problem or e.context or "invalid YAML"
        code = "E106"
        if "expected a single document" in (e.context or ""):
            code, problem = "E107", "more than one YAML document: a spec is a single document"
        elif e.context and e.context_mark and ("end of stream" in problem
                                               or "<stream end>" in problem):
            # An unclosed quote or bracket: point at where it opens, not at the end of the file.
            mark = e.context_mark
            problem = f"{e.context.removeprefix('while ')} here, the file ends before it closes"
        raise SpecError([Diagnostic(position(name, mark), code, f"YAML syntax: {problem}")]) \
            from None
    except yaml.reader.ReaderError as e:
        char = e.character if isinstance(e.character, int) else ord(e.character)
        line = text[: e.position].count("\n") + 1
        col = e.position - (text.rfind("\n", 0, e.position) + 1) + 1
        raise SpecError([Diagnostic(Pos(name, line, col), "E106",
                                    f"YAML syntax: character U+{char:04X} is not "
                                    "allowed")]) \
            from None
    except yaml.YAMLError as e:
        raise SpecError([Diagnostic(Pos(name, 1, 1), "E106", f"YAML syntax: {e}")]) from None
    except RecursionError:
        raise SpecError([Diagnostic(Pos(name, 1, 1), "E114", "YAML nested too deeply")]) from None
    if node is None:
        raise SpecError([Diagnostic(Pos(name, 1, 1), "E108", "the file is empty")])
    if not isinstance(node, yaml.MappingNode):
        raise SpecError([Diagnostic(position(name, node.start_mark), "E213",
                                    "a spec file is a mapping (of keys such as name, input, "
                                    "layers, blocks)")])
    builder = _Builder(name, loader)
    builder.expanded_size(node, 0, {})
    return builder.build(node)


class _Builder:
    def __init__(self, name: str, loader: yaml.SafeLoader):
        self.name = name
        self.loader = loader

    def fail(self, node, code: str, message: str):
        raise SpecError([Diagnostic(position(self.name, node.start_mark), code, message)])

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
                self.fail(node, "E109", f"YAML tag {node.tag!r} is not supported: use plain values")
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
                value.pos = position(self.name, node.start_mark)
            return value
        if isinstance(node, yaml.SequenceNode):
            if node.tag != "tag:yaml.org,2002:seq":
                self.fail(node, "E109", f"YAML tag {node.tag!r} is not supported")
            out = Sequence()
            out.pos = position(self.name, node.start_mark)
            out.item_pos = []
            for item in node.value:
                out.append(self.build(item))
                out.item_pos.append(position(self.name, item.start_mark))
            return out
        if node.tag != "tag:yaml.org,2002:map":
            self.fail(node, "E109", f"YAML tag {node.tag!r} is not supported")
        out = Mapping()
        out.pos = position(self.name, node.start_mark)
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
                self.fail(key_node, "E112", f"duplicate key `{key}` (first at line {first.line})")
            out.key_pos[key] = position(self.name, key_node.start_mark)
            out[key] = self.build(value_node)
            out.value_pos[key] = position(self.name, value_node.start_mark)
        return out
