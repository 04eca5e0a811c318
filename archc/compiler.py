"""The front end in one call: spec file -> checked, fully shaped IR."""

from __future__ import annotations

import dataclasses

from .errors import Diagnostics
from .ir.cost import CostModel
from .ir.graph import Network
from .ir.shapes import infer
from .ir.verify import verify
from .limits import MAX_LAYERS, MAX_PARAMS
from .spec.elaborate import elaborate
from .spec.parse import parse_spec


def compile_spec(path: str) -> Network:
    """Load, parse, elaborate and shape-check a spec; raises SpecError listing every problem."""
    parsed = parse_spec(path)
    diags = Diagnostics()
    network = elaborate(parsed, diags)
    diags.raise_if_any()
    verify(network)
    shapes = infer(network, diags)
    diags.raise_if_any()
    network = dataclasses.replace(network, shapes=shapes)
    _check_size(network, diags)
    diags.raise_if_any()
    return network


def _check_size(network: Network, diags: Diagnostics) -> None:
    model = CostModel(network, network.shapes)
    stages = model.stages()
    total = model.total()
    for what, field, bound in (("parameters", "params", MAX_PARAMS),
                               ("layers", "layers", MAX_LAYERS)):
        value = getattr(total, field)
        if value > bound:
            largest = max(stages, key=lambda row: getattr(row.cost, field))
            graph = network.body if largest.node in network.body else network.head
            node = graph.nodes[largest.node]
            diags.error(node["pos"], "E508", f"the network would have {value:,} {what}, more than "
                                             f"archc's bound of {bound:,} (the largest stage is "
                                             f"`{largest.name}`)", node["key"])
