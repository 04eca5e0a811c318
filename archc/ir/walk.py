"""The one walk of a network, on which the analyses are built (as torch.fx's Interpreter runs a
graph node by node): shape inference, symbolic channels, cost, lineage, generated forward and
the figures each say what a step gives from its inputs, and nothing else.

A graph is walked in data-flow order. Each step's value comes from its inputs' values by the
hook for its kind, its op's `opcode`:
    input  the graph's input: the value the graph was entered with
    call   a block call: `call`, which enters the block's graph (`graph`) once per repeat, or
           does not, as the analysis needs
    op     anything else (a layer, a concat, an add): `op`, which asks the op's own rules
A step with a condition (`when`) that the analysis finds does not hold (`present`) is absent:
its value is its last input's, and no hook runs for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

import networkx as nx

from . import graph as ir

Value = TypeVar("Value")


class Walker(Generic[Value]):
    """An analysis: `call` and `op` give a step's value; `frame` is the analysis' own state
    for the graph being walked (its instance's numbers, bindings, a path prefix...)."""

    def graph(self, g: nx.DiGraph, entry: Value, frame) -> dict[str, Value]:
        """Every node's value, the graph entered with `entry`."""
        values: dict[str, Value] = {}
        for name in ir.topological(g):
            node = ir.node(g, name)
            inputs = [values[u] for u in ir.ordered_inputs(g, name)]
            if node.when is not None and not self.present(g, name, node, frame):
                values[name] = inputs[-1]
            elif node.op.opcode == "input":
                values[name] = entry
            elif node.op.opcode == "call":
                values[name] = self.call(g, name, node, inputs, frame)
            else:
                values[name] = self.op(g, name, node, inputs, frame)
        return values

    def present(self, g: nx.DiGraph, name: str, node: ir.Node, frame) -> bool:
        """Whether a step with a condition runs: by default it does (a walk of a block's
        definition, for all its instances, such as generated code's)."""
        return True

    def call(self, g: nx.DiGraph, name: str, node: ir.Node, inputs: list[Value], frame) -> Value:
        raise NotImplementedError

    def op(self, g: nx.DiGraph, name: str, node: ir.Node, inputs: list[Value], frame) -> Value:
        raise NotImplementedError


@dataclass(frozen=True)
class Frame:
    """Where an instance walk is: the graph's numbers in this instance, its block's arguments
    (`in` among them, the channels the instance gets), the attribute path of the modules it
    is in (with a trailing dot), and the top-level step it is part of (None in the body and
    the head, whose steps are the stages)."""

    numbers: ir.GraphShapes
    values: dict
    prefix: str
    stage: str | None

    def stage_of(self, name: str) -> str:
        return name if self.stage is None else self.stage

    def path(self, node: ir.Node) -> str:
        """A node's module's attribute path in the network ("" for a node without one)."""
        return self.prefix + ir.dotted(node.paths[0]) if node.paths else ""


class InstanceWalker(Walker):
    """A checked network walked as a model of it runs: the body, then the head, each block call
    entering, once per repeat, the graph of the instance it ran with that instance's numbers
    and arguments. `op` makes a step's value; a call's is its last instance's output."""

    def __init__(self, network: ir.Network):
        self.network = network

    def run(self, entry) -> None:
        net = self.network
        bound = {"num_classes": net.num_classes}
        body = self.graph(net.body, entry, Frame(net.shapes.of(ir.BODY), bound, "", None))
        self.graph(net.head, body[net.body.graph["output"]],
                   Frame(net.shapes.of(ir.HEAD), bound, "", None))

    def present(self, g, name, node, frame):
        return name not in frame.numbers.absent

    def call(self, g, name, node, inputs, frame):
        current = inputs[0]
        ran = self.network.shapes.ran(frame.numbers, name)
        for path, instance in zip(ir.repeat_paths(node, len(ran)), ran):
            inner = self.network.blocks[instance.block].graph
            values = {**dict(instance.args), "in": instance.shapes[inner.graph["input"]][0]}
            made = self.graph(inner, current, Frame(instance, values,
                                                    f"{frame.prefix}{ir.dotted(path)}.",
                                                    frame.stage_of(name)))
            current = made[inner.graph["output"]]
        return current
