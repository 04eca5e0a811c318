"""The one walk of a network, on which the analyses are built (as torch.fx's Interpreter runs a
graph node by node): shape inference, symbolic channels, cost, lineage, generated forward and
the figures each say what a step gives from its inputs, and nothing else.

A graph is walked in data-flow order. Each step's value comes from its inputs' values by the
hook for its kind, its op's `opcode`:
    input  the graph's input: the value the graph was entered with
    call   a block call: `call`, which enters the block's graph (`graph`) once per repeat, or
           does not, as the analysis needs
    op     anything else (a layer, a concat, an add): `op`, which asks the op's own rules
"""

from __future__ import annotations

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
            if node.op.opcode == "input":
                values[name] = entry
            elif node.op.opcode == "call":
                values[name] = self.call(g, name, node, inputs, frame)
            else:
                values[name] = self.op(g, name, node, inputs, frame)
        return values

    def call(self, g: nx.DiGraph, name: str, node: ir.Node, inputs: list[Value], frame) -> Value:
        raise NotImplementedError

    def op(self, g: nx.DiGraph, name: str, node: ir.Node, inputs: list[Value], frame) -> Value:
        raise NotImplementedError
