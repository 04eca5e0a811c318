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
from .walk import InstanceWalker

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
    walk.run(((INPUT, network.input_shape[0]),))
    return walk.modules


class _Lineage(InstanceWalker):
    """The channels each step gives; records the modules that make channels."""

    def __init__(self, network: ir.Network):
        super().__init__(network)
        self.modules: list[Module] = []

    def op(self, g, name, node, inputs, frame):
        """The op's own rule: its module's channels, a concat's, a shortcut's..."""
        op = node.op
        path = frame.path(node)
        cout = frame.numbers.shapes[name][0]
        made = op.lineage(inputs, path, cout)
        if path and (op.weighted or any(origin == path for origin, _ in made)):
            self.modules.append(Module(path, frame.stage_of(name), ir.bind(op, frame.values),
                                       _width(inputs[0]), cout, inputs[0]))
        return made


def _width(channels: Channels) -> int:
    return sum(count for _, count in channels)
