"""The state_dict of a generated model, computed from the IR (no torch needed): each tensor's
name and shape, whether it is a parameter or a buffer, and the module it belongs to. The names
follow the modules codegen.py writes: a conv unit's `.conv` and `.bn`, an nn.Sequential's `.0`
and `.1`, a bare nn.Conv2d's own `.weight`: each op states its tensors (its `tensors` rule)."""

from __future__ import annotations

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
    # A tensor named "" is the module's attribute itself (a layer scale's nn.Parameter).
    return [Tensor(f"{module.path}.{suffix}" if suffix else module.path, shape, parameter, module)
            for module in modules(network)
            for suffix, shape, parameter in module.op.tensors(module.cin, module.cout)]
