"""Where every weighted module's input channels come from: what its tensors mean, so that two
networks can be compared tensor by tensor (`archc diff`, weight transfer).

A module's weights mean the same in two networks when the module is the same (same name, kind
and shapes) and reads the same channels: made by the same modules, in the same order, each of
which means the same in both itself. Channels are named by the module that made them; what
each op gives is its own rule (its `lineage`, in archc/ops/). Weightless steps pass channels on
as they are: pools, activations, dropout, the global pool; one that reorders them names its own
module as their maker, so that what reads them changes meaning. A concat joins its inputs'
channels in order. A residual add keeps its shortcut's channels, the residual stream: what a
residual block adds refines the stream without renaming it, so that residual scales, and the
number of residual blocks in a stage, change no tensor's meaning.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import graph as ir
from .graph import GraphShapes
from .walk import Walker

INPUT = "<input>"  # the network input's channels; not a module name (names are identifiers)
Channels = tuple[tuple[str, int], ...]  # (the module that made them, how many), in order


@dataclass(frozen=True)
class Module:
    """One module of the network that makes channels, as generated code holds it."""

    path: str  # its attribute path: "repeat_1.3.branch1.0"
    stage: str  # the top-level step of the body or head it belongs to (a node id)
    op: ir.Op  # its operation, every number bound
    cin: int
    cout: int
    reads: Channels


def modules(network: ir.Network) -> list[Module]:
    """Every module that makes channels, in forward order: each weighted one (conv, batch norm,
    linear), and each weightless one that names the channels it gives (a permutation)."""
    assert network.shapes is not None, "lineage needs a checked network"
    walk = _Lineage(network)
    bound = {"num_classes": network.num_classes}
    shapes = network.shapes
    body = _Frame(shapes.of(ir.BODY), bound, "", None)
    features = walk.graph(network.body, ((INPUT, network.input_shape[0]),), body)
    head = _Frame(shapes.of(ir.HEAD), bound, "", None)
    walk.graph(network.head, features[network.body.graph["output"]], head)
    return walk.modules


@dataclass(frozen=True)
class _Frame:
    numbers: GraphShapes  # the graph's instance
    values: dict  # its block's arguments
    prefix: str  # its module's attribute path, with a trailing dot
    stage: str | None  # the top-level step it is part of; None: the graph is the body or head


class _Lineage(Walker):
    """The channels each step gives; records the modules that make channels."""

    def __init__(self, network: ir.Network):
        self.network = network
        self.modules: list[Module] = []

    def call(self, g, name, node, inputs, frame):
        current = inputs[0]
        stage = name if frame.stage is None else frame.stage
        paths = [frame.prefix + ir.dotted(path) for path in node.paths]
        for path, instance in zip(paths, self.network.shapes.ran(frame.numbers, name)):
            inner = self.network.blocks[instance.block].graph
            args = {**dict(instance.args), "in": _width(current)}
            made = self.graph(inner, current, _Frame(instance, args, path + ".", stage))
            current = made[inner.graph["output"]]
        return current

    def op(self, g, name, node, inputs, frame):
        """The op's own rule: its module's channels, a concat's, a shortcut's..."""
        op = node.op
        path = frame.prefix + ir.dotted(node.paths[0]) if node.paths else ""
        cout = frame.numbers.shapes[name][0]
        made = op.lineage(inputs, path, cout)
        if path and (op.weighted or any(origin == path for origin, _ in made)):
            stage = name if frame.stage is None else frame.stage
            self.modules.append(Module(path, stage, ir.bind(op, frame.values),
                                       _width(inputs[0]), cout, inputs[0]))
        return made


def _width(channels: Channels) -> int:
    return sum(count for _, count in channels)
