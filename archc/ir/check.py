"""Checking a network's IR: every shape inferred and checked, and its size within archc's
bounds. Run on the front end's network and after the deploy passes."""

from __future__ import annotations

import dataclasses

from ..errors import Diagnostics
from ..limits import MAX_LAYERS, MAX_PARAMS
from .cost import CostModel, path_label
from .graph import Network
from .graph import node as node_of
from .shapes import infer, laid_out, stage_layers
from .verify import verify


def check(network: Network) -> Network:
    """The network with every shape inferred and checked, and its size within archc's bounds;
    raises SpecError. The layer count is bounded before inference, whose work it bounds."""
    verify(network)
    diags = Diagnostics()
    stages = stage_layers(network)
    layers = sum(count for _, _, count in stages)
    if layers > MAX_LAYERS:
        graph, largest, _ = max(stages, key=lambda stage: stage[2])
        node = node_of(graph, largest)
        diags.error(node.pos, "E508", f"the network would have {layers:,} layers, more than "
                                         f"archc's bound of {MAX_LAYERS:,} (the largest stage is "
                                         f"`{path_label(node.paths) or largest}`)", node.key)
    diags.raise_if_any()
    shapes = infer(network, diags)
    diags.raise_if_any()
    network = laid_out(dataclasses.replace(network, shapes=shapes))
    _check_size(network, diags)
    diags.raise_if_any()
    return network


def _check_size(network: Network, diags: Diagnostics) -> None:
    model = CostModel(network, network.shapes)
    stages = model.stages()
    value = model.total().params
    if value > MAX_PARAMS:
        largest = max(stages, key=lambda row: row.cost.params)
        graph = network.body if largest.node in network.body else network.head
        node = node_of(graph, largest.node)
        diags.error(node.pos, "E508", f"the network would have {value:,} parameters, more "
                                         f"than archc's bound of {MAX_PARAMS:,} (the largest "
                                         f"stage is `{largest.name}`)", node.key)
