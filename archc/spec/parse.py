"""Spec files -> validated pydantic models, with includes resolved and every error located."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from ..errors import Diagnostics, Pos, SpecError, close_match, listing, shown_chain
from ..files import Unreadable
from ..limits import MAX_INCLUDES
from . import models as schema
from .inherit import folder_of, resolve
from .load import DISK, MAX_BYTES, Disk, InMemory, Mapping, Sequence, load_file
from .scale import scaled


@dataclass(frozen=True)
class ParsedSpec:
    path: str
    spec: schema.Spec
    blocks: dict[str, schema.BlockDef]  # the spec's own and every included file's, by name
    files: tuple[tuple[str, str], ...]  # (path, sha256) of the spec and its includes


def parse_spec(path: str, overrides: list[str] | tuple[str, ...] = (),
               source: Disk | InMemory = DISK) -> ParsedSpec:
    """The spec at `path`, with the specs it extends merged in and then `overrides`
    (`--set KEY=VALUE`, see inherit.py); every file is read from `source`."""
    diags = Diagnostics()
    raw = load_file(path, source)
    if "blocks" in raw and not {"name", "input", "layers", "extends"} & set(raw):
        diags.error(raw.pos, "E211", "this file only defines blocks (it is meant to be "
                                     "included by a spec); a network spec needs `name`, `input` "
                                     "and `layers`")
        diags.raise_if_any()
    raw = resolve(raw, path, list(overrides), diags, source)
    diags.raise_if_any()
    spec = validate(schema.Spec, raw, diags)
    blocks: dict[str, tuple] = {}  # name -> (definition, position of its name)
    files = dict(raw.sources)
    if spec is not None:
        _add_blocks(blocks, spec.blocks, raw, diags)
    _resolve_includes(raw, path, blocks, files, diags, source)
    diags.raise_if_any()
    definitions = {name: block for name, (block, _) in blocks.items()}
    if spec.scale is not None:
        if spec.scale not in spec.scales:
            close = diags.close_match(spec.scale, spec.scales)
            hint = f"did you mean `{close}`? " if close else ""
            diags.error(raw.value_pos["scale"], "E412", f"no scale `{spec.scale}` in `scales` "
                                                        f"({hint}its scales: "
                                                        f"{listing(spec.scales) or 'none'})",
                        "scale")
            diags.raise_if_any()
        spec, definitions = scaled(spec, definitions, spec.scales[spec.scale])
    return ParsedSpec(path, spec, definitions, tuple(files.items()))


def _resolve_includes(raw: Mapping, path: str, blocks, files, diags,
                      source: Disk | InMemory) -> None:
    """Load the files the spec includes and the files they include, depth first, adding their
    blocks. A chain of includes is a stack here, not Python recursion, and it is bounded: at most
    MAX_INCLUDES files and MAX_BYTES in all, each checked before the file is read."""
    chain = [os.path.normpath(path)]  # the spec, and the includes that lead to the file being read
    waiting = [iter(_includes(raw))]  # for each file of the chain, its includes not yet read
    included, size_in_all = 0, raw.size
    while waiting:
        item = next(waiting[-1], None)
        if item is None:
            chain.pop()
            waiting.pop()
            continue
        name, pos = item
        # Relative to the file that names it (a base spec's includes are relative to the base).
        target = os.path.normpath(os.path.join(folder_of(pos), name))
        if target in chain:
            cycle = " -> ".join(chain[chain.index(target):] + [target])
            diags.error(pos, "E302", f"include cycle: {cycle}", "include")
            continue
        if target in files:
            continue  # included twice through different paths: its blocks are there already
        try:
            size = source.size(target)
        except Unreadable as e:
            _unreadable_include(e, name, target, pos, diags)
            continue
        included += 1
        size_in_all += size
        if included > MAX_INCLUDES or size_in_all > MAX_BYTES:
            bound = f"more than {MAX_INCLUDES} included files" if included > MAX_INCLUDES else \
                f"the spec and its includes are larger than {MAX_BYTES // 2**20} MiB in all"
            diags.error(pos, "E307", f"{bound} ({shown_chain(chain + [target])})", "include")
            return
        try:
            lib_raw = load_file(target, source)
        except SpecError as e:
            diags.items.extend(e.diagnostics)
            continue
        files[target] = lib_raw.sha256
        network_keys = [k for k in ("name", "input", "layers", "head") if k in lib_raw]
        if network_keys:
            diags.error(pos, "E304", f"`{name}` is a network spec (it has `{network_keys[0]}`): "
                                     "only files of block definitions can be included", "include")
            continue
        library = validate(schema.Library, lib_raw, diags)
        if library is not None:
            _add_blocks(blocks, library.blocks, lib_raw, diags)
        chain.append(target)
        waiting.append(iter(_includes(lib_raw)))


def _includes(raw: Mapping) -> list[tuple[str, Pos]]:
    """The file names a file includes, with their positions."""
    includes = raw.get("include")
    if not isinstance(includes, Sequence):
        return []  # absent, or a type error that validation reports
    return [(name, pos) for name, pos in zip(includes, includes.item_pos) if isinstance(name, str)]


def _unreadable_include(e: Unreadable, name: str, target: str, pos: Pos, diags) -> None:
    if e.code == "E101":
        diags.error(pos, "E301", f"included file `{name}` not found (looked for {target})",
                    "include")
    elif e.code in ("E102", "E115"):
        diags.error(pos, "E303" if e.code == "E102" else "E115", f"included `{name}` {e.message}",
                    "include")
    else:  # E103, E104: a problem of the file itself, as when it is checked on its own
        diags.error(Pos(target), e.code, e.message)


def _add_blocks(blocks: dict, new: dict[str, schema.BlockDef], raw: Mapping, diags) -> None:
    for name, block in new.items():
        params = raw["blocks"][name].get("params", [])  # validated: a list of names
        for i, param in enumerate(params):
            if param in params[:i]:
                diags.error(params.item_pos[i], "E306", f"parameter `{param}` is listed twice",
                            f"blocks.{name}.params[{i}]")
        where = raw["blocks"].key_pos[name]
        if name in blocks:
            first = blocks[name][1]
            diags.error(where, "E305", f"block `{name}` is defined twice (first at {first})",
                        f"blocks.{name}")
        else:
            blocks[name] = (block, where)


def validate(model: type[BaseModel], raw: Mapping, diags: Diagnostics):
    try:
        return model.model_validate(raw)
    except ValidationError as e:
        # A value that fits no member of a union gets one error per member: report one line.
        groups: dict[tuple, list[dict]] = {}
        for err in e.errors():
            groups.setdefault(locate(raw, err["loc"], err["type"]), []).append(err)
        for (pos, key_path), errs in groups.items():
            code, message = _union_message(errs, key_path)
            diags.error(pos, code, message, key_path)
        return None


def _is_type_error(err: dict) -> bool:
    return err["type"].endswith("_type") or err["type"] in (
        "string_pattern_mismatch", "literal_error", "union_tag_not_found")


def _union_message(errs: list[dict], key_path: str) -> tuple[str, str]:
    """(code, message) for the errors of one value."""
    telling = [err for err in errs if not _is_type_error(err)]
    if len(errs) == 1 or telling:
        err = (telling or errs)[0]
        return schema.error_code(err), _message(err, key_path)
    wanted = []
    for err in errs:
        want = schema.problem(err).removeprefix("must be ").rsplit(", got ", 1)[0]
        if want not in wanted:
            wanted.append(want)
    field = key_path.rsplit(".", 1)[-1]
    return "E203", (f"`{field}` must be {' or '.join(wanted)}, "
                    f"got {schema.show_value(errs[0].get('input'))}")


def locate(raw: Any, loc: tuple, error_type: str = "") -> tuple[Pos | None, str]:
    """Follow a pydantic error location through the positioned data: (position, key path).

    Parts that are not keys of the data (union tags, fields of a compact layer) are skipped.
    """
    node, pos, parts = raw, getattr(raw, "pos", None), []
    parent, parent_key = None, None
    # After a long form's union tag comes its layer type, a discriminator tag too (`block` would
    # otherwise be taken for the `block:` key).
    tags = {i + 1 for i, part in enumerate(loc) if part == "long-form"}
    for i, part in enumerate(loc):
        last = i == len(loc) - 1
        if i in tags:
            continue
        if isinstance(node, Mapping) and part in node:
            use_key = last and error_type == "extra_forbidden"
            pos = node.key_pos[part] if use_key else node.value_pos[part]
            parent, parent_key, node = node, part, node[part]
            parts.append(f".{part}")
        elif isinstance(node, Sequence) and isinstance(part, int) and 0 <= part < len(node):
            pos, parent, node = node.item_pos[part], None, node[part]
            parts.append(f"[{part}]")
        elif part == "[key]" and isinstance(parent, Mapping):
            pos = parent.key_pos[parent_key]
        elif last and error_type == "missing":
            parts.append(f".{part}")
    if error_type == "union_tag_invalid" and isinstance(node, Mapping) and "type" in node:
        pos = node.value_pos["type"]
        parts.append(".type")
    return pos, "".join(parts).lstrip(".")


_FIELD_NAMES = sorted({
    name
    for model in (schema.Spec, schema.BlockDef, schema.Residual, schema.Input, schema.Settings,
                  schema.BatchNormSettings, schema.AvgPoolSettings, schema.ConvSettings,
                  schema.Concat, *schema.LAYER_MODELS)
    for name in model.model_fields
})


def _message(err: dict, key_path: str) -> str:
    kind, msg, value = err["type"], err["msg"], err.get("input")
    last = next((part for part in reversed(err["loc"]) if part not in schema.UNION_TAGS
                 and not str(part).startswith(("function-", "constrained-"))), "")
    last = str(last)
    if kind == "missing":
        return f"missing `{last}`"
    if kind == "extra_forbidden":
        close = close_match(last, [f for f in _FIELD_NAMES if f != last])
        hint = f" (did you mean `{close}`?)" if close else ""
        return f"unknown key `{last}`{hint}"
    if kind == "union_tag_invalid":
        tag = err["ctx"]["tag"]
        close = close_match(tag, schema.LAYER_TYPES)
        hint = f"did you mean `{close}`?" if close else \
            f"expected one of: {', '.join(schema.LAYER_TYPES)}"
        return f"unknown layer type `{tag}` ({hint})"
    if kind == "too_short" and last == "concat":
        return "a concat needs at least two branches"
    if kind == "too_short" and last.isdigit():  # a list inside a list
        return f"the list {schema.problem(err)}"
    if kind == "too_short":
        return f"`{last}` {schema.problem(err)}"
    if kind == "E208":
        return f"{msg}, got {schema.show_value(value)}"
    if schema.error_code(err) == kind:  # one of ours: the message is complete
        return f"`{last}` {msg}" if msg.startswith("must ") else msg
    return f"`{last}` {schema.problem(err)}" if isinstance(last, str) and last in key_path \
        else schema.problem(err)

