"""The cost model: parameters, multiply-accumulates and activation sizes per layer, block and total.

Each operation's parameters and MACs come from its own rule (archc/ops/), evaluated by shape
inference for every block instance. Conventions (docs/reference.md): a BatchNorm has a weight and a
bias per channel (2 x C parameters; running statistics are buffers, not parameters). MACs count
the multiply-accumulates of convolutions and linear layers only.
Activations count the values of every tensor a node produces (concats and residual sums included).
Layers count the modules a model of the network holds (convs, pools, dropouts, linear layers).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import networkx as nx

from . import graph as ir
from .graph import GraphShapes, Shapes
from .shapes import module_count, smallest_input
from .walk import Walker


@dataclass(frozen=True)
class Cost:
    params: int = 0
    macs: int = 0
    activations: int = 0
    layers: int = 0

    def __add__(self, other: Cost) -> Cost:
        return Cost(self.params + other.params, self.macs + other.macs,
                    self.activations + other.activations, self.layers + other.layers)


def layer_cost(op: ir.Op, own: tuple[int, int], out_shape: tuple) -> Cost:
    """A node's cost from its own parameters and MACs (computed by shape inference)."""
    return Cost(own[0], own[1], math.prod(out_shape), module_count(op))


@dataclass(frozen=True)
class Row:
    """One node of a graph: its name, what it is, its output shape and its cost. A block
    instance's row holds the rows of its layers (of one instance, when repeated)."""

    node: str
    name: str
    layer: str
    output: tuple
    cost: Cost
    layers: tuple[Row, ...] = ()


class CostModel(Walker):
    """Rows of a checked network: a walk whose value at each step is its row (the frame: the
    numbers of the graph's instance)."""

    def __init__(self, network: ir.Network, shapes: Shapes):
        self.network = network
        self.shapes = shapes
        self._instances: dict[tuple, list[Row]] = {}
        self._stages: list[Row] | None = None

    def instance_rows(self, key: tuple) -> list[Row]:
        """The layers of one block instance."""
        if key not in self._instances:
            inst = self.shapes.instances[key]
            self._instances[key] = self.rows(self.network.blocks[inst.block].graph, inst)
        return self._instances[key]

    def instance(self, key: tuple) -> Cost:
        """The cost of one block instance (one repeat)."""
        return sum((row.cost for row in self.instance_rows(key)), Cost())

    def rows(self, graph: nx.DiGraph, numbers: GraphShapes) -> list[Row]:
        return [row for name, row in self.graph(graph, None, numbers).items()
                if row is not None and name not in numbers.absent]

    def present(self, g, name, node, numbers):
        return name not in numbers.absent

    def call(self, g, name, node, inputs, numbers):
        keys = numbers.calls[name]
        cost = sum((self.instance(key) for key in keys), Cost())
        return Row(name, path_label(ir.repeat_paths(node, len(keys))) or name,
                   node.op.describe(), numbers.shapes[name], cost,
                   tuple(self.instance_rows(keys[0])) if keys else ())

    def op(self, g, name, node, inputs, numbers):
        cost = layer_cost(node.op, numbers.costs.get(name, (0, 0)), numbers.shapes[name])
        return Row(name, path_label(node.paths) or name, node.op.describe(),
                   numbers.shapes[name], cost)

    def stages(self) -> list[Row]:
        """The network's top-level steps, body then head."""
        if self._stages is None:
            self._stages = (self.rows(self.network.body, self.shapes.of(ir.BODY))
                            + self.rows(self.network.head, self.shapes.of(ir.HEAD)))
        return self._stages

    def total(self) -> Cost:
        return sum((row.cost for row in self.stages()), Cost())


def _row(row, layers: bool) -> dict:
    out = {"name": row.name, "layer": row.layer, "output": list(row.output),
           "params": row.cost.params, "macs": row.cost.macs,
           "activations": row.cost.activations}
    if layers and row.layers:
        out["layers"] = [_row(r, layers) for r in row.layers]
    return out


def summary(network: ir.Network, layers: bool = False) -> dict:
    """A checked network's cost report, as `archc check --json` prints it: its input, each
    top-level step's output, parameters, MACs and activations (with layers, each block's
    layers too), the totals and the smallest input it takes."""
    model = CostModel(network, network.shapes)
    total = model.total()
    return {
        "spec": network.source,
        "name": network.name,
        "input": list(network.input_shape),
        "num_classes": network.num_classes,
        "stages": [_row(row, layers) for row in model.stages()],
        "total": {"params": total.params, "macs": total.macs, "activations": total.activations},
        "smallest_input": smallest_input(network),
    }


def path_label(paths: tuple) -> str:
    """`features.6` for one module, `features.6-9` for a run of repeated ones,
    `block3.block3-1 .. block3-5` for a run of named ones."""
    if not paths:
        return ""
    first = ir.dotted(paths[0])
    if len(paths) == 1:
        return first
    last = paths[-1][-1]
    return f"{first} .. {last}" if isinstance(last, str) else f"{first}-{last}"


def human(n: float) -> str:
    """A large count in three significant figures: `13.16 G`, `19.18 M`."""
    for size, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if n >= size:
            return f"{n / size:.2f} {suffix}"
    return f"{n:g}"
