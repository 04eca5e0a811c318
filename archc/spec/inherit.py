"""Variants: a spec that `extends:` another states only what differs, and `--set key=value` does
the same from the command line. Both are resolved here, on the positioned data, before the
language sees it: what is inherited keeps the base file's positions, what is overridden has the
variant's, and nothing after parsing knows that a spec was inherited.

How an override merges into its base:
- a mapping merges key by key into a mapping (`input: {size: 224}` keeps the base's channels);
- in `layers`, `head` and a block's `layers`, a mapping edits the steps it names, in its order:
  - `repeat_1: {repeat: 5}` changes a step; a compact step it changes is first read into its
    long form (`10 x Block35(scale=0.17)` -> block, args, repeat), so that one field can change;
  - `repeat_1: 5 x Block17` (a string or a list) replaces a step;
  - `maxpool_3a: null` removes a step;
  - `se: {after: conv2d, step: "SE(squeeze=20)"}` (or `before:`) inserts a new step next to a
    step of the base or one inserted above it; steps inserted after the same step keep the
    override's order;
- any other value (a list, a string, a number) replaces the base's;
- `include` lists add up: each file's includes are relative to that file.
A step or block override that names nothing in the base is an error at the override, and so is an
insertion that cannot be read.
"""

from __future__ import annotations

import os

from ..errors import Diagnostics, Pos, SpecError, printable, shortened, shown_chain
from ..files import Unreadable
from ..limits import MAX_EXTENDS
from .compact import compact_to_long
from .load import (
    MAX_BYTES,
    Disk,
    InMemory,
    Mapping,
    Sequence,
    Text,
    load_file,
    load_text,
)

STEP_LISTS = ("layers", "head")  # lists of named steps, in a spec and in a block definition
INSERT_KEYS = frozenset({"after", "before", "step"})  # `name: {after: STEP, step: ...}`
SET = "--set "  # the file an override's values are at: `--set TEXT`
SCALE = "--scale "  # an override that is `--scale NAME` on the command line, where it is at


def folder_of(pos: Pos) -> str:
    """The folder a path written at `pos` is relative to: its file's, or for a `--set` value the
    current folder, as for any path on the command line."""
    return "" if pos.file.startswith(SET) else os.path.dirname(pos.file)


def resolve(raw: Mapping, path: str, overrides: list[str], diags: Diagnostics,
            source: Disk | InMemory) -> Mapping:
    """The spec at `path` with its bases (read from `source`) merged in and then every `--set`
    override; the files read for it are in `.sources` (path -> sha256), the spec first."""
    raw = _extended(raw, path, [os.path.normpath(path)], diags, source)
    changes = _scale_changes(_overridden(raw, overrides, Diagnostics()), diags)
    if changes is not None:
        raw = merge(raw, changes, "", diags)
    return _overridden(raw, overrides, diags)


def _overridden(raw: Mapping, overrides: list[str], diags: Diagnostics) -> Mapping:
    for text in overrides:
        raw = merge(raw, _set_override(text), "", diags)
    return raw


def _scale_changes(raw: Mapping, diags: Diagnostics) -> Mapping | None:
    """The `changes` of the scale the spec picks (after every override, which may pick it): a
    variant of the spec inside it, merged before the overrides (which stay the last word)."""
    scales, name = raw.get("scales"), raw.get("scale")
    if not isinstance(scales, Mapping) or not isinstance(name, str) or \
            not isinstance(scales.get(name), Mapping):
        return None
    changes = scales[name].get("changes")
    if not isinstance(changes, Mapping):
        return None  # the models say what is wrong with it
    kept = _copy(changes)
    for key in ("extends", "scale", "scales"):
        if key in kept:
            diags.error(kept.key_pos[key], "E202", f"a scale's changes cannot change `{key}`",
                        f"scales.{name}.changes.{key}")
            del kept[key]
    return kept


def split_override(text: str) -> tuple[list[str], str]:
    """`a.b.c=value` -> (["a", "b", "c"], "value"); ValueError if it is not KEY=VALUE."""
    if any(not c.isprintable() for c in text):
        raise ValueError(f"`{printable(text)}` is not one line of KEY=VALUE: a --set value "
                         "holds no line breaks or control characters (write a variant spec for "
                         "more)")
    path, equals, value = text.partition("=")
    parts = path.strip().split(".")
    if not equals or not all(parts):
        raise ValueError(f"`{text}` is not KEY=VALUE (e.g. num_classes=10, "
                         "layers.repeat_1.repeat=10)")
    if parts[0] == "extends":
        raise ValueError("`extends` cannot be set: the spec's bases are read before the "
                         "overrides; write a variant that extends the other spec")
    return parts, value


def _extended(raw: Mapping, path: str, chain: list[str], diags: Diagnostics,
              source: Disk | InMemory, size_in_all: int = 0) -> Mapping:
    """`raw` merged into the spec it extends, recursively; every bound (the chain's length, the
    bytes of all its files) is checked before the next file is read."""
    base_name = raw.get("extends")
    size_in_all += raw.size
    if base_name is None:
        raw.sources = {path: raw.sha256}
        return raw
    pos = raw.value_pos["extends"]
    target = os.path.normpath(os.path.join(os.path.dirname(path), str(base_name)))
    problem = None
    if not isinstance(base_name, str):
        problem = "`extends` names the spec this one changes: a path, relative to this file"
    elif target in chain:
        problem = f"extends cycle: {shown_chain(chain + [target])}"
    elif len(chain) > MAX_EXTENDS:
        problem = f"more than {MAX_EXTENDS} specs extend each other ({shown_chain(chain)})"
    else:
        try:
            if size_in_all + source.size(target) > MAX_BYTES:
                problem = (f"the spec and the specs it extends are larger than "
                           f"{MAX_BYTES // 2**20} MiB in all")
        except Unreadable as e:
            problem = f"the base spec `{base_name}`: {e.message} (looked for {target})"
    if problem:
        diags.error(pos, "E308", problem, "extends")
        diags.raise_if_any()
    try:
        base = load_file(target, source)
    except SpecError as e:  # say how the file came to be read: /etc/passwd alone says nothing
        diags.items.extend(e.diagnostics)
        diags.error(pos, "E308", f"the base spec `{base_name}` cannot be read (see the errors "
                                 f"in {target})", "extends")
        diags.raise_if_any()
    if not {"name", "input", "layers"} & set(base):
        diags.error(pos, "E308", f"`{base_name}` is not a network spec (a file of blocks is "
                                 "included, not extended)", "extends")
        diags.raise_if_any()
    base = _extended(base, target, chain + [target], diags, source, size_in_all)
    merged = merge(base, raw, "", diags)
    merged.sources = {path: raw.sha256, **base.sources}
    return merged


def merge(base, over, key: str, diags: Diagnostics):
    """`over` merged into `base` (see the module's docstring); `key` is where they are."""
    if isinstance(over, Mapping) and isinstance(base, Sequence) and \
            key.rsplit(".", 1)[-1] in STEP_LISTS:
        return _merge_steps(base, over, key, diags)
    if not (isinstance(over, Mapping) and isinstance(base, Mapping)):
        return over
    out = _copy(base)
    out.pos = over.pos  # what the override changes is its own; what it keeps, the base's
    for name, value in over.items():
        where = f"{key}.{name}" if key else name
        if name == "extends" and not key:
            continue
        if name == "include" and not key and isinstance(value, Sequence) and \
                isinstance(base.get(name), Sequence):
            value = _concat(base[name], value)
        elif name in base:
            value = merge(base[name], value, where, diags)
        elif key == "blocks" and isinstance(value, Mapping) and "layers" not in value:
            _unknown(diags, over.key_pos[name], f"no block `{name}` in the base to change "
                     "(a new block needs its `layers`)", name, base, where)
            continue
        out[name] = value
        out.key_pos[name] = over.key_pos[name]
        out.value_pos[name] = over.value_pos[name]
    return out


def _merge_steps(base: Sequence, over: Mapping, key: str, diags: Diagnostics) -> Sequence:
    """The edits of `over` made to the steps of `base`, one after another (see the module's
    docstring)."""
    out = Sequence(base)
    out.pos, out.item_pos = base.pos, list(base.item_pos)
    names = [_step_name(step) for step in base]  # kept in line with `out`
    last_after: dict[str, str] = {}  # an anchor -> the step last inserted after it
    for name, value in over.items():
        where = f"{key}.{name}"
        if isinstance(value, Mapping) and not INSERT_KEYS.isdisjoint(value):
            insertion = _insertion(name, value, key, names, over.key_pos[name], diags)
            if insertion is None:
                continue
            anchor, after = insertion
            if after:  # after the step last inserted after the anchor: they keep their order
                previous = last_after.get(anchor, anchor)
                last_after[anchor] = name
                anchor = previous
            i = names.index(anchor) + (1 if after else 0)
            step = Mapping({name: value["step"]})
            step.pos = over.key_pos[name]
            step.key_pos, step.value_pos = {name: step.pos}, {name: value.value_pos["step"]}
            out.insert(i, step)
            out.item_pos.insert(i, step.pos)
            names.insert(i, name)
        elif name not in names:
            if value is None:
                _unknown(diags, over.key_pos[name], f"no step `{name}` in the base's `{key}` to "
                         "remove", name, names, where)
            else:
                _unknown(diags, over.key_pos[name], f"no step `{name}` in the base's `{key}` to "
                         "change", name, names, where,
                         f" (to add one, write `{name}: {{after: STEP, step: ...}}`)")
        elif value is None:
            i = names.index(name)
            del out[i], out.item_pos[i], names[i]
        else:
            i = names.index(name)
            step = out[i]
            current = step[name]
            if isinstance(value, Mapping) and isinstance(current, Text):
                try:
                    current = _positioned(compact_to_long(current), current.pos)
                except ValueError as e:
                    diags.error(current.pos, "E205", str(e), where)
                    continue
            changed = _copy(step)
            changed[name] = merge(current, value, where, diags)
            changed.value_pos[name] = over.value_pos[name]
            out[i] = changed
    return out


def _step_name(step) -> str | None:
    return next(iter(step)) if isinstance(step, Mapping) and len(step) == 1 else None


def _insertion(name: str, value: Mapping, key: str, names: list, pos: Pos,
               diags: Diagnostics) -> tuple[str, bool] | None:
    """Where `name: {after: STEP, step: ...}` (or `before:`) inserts its step: (STEP, whether
    after it); None, with the errors in `diags`, if it cannot be read."""
    where = f"{key}.{name}"
    if name in names:
        diags.error(pos, "E405", f"`{name}` is already a step of the base: change it with "
                    f"`{name}: {{...}}` or replace it with `{name}: VALUE`", where)
    unknown = [k for k in value if k not in INSERT_KEYS]
    for k in unknown:  # most likely a misspelt key: what is missing then goes without saying
        close = diags.close_match(k, sorted(INSERT_KEYS))
        diags.error(value.key_pos[k], "E202",
                    f"unknown key `{k}` in an inserted step (it takes `after` or `before`, and "
                    "`step`)" + (f" (did you mean `{close}`?)" if close else ""), f"{where}.{k}")
    anchors = [k for k in ("after", "before") if k in value]
    if len(anchors) == 2:
        diags.error(value.pos, "E203", f"`{name}` has both `after` and `before`: an inserted "
                    "step goes after one step or before one", where)
    elif not anchors and not unknown:
        diags.error(value.pos, "E201", f"missing `after` or `before`: where `{name}` goes (e.g. "
                    f"`{name}: {{after: STEP, step: ...}}`)", where)
    if "step" not in value and not unknown:
        diags.error(value.pos, "E201", f"missing `step`: the step `{name}` inserts (e.g. "
                    f"`{name}: {{after: STEP, step: conv 1x1 32}}`)", where)
    if name in names or unknown or len(anchors) != 1 or "step" not in value:
        return None
    (side,) = anchors
    anchor = value[side]
    if not isinstance(anchor, str) or anchor not in names:
        _unknown(diags, value.value_pos[side], f"no step `{anchor}` in the base's `{key}` to "
                 f"insert `{name}` {side}", str(anchor), names, f"{where}.{side}")
        return None
    return anchor, side == "after"


def _positioned(value, pos: Pos):
    """Data as the loader's positioned data, every node at `pos`."""
    if isinstance(value, dict):
        out = Mapping({k: _positioned(v, pos) for k, v in value.items()})
        out.pos, out.key_pos, out.value_pos = pos, dict.fromkeys(value, pos), \
            dict.fromkeys(value, pos)
        return out
    if isinstance(value, list):
        seq = Sequence(_positioned(v, pos) for v in value)
        seq.pos, seq.item_pos = pos, [pos] * len(seq)
        return seq
    if isinstance(value, str):
        text = Text(value)
        text.pos = pos
        return text
    return value


def _copy(mapping: Mapping) -> Mapping:
    out = Mapping(mapping)
    out.pos = mapping.pos
    out.key_pos, out.value_pos = dict(mapping.key_pos), dict(mapping.value_pos)
    for attribute in ("sha256", "size", "sources"):
        if hasattr(mapping, attribute):
            setattr(out, attribute, getattr(mapping, attribute))
    return out


def _concat(first: Sequence, second: Sequence) -> Sequence:
    out = Sequence([*first, *second])
    out.pos, out.item_pos = second.pos, [*first.item_pos, *second.item_pos]
    return out


def _unknown(diags: Diagnostics, pos: Pos, message: str, name: str, known, where: str,
             hint: str = "") -> None:
    """E309 at `pos`, with the name in `known` that `name` was likely meant to be, or else
    `hint`."""
    close = diags.close_match(name, (k for k in known if k is not None))
    diags.error(pos, "E309", message + (f" (did you mean `{close}`?)" if close else hint), where)


def _set_override(text: str) -> Mapping:
    """`--set a.b.c=value` as the mapping {a: {b: {c: value}}}, all at the position
    `--set TEXT`; the value is read as YAML (`10`, `0.2`, `conv 1x1 in linear`, `[224, 224]`)."""
    # The position is in every error's first words: the option as the reader wrote it.
    if text.startswith(SCALE):  # `scale=NAME`, given as the command line's --scale
        pos = Pos(shortened(text, 200))
        parts, value_text = ["scale"], text[len(SCALE):]
    else:
        pos = Pos(f"{SET}{shortened(text, 200)}")
        parts, value_text = split_override(text)
    value = load_text(f"value: {value_text}\n", pos.file)["value"]
    for part in reversed(parts):
        value = {part: value}
    return _positioned(value, pos)
