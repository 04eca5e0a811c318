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

import networkx as nx

from . import graph as ir
from .graph import Instance

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
    walk = _Walk(network)
    bound = {"num_classes": network.num_classes}
    shapes = network.shapes
    features = walk.graph(network.body, ((INPUT, network.input_shape[0]),), shapes.body,
                          shapes.body_calls, bound, "", None)
    walk.graph(network.head, features, shapes.head, shapes.head_calls, bound, "", None)
    return walk.modules


class _Walk:
    def __init__(self, network: ir.Network):
        self.network = network
        self.modules: list[Module] = []

    def graph(self, g: nx.DiGraph, entry: Channels, shapes, calls, values: dict, prefix: str,
              stage: str | None) -> Channels:
        """The channels a graph gives, recording its modules; `stage` None: g is the body or
        the head, whose nodes are the stages."""
        made: dict[str, Channels] = {}
        for node in ir.topological(g):
            data = ir.node(g, node)
            op = data.op
            inputs = [made[u] for u in ir.ordered_inputs(g, node)]
            here = node if stage is None else stage
            paths = [prefix + ir.dotted(path) for path in data.paths]
            if isinstance(op, ir.Input):
                made[node] = entry
            elif isinstance(op, ir.BlockCall):
                current = inputs[0]
                for path, key in zip(paths, calls[node]):
                    instance: Instance = self.network.shapes.instances[key]
                    inner = self.network.blocks[instance.block].graph
                    args = {**dict(instance.args), "in": _width(current)}
                    current = self.graph(inner, current, instance.shapes, instance.calls, args,
                                         path + ".", here)
                made[node] = current
            else:  # the op's own rule: its module's channels, a concat's, a shortcut's...
                cout = shapes[node][0]
                made[node] = op.lineage(inputs, paths[0] if paths else "", cout)
                if paths and (op.weighted or any(origin == paths[0]
                                                 for origin, _ in made[node])):
                    self.modules.append(Module(paths[0], here, ir.bind(op, values),
                                               _width(inputs[0]), cout, inputs[0]))
        return made[g.graph["output"]]


def _width(channels: Channels) -> int:
    return sum(count for _, count in channels)
