"""Two networks side by side (`archc diff A B`): each stage's output shape, parameters and MACs,
and what becomes of each tensor of A's state_dict in B.

A tensor of B is
    carried          A has it, and its module has the same shapes and meaning (ir/lineage.py):
                     A's trained values fit B as they are
    meaning changed  A has it, its module has the same shapes, but it reads channels that
                     changed: loading A's values would "succeed" and be wrong
    shape changed    A has it, but its module's shapes changed (a BatchNorm's counter too)
    new              A has no tensor of that name
and a tensor of A that B lacks is gone. Statuses are the module's: its tensors carry together.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
from collections.abc import Iterable
from dataclasses import dataclass

from .backends.torch.state import Tensor, state_dict
from .errors import MAX_LISTED, printable
from .ir import expr as ex
from .ir.cost import CostModel, Row, human
from .ir.graph import Network, Op, bind
from .ir.lineage import INPUT, Module
from .ir.lineage import modules as lineage_modules
from .ir.shapes import show
from .ir.walk import InstanceWalker

MAX_DEPTH = 32  # name parts a pattern looks into
CARRIED, MEANING, SHAPE, NEW, GONE = "carried", "meaning changed", "shape changed", "new", "gone"
STATUSES = (CARRIED, MEANING, SHAPE, NEW, GONE)


@dataclass(frozen=True)
class Change:
    name: str
    status: str
    a: Tensor | None
    b: Tensor | None
    why: str = ""  # for a meaning changed: what it reads that changed


@dataclass(frozen=True)
class Comparison:
    a: Network
    b: Network
    changes: tuple[Change, ...]  # B's tensors in state_dict order, then A's gone ones

    def of(self, status: str) -> list[Change]:
        return [c for c in self.changes if c.status == status]

    @property
    def carried_fraction(self) -> float:
        """The share of B's parameters (not buffers) that carry over from A."""
        total = sum(c.b.numel for c in self.changes if c.b is not None and c.b.parameter)
        carried = sum(c.b.numel for c in self.of(CARRIED) if c.b.parameter)
        return carried / total if total else 1.0

    def summary(self, status: str, limit: int = MAX_LISTED) -> str:
        """The names of one status's tensors as a few patterns: `repeat_1.*.branch1.1-2.*`."""
        chosen = {c.name for c in self.of(status)}
        universe = [c.name for c in self.changes if (c.a if status == GONE else c.b) is not None]
        found = patterns(chosen, universe)
        shown = ", ".join(found[:limit])
        return shown + (f" and {len(found) - limit:,} more" if len(found) > limit else "")


def compare(a: Network, b: Network) -> Comparison:
    old = state_dict(a)
    new = state_dict(b)
    before = {t.name: t for t in old}
    modules_a = {module.path: module for module in lineage_modules(a)}
    shapes_a = _module_tensors(old)
    shapes_b = _module_tensors(new)
    verdicts: dict[str, tuple[str, str]] = {}  # B's module path -> (status, why)
    for module in lineage_modules(b):  # those without tensors too: what reads them depends
        verdicts[module.path] = _verdict(module, modules_a.get(module.path), verdicts,
                                         shapes_a.get(module.path, []),
                                         shapes_b.get(module.path, []))
    changes = []
    for tensor in new:
        was = before.get(tensor.name)
        if was is None:
            changes.append(Change(tensor.name, NEW, None, tensor))
        else:
            status, why = verdicts[tensor.module.path]
            changes.append(Change(tensor.name, status, was, tensor, why))
    names = {t.name for t in new}
    changes += [Change(t.name, GONE, t, None) for t in old if t.name not in names]
    return Comparison(a, b, tuple(changes))


def _module_tensors(tensors: list[Tensor]) -> dict[str, list[tuple[str, tuple]]]:
    out: dict[str, list[tuple[str, tuple]]] = {}
    for t in tensors:
        out.setdefault(t.module.path, []).append((t.name, t.shape))
    return out


def _verdict(module: Module, was: Module | None, verdicts: dict[str, tuple[str, str]],
             tensors_a, tensors_b) -> tuple[str, str]:
    """(status, why) of a module of B that A has too (NEW for one it lacks): its tensors keep
    their meaning when A's module is of the same kind and shapes, and reads the same channels,
    each made by a module that carries over itself."""
    if was is None:
        return NEW, ""
    if tensors_a != tensors_b:
        return SHAPE, ""
    if type(was.op) is not type(module.op) or getattr(was.op, "groups", 1) != \
            getattr(module.op, "groups", 1):
        return MEANING, f"another kind of layer: was `{was.op.describe()}`"
    for origin, _ in module.reads:
        if origin != INPUT and verdicts[origin][0] != CARRIED:
            return MEANING, f"reads `{origin}`, which does not carry over"
    if module.reads != was.reads:
        return MEANING, "reads other channels"
    return CARRIED, ""


def patterns(chosen: set[str], universe: Iterable[str]) -> list[str]:
    """Dotted names in `chosen` written as few patterns over the tree of `universe`: `x.*` for a
    subtree all chosen, `*` or a range `5-9` for numbered children alike."""
    tree: dict = {}
    for name in universe:
        node = tree
        for part in name.split(".", MAX_DEPTH):  # a checkpoint's names may be anything
            node = node.setdefault(part, {})

    def walk(node: dict, prefix: str) -> tuple[list[str], bool]:
        """(the patterns under node relative to it, whether all of it is chosen)"""
        if not node:
            return [], prefix in chosen
        parts: list[tuple[str, list[str], bool]] = []
        for key, child in node.items():
            sub, full = walk(child, f"{prefix}.{key}" if prefix else key)
            parts.append((key, sub, full))
        if all(full for _, _, full in parts):
            return [], True
        out: list[str] = []
        i = 0
        while i < len(parts):
            key, sub, full = parts[i]
            j = i + 1
            while _index(key) is not None and j < len(parts) and \
                    _index(parts[j][0]) == _index(parts[j - 1][0]) + 1 and \
                    (parts[j][1], parts[j][2]) == (sub, full):
                j += 1
            if full or sub:
                label = key if j == i + 1 else "*" if j - i == len(parts) else \
                    f"{key}-{parts[j - 1][0]}"
                out += [f"{label}.*"] if full and node[key] else [label] if full else \
                    [f"{label}.{s}" for s in sub]
            i = j
        return out, False

    found, full = walk(tree, "")
    return ["*"] if full and chosen else found


def _index(part: str) -> int | None:
    """The number of a numbered child (`repeat.3`); None for a part that is not one, such as
    `²` or 5,000 digits (a checkpoint's names may be anything)."""
    return int(part) if part.isascii() and part.isdigit() and len(part) <= 18 else None


# ------------------------------------------------------------------------- what is computed


@dataclass(frozen=True)
class Difference:
    """A step that the two networks compute differently, beyond what their tensors say: an
    activation, a residual scale, a stride, a pool, a drop rate..."""

    stage: str  # the top-level step it is part of (B's name)
    where: str  # its path: a module's attribute path, or the step's name in its block
    what: str  # `act relu -> silu`, `removed: dropout 0.2`


def differences(comparison: Comparison) -> list[Difference]:
    """Every step whose computation differs between A and B, by path; what the tensors' report
    says already is left to it (a weighted module in one network only, one whose shapes
    changed)."""
    steps_a, steps_b = _steps(comparison.a), _steps(comparison.b)
    reshaped = {c.b.module.path for c in comparison.of(SHAPE) if c.b is not None}
    out = []
    for path, (stage, op) in steps_b.items():
        was = steps_a.get(path)
        if path in reshaped:
            continue
        if was is None:
            if not op.weighted:
                out.append(Difference(stage, path, f"added: {op.describe()}"))
        elif was[1] != op:
            out.append(Difference(stage, path, _changed(was[1], op)))
    out += [Difference(stage, path, f"removed: {op.describe()}")
            for path, (stage, op) in steps_a.items() if path not in steps_b and not op.weighted]
    return out


def _changed(a, b) -> str:
    if type(a) is not type(b):
        return f"{a.describe()} -> {b.describe()}"
    fields = [f.name for f in dataclasses.fields(a) if getattr(a, f.name) != getattr(b, f.name)]
    return ", ".join(f"{name} {_shown(getattr(a, name))} -> {_shown(getattr(b, name))}"
                     for name in fields)


def _shown(value) -> str:
    if isinstance(value, tuple) and len(value) == 2 and not isinstance(value[0], tuple):
        return "x".join(_shown(v) for v in value)  # a kernel, a stride: 3x3
    if isinstance(value, tuple):
        return f"({', '.join(_shown(v) for v in value)})"
    if hasattr(value, "describe") and dataclasses.is_dataclass(value):
        return value.describe()
    return value if isinstance(value, str) else ex.to_text(value)


def _steps(network: Network) -> dict[str, tuple[str, Op]]:
    """Each step of the network by path, with its top-level step and its op, every number
    bound (a block's `in` to the channels its instance gets)."""
    walk = _Steps(network)
    walk.run(None)
    return walk.steps


class _Steps(InstanceWalker):
    def __init__(self, network: Network):
        super().__init__(network)
        self.steps: dict[str, tuple[str, Op]] = {}

    def op(self, g, name, node, inputs, frame):
        path = frame.path(node) or frame.prefix + name
        self.steps[path] = (frame.stage_of(name), bind(node.op, frame.values))


# ------------------------------------------------------------------------------ reports


def stages(comparison: Comparison) -> list[tuple[Row | None, Row | None]]:
    """The two networks' top-level steps, aligned by name."""
    rows_a = CostModel(comparison.a, comparison.a.shapes).stages()
    rows_b = CostModel(comparison.b, comparison.b.shapes).stages()
    matcher = difflib.SequenceMatcher(None, [r.node for r in rows_a], [r.node for r in rows_b],
                                      autojunk=False)
    aligned: list[tuple[Row | None, Row | None]] = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            aligned += list(zip(rows_a[i1:i2], rows_b[j1:j2]))
        else:
            aligned += [(row, None) for row in rows_a[i1:i2]]
            aligned += [(None, row) for row in rows_b[j1:j2]]
    return aligned


def to_json(comparison: Comparison) -> dict:
    def side(network: Network) -> dict:
        total = CostModel(network, network.shapes).total()
        return {"spec": network.source, "name": network.name, "params": total.params,
                "macs": total.macs}

    def stage(row: Row | None) -> dict | None:
        return None if row is None else {"name": row.name, "layer": row.layer,
                                         "output": list(row.output), "params": row.cost.params,
                                         "macs": row.cost.macs}

    carried = _carried_per_stage(comparison)
    return {
        "differences": [{"stage": d.stage, "where": d.where, "what": d.what}
                        for d in differences(comparison)],
        "a": side(comparison.a),
        "b": side(comparison.b),
        "stages": [{"a": stage(a), "b": stage(b),
                    "tensors": None if b is None else dict(zip(("carried", "total"),
                                                               carried.get(b.node, (0, 0))))}
                   for a, b in stages(comparison)],
        "tensors": [{"name": c.name, "status": c.status,
                     "shape_a": None if c.a is None else list(c.a.shape),
                     "shape_b": None if c.b is None else list(c.b.shape),
                     **({"why": c.why} if c.why else {})} for c in comparison.changes],
        "summary": {**{status.replace(" ", "_"): len(comparison.of(status))
                       for status in STATUSES},
                    "carried_params": round(comparison.carried_fraction, 6)},
    }


def _carried_per_stage(comparison: Comparison) -> dict[str, tuple[int, int]]:
    counts: dict[str, tuple[int, int]] = {}
    for c in comparison.changes:
        if c.b is not None:
            carried, total = counts.get(c.b.module.stage, (0, 0))
            counts[c.b.module.stage] = (carried + (c.status == CARRIED), total + 1)
    return counts


def format_text(comparison: Comparison) -> str:
    a, b = comparison.a, comparison.b
    lines = [f"A: {a.name} ({printable(a.source)})", f"B: {b.name} ({printable(b.source)})",
             ""]
    carried = _carried_per_stage(comparison)
    found = differences(comparison)
    differing = {d.stage for d in found}
    rows = [("stage", "output A", "output B", "params A", "params B", "MACs A", "MACs B",
             "tensors carried")]
    for row_a, row_b in stages(comparison):
        name = (row_b or row_a).name
        if row_a and row_b and row_a.name != row_b.name:
            name = f"{row_a.name} / {row_b.name}"
        if row_a and row_b and row_b.node in differing:
            name += " *"
        cells = [name]
        for row in (row_a, row_b):
            cells.append(show(row.output) if row else "-")
        for row in (row_a, row_b):
            cells.append(f"{row.cost.params:,}" if row else "-")
        for row in (row_a, row_b):
            cells.append(human(row.cost.macs) if row else "-")
        count = carried.get(row_b.node) if row_b else None
        cells.append(f"{count[0]:,} of {count[1]:,}" if count else "-")
        rows.append(tuple(cells))
    total_a = CostModel(a, a.shapes).total()
    total_b = CostModel(b, b.shapes).total()
    kept = len(comparison.of(CARRIED))
    size = sum(1 for c in comparison.changes if c.b is not None)
    rows.append(("total", "", "", f"{total_a.params:,}", f"{total_b.params:,}",
                 human(total_a.macs), human(total_b.macs), f"{kept:,} of {size:,}"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for i, row in enumerate(rows):
        if i == len(rows) - 1:
            lines.append("  ".join("-" * width for width in widths))
        lines.append("  ".join([row[0].ljust(widths[0])] +
                               [cell.rjust(width) for cell, width in zip(row[1:], widths[1:])]))
    return "\n".join([*lines, *format_differences(comparison, found), "",
                      format_summary(comparison)])


def format_differences(comparison: Comparison, found: list[Difference]) -> list[str]:
    """Where B computes differently from A beyond its tensors, each change once with the steps
    it is made at (`repeat.*.add: scale 0.17 -> 0.3`)."""
    if not found:
        return []
    places: dict[str, set[str]] = {}
    for d in found:
        places.setdefault(d.what, set()).add(d.where)
    universe = [*_steps(comparison.a), *_steps(comparison.b)]
    lines = ["", "* computes differently, beyond its tensors:"]
    for what, where in places.items():
        shown = patterns(where, universe)
        more = f" and {len(shown) - MAX_LISTED:,} more" if len(shown) > MAX_LISTED else ""
        lines.append(f"  {', '.join(shown[:MAX_LISTED])}{more}: {what}")
    return lines


def percent(fraction: float) -> str:
    """A share to 0.1%, never rounded to 0% or 100% where it is not (99.96% carried is not
    everything)."""
    shown = math.floor(fraction * 1000 + 0.5) / 10
    if shown == 0 < fraction:
        return "<0.1%"
    if shown == 100 > fraction * 100:
        return ">99.9%"
    return f"{shown:.1f}%"


def format_summary(comparison: Comparison) -> str:
    """What becomes of A's state_dict in B: a line per status, with name patterns."""
    size = sum(1 for c in comparison.changes if c.b is not None)
    lines = [f"state_dict: {sum(1 for c in comparison.changes if c.a):,} tensors in A, "
             f"{size:,} in B"]
    for status in STATUSES:
        count = len(comparison.of(status))
        if not count:
            continue
        text = f"  {status:<16}{count:>6,}"
        if status == CARRIED:
            text += f" ({percent(comparison.carried_fraction)} of B's parameters)"
        lines.append(f"{text}: {comparison.summary(status)}")
    if comparison.of(MEANING):
        lines.append("  (meaning changed: same name and shape, but reading channels that "
                     "changed, so A's values would load and be wrong)")
    return "\n".join(lines)
