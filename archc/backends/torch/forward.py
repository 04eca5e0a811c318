"""A generated forward's lines, from a walk of its graph."""

from __future__ import annotations

import networkx as nx

from ...ir import graph as ir
from ...ir.walk import Walker
from .names import Namespace, is_ambiguous


class Forward(Walker):
    """The lines of a forward: one per module call, concat and residual add, each value in a
    local variable named after its unit or branch, which is the step's value in the walk.
    Names come from one Namespace; a value keeps its variable until no later line reads it.
    With pre_logits, the last line returns the last module's input when `pre_logits` is true."""

    def __init__(self, emit, g: nx.DiGraph, pre_logits: bool):
        self.emit = emit
        self.pre_logits = pre_logits
        main_path = next((ir.node(g, n).op.main_path for n in g if ir.node(g, n).op.main_path),
                         None)
        order = ir.topological(g)
        self.owners = {node: self.variable_owner(g, node, main_path) for node in order}
        self.namespace = Namespace()
        self.names = {("input",): self.namespace.create("x")}  # the forward's argument
        # Then the spec's names, so that they keep their spelling where they can, then `out`.
        for owner, candidate in sorted(dict.fromkeys(self.owners.values()),
                                       key=lambda item: (item[0] == ("main",),
                                                         is_ambiguous(item[1]))):
            if owner not in self.names:
                self.names[owner] = self.namespace.create(candidate)
        self.holder = {self.names[("input",)]: g.graph["input"]}  # variable -> the node whose
        # value it holds now
        self.unread = {node: set(g.successors(node)) for node in order}
        self.lines: list[str] = []
        self.done_units: dict[str, str] = {}

    def call(self, g, name, node, inputs, frame):
        return self.op(g, name, node, inputs, frame)  # a module call like any other

    def op(self, g, name, node, inputs, frame):
        for u in g.predecessors(name):
            self.unread[u].discard(name)
        unit = node.module
        if unit in self.done_units:  # a later member of an nn.Sequential: the call is made
            self.holder[self.done_units[unit]] = name
            return self.done_units[unit]
        owner, candidate = self.owners[name]
        variable = self.names[owner]
        if variable in self.holder and self.unread[self.holder[variable]]:  # still to be read
            variable = self.names[owner] = self.namespace.create(candidate)
        self.holder[variable] = name
        expr = node.op.torch_forward(self.emit, g, name, unit, inputs)
        flagged = node.when is not None and node.when in self.emit.flags(g)
        if node.when is not None and not flagged:  # a module built where its condition holds
            expr = f"{inputs[-1]} if self.{unit} is None else {expr}"
        if node.op.module:  # its call is made: later members of its nn.Sequential reuse it
            self.done_units[unit] = variable
            if self.pre_logits and name == g.graph["output"]:
                expr = f"{inputs[0]} if pre_logits else {expr}"
        if not flagged:
            self.lines.append(f"        {variable} = {expr}")
            return variable
        if variable != inputs[-1]:  # its value where the condition does not hold
            self.lines.append(f"        {variable} = {inputs[-1]}")
        if not self.lines or not self.lines[-1].startswith(" " * 12):  # not under it yet
            self.lines.append(self.GUARD)
        self.lines.append(f"            {variable} = {expr}")
        return variable

    GUARD = "        if self.use_residual:"

    @staticmethod
    def variable_owner(g: nx.DiGraph, node: str, main_path: str | None) -> tuple[tuple, str]:
        """Who a node's variable belongs to, and the name it asks for: the input and, in a
        plain block, the main path share `x`; in a block that joins its input with its
        layers' output, the main path has the name the join gives it (`out` for a residual
        sum); a unit or a branch's concat has its own."""
        data = ir.node(g, node)
        if data.op.opcode == "input" or not data.branch and not main_path:
            return ("input",), "x"
        if not data.branch:
            return ("main",), main_path
        if data.paths:
            return ("unit", data.paths[0][0]), data.paths[0][0]
        return ("branch", *data.branch), data.branch[-1]
