"""Width and depth scaling (`scales:` and `scale:` in a spec, `--scale` on the command line), as
Ultralytics' scales and Keras' alpha do it, applied to the parsed spec before it is elaborated.

- depth: a block repeated n > 1 times is repeated max(1, round(n * depth)) times (a count
  written as an expression of a block's parameters is left to them);
- width: a conv's filter count written as a number becomes make_divisible(n * width, divisor)
  (timm's and Ultralytics' rounding: to the nearest multiple of the divisor, at least the
  divisor, and never more than 10% below n * width), and so does a number given to a block
  parameter that the block uses only as a filter count (`ReductionA(k=256, ...)`).
Filter counts written with `in` follow the input (a residual projection `conv 1x1 in linear`),
and a linear layer's features (the classifier) are not scaled.
"""

from __future__ import annotations

from pydantic import BaseModel

from ..ir import expr as ex
from . import models as schema


def make_divisible(value: float, divisor: int) -> int:
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


def scaled(spec: schema.Spec, blocks: dict[str, schema.BlockDef], scale: schema.Scaling):
    """The spec and its block definitions with `scale` applied."""
    widths = width_params(blocks)

    def width(value):
        return make_divisible(value * scale.width, scale.divisor) \
            if ex.is_number(value) and scale.width != 1 else value

    def rewrite(model: BaseModel) -> BaseModel:
        widened = {name: width(getattr(model, name))
                   for name in getattr(type(model), "WIDTH_FIELDS", ())
                   if getattr(model, name) is not None}
        if widened:
            return model.model_copy(update=widened)
        if isinstance(model, schema.Block):
            repeat = model.repeat if model.repeat == 1 or not ex.is_number(model.repeat) else \
                max(1, round(model.repeat * scale.depth))  # (an expression's block decides)
            args = {name: width(value) if name in widths.get(model.block, ()) else value
                    for name, value in model.args.items()}
            # A count only where one was written: `Block` stays a module, `N x Block` a group.
            update = {"args": args} if repeat == model.repeat else {"repeat": repeat, "args": args}
            return model.model_copy(update=update)
        return model

    return (_rewritten(spec, rewrite),
            {name: _rewritten(block, rewrite) for name, block in blocks.items()})


def width_params(blocks: dict[str, schema.BlockDef]) -> dict[str, set[str]]:
    """Each block's parameters that it uses only as filter counts, directly or by passing them to
    another block's such parameter."""
    widths: dict[str, set[str]] = {}
    pending = dict(blocks)
    while pending:  # callees first; a block whose callees are unknown (a cycle) gets none
        ready = [name for name, block in pending.items()
                 if all(callee in widths or callee not in blocks
                        for callee in _callees(block))] or list(pending)
        for name in ready:
            block = pending.pop(name)
            filters, other = set(), set()
            _uses(block, widths, filters, other)
            widths[name] = (filters - other) & set(block.params)
    return widths


def _callees(value) -> set[str]:
    found: set[str] = set()
    _walk(value, lambda model: found.add(model.block) if isinstance(model, schema.Block)
          else None)
    return found


def _uses(block: schema.BlockDef, widths, filters: set, other: set) -> None:
    """Sorts the names the block's numbers use: as filter counts, or otherwise."""
    def visit(model):
        for name in type(model).model_fields:
            value = getattr(model, name)
            if name == "when":  # a residual's condition compares channels, scaled alike
                continue
            if isinstance(model, schema.Block) and name == "args":
                for arg, given in value.items():
                    whole = isinstance(given, ex.Sym) and arg in widths.get(model.block, ())
                    (filters if whole else other).update(ex.symbols(given)
                                                         if not isinstance(given, str) else ())
            elif name in getattr(type(model), "WIDTH_FIELDS", ()) and value is not None:
                (other if "in" in ex.symbols(value) else filters).update(ex.symbols(value))
            elif isinstance(value, str) and value in block.params:
                other.add(value)  # an activation's name given by a parameter
            else:
                other.update(_symbols(value))

    _walk(block, visit)


def _symbols(value) -> set[str]:
    """The names in an expression, or in a tuple of them (a kernel, a padding)."""
    if isinstance(value, (ex.Sym, ex.BinOp)):
        return ex.symbols(value)
    if isinstance(value, tuple):
        return set().union(*map(_symbols, value))
    return set()


def _walk(value, visit) -> None:
    if isinstance(value, BaseModel):
        visit(value)
        for name in type(value).model_fields:
            _walk(getattr(value, name), visit)
    elif isinstance(value, (list, tuple)):
        for item in value:
            _walk(item, visit)
    elif isinstance(value, dict):
        for item in value.values():
            _walk(item, visit)


def _rewritten(value, rewrite):
    """`value` with `rewrite` applied to every model inside it, innermost first."""
    if isinstance(value, BaseModel):
        updates = {name: _rewritten(getattr(value, name), rewrite)
                   for name in type(value).model_fields}
        changed = {k: v for k, v in updates.items() if v is not getattr(value, k)}
        return rewrite(value.model_copy(update=changed) if changed else value)
    if isinstance(value, list):
        items = [_rewritten(item, rewrite) for item in value]
        return value if all(a is b for a, b in zip(items, value)) else items
    if isinstance(value, dict):
        items = {k: _rewritten(v, rewrite) for k, v in value.items()}
        return value if all(items[k] is value[k] for k in value) else items
    return value
