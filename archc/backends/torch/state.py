"""The state_dict of a generated model, computed from the IR (no torch needed): each tensor's
name and shape, whether it is a parameter or a buffer, and the module it belongs to. The names
follow the modules codegen.py writes: a conv unit's `.conv` and `.bn`, an nn.Sequential's `.0`
and `.1`, a bare nn.Conv2d's own `.weight`."""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

from ...ir import graph as ir
from ...ir.lineage import Module, modules


@dataclass(frozen=True)
class Tensor:
    name: str
    shape: tuple[int, ...]
    parameter: bool  # trained by the optimiser; False: a buffer (BatchNorm's statistics)
    module: Module

    @property
    def numel(self) -> int:
        return math.prod(self.shape)


def state_dict(network: ir.Network) -> list[Tensor]:
    """The tensors of the network's generated model, in state_dict order."""
    return [Tensor(module.path + "." + suffix, shape, parameter, module)
            for module in modules(network)
            for suffix, shape, parameter in tensors(module.op, module.cin, module.cout)]


@functools.singledispatch
def tensors(op: ir.Op, cin: int, cout: int) -> list[tuple[str, tuple[int, ...], bool]]:
    """(name within the module, shape, is a parameter) of each tensor an operation holds."""
    raise TypeError(f"no tensors known for {op!r}")


def unit_prefixes(op: ir.Conv) -> tuple[str, str]:
    """Where a conv unit's Conv2d and BatchNorm keep their tensors within it: `conv.` and `bn.`
    (a unit class), `0.` and `1.` (an nn.Sequential), or the module itself (a bare Conv2d)."""
    if op.bare:
        return "", ""
    return ("0.", "1.") if op.layout == "sequential" else ("conv.", "bn.")


@tensors.register
def _(op: ir.Conv, cin, cout):
    groups = cin if op.groups is None else op.groups
    conv_prefix, bn_prefix = unit_prefixes(op)
    parts = [(conv_prefix + "weight", (cout, cin // groups, *op.kernel), True)]
    if op.bias:
        parts.append((conv_prefix + "bias", (cout,), True))
    if op.norm is not None:
        parts += [(bn_prefix + name, shape, parameter)
                  for name, shape, parameter in tensors(op.norm, cout, cout)]
    return parts


@tensors.register
def _(op: ir.ConvAdd, cin, cout):
    return tensors(op.conv, cin, cout)


@tensors.register
def _(op: ir.BatchNorm, cin, cout):
    return [("weight", (cout,), True), ("bias", (cout,), True),
            ("running_mean", (cout,), False), ("running_var", (cout,), False),
            ("num_batches_tracked", (), False)]


@tensors.register
def _(op: ir.Linear, cin, cout):
    return [("weight", (cout, cin), True), ("bias", (cout,), True)]
