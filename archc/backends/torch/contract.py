"""timm's model contract on a generated network class: feature_info's stages (the last
top-level step at each resolution), the classifier's names for get_classifier and
reset_classifier, and pretrained_cfg; all read from the IR and its shapes."""

from __future__ import annotations

import collections
import json
import math
import textwrap
from dataclasses import dataclass

import networkx as nx

from ...ir import graph as ir
from .text import MAX_LINE, code, python_literal


@dataclass(frozen=True)
class Contract:
    """What the template needs to write timm's contract methods of the network class."""

    classifier: str | None  # the head's last linear, where the head is timm's classifier
    pool: str | None  # that head's global pool
    steps: list[str]  # the body's steps by module name, in forward order; [] where not a chain
    checkpointing: bool = False  # whether set_grad_checkpointing is written (a trained module)

    @property
    def steps_lines(self) -> list[str]:
        """`body_steps = ("conv2d_1a", ...)`, filled up to the line length."""
        names = ", ".join(json.dumps(name) for name in self.steps)
        text = names + ("," if len(self.steps) == 1 else "") + ")"
        return textwrap.wrap(text, MAX_LINE, initial_indent="    body_steps = (",
                             subsequent_indent=" " * 18, break_long_words=False,
                             break_on_hyphens=False)


class TimmContract:
    """The contract's part of the generator (codegen._Generator), which has the network, its
    shapes and whether it writes a deploy module."""

    @staticmethod
    def chain(g: nx.DiGraph) -> list[str] | None:
        """A graph's nodes after its input when each takes the one before it, and each has a
        module of its own; else None."""
        nodes = [n for n in ir.topological(g) if n != g.graph["input"]]
        previous = g.graph["input"]
        for node in nodes:
            if list(g.predecessors(node)) != [previous] or not ir.node(g, node).paths:
                return None
            previous = node
        return nodes

    def body_steps(self) -> list[tuple[str, list[str]]] | None:
        """Each top-level step of the body with the names of the modules that run it, in
        forward order: its attribute, or, in an nn.Sequential group of several steps, its
        members (`features.6` .. `features.9`). None where the body is not a chain of steps
        with C x H x W outputs."""
        g = self.network.body
        nodes = self.chain(g)
        if nodes is None or any(len(self.shapes.body[n]) != 3 for n in nodes):
            return None
        units = collections.Counter(ir.node(g, n).paths[0][0] for n in nodes)
        steps = []
        for node in nodes:
            paths = ir.node(g, node).paths
            unit = paths[0][0]
            names = [unit] if units[unit] == 1 else \
                [ir.dotted(path) for path in paths]
            steps.append((node, names))
        return steps

    def reduction(self, node: str) -> int:
        """How many times smaller than the input a body node's output is, to a power of 2 as
        timm reports it: 299 -> 17 is 16, 299 -> 8 is 32."""
        _, height, width = self.network.input_shape
        _, h, w = self.shapes.body[node]
        return 2 ** max(0, round(math.log2(max(height / h, width / w))))

    def feature_info_lines(self, steps: list[tuple[str, list[str]]]) -> list[str]:
        """timm's feature_info: one stage per resolution, ending at its last top-level step."""
        lines = ["        # timm's feature stages: the output of the last step at each resolution, "
                 "`reduction`",
                 "        # times smaller than the input.",
                 "        self.feature_info = ["]
        channels = self.channels[ir.BODY].nodes
        reductions = [self.reduction(node) for node, _ in steps]
        for i, (node, names) in enumerate(steps):
            if i + 1 < len(steps) and reductions[i + 1] == reductions[i]:
                continue  # the stage goes on
            lines.append(f'            {{"num_chs": {code(channels[node])}, "reduction": '
                         f'{reductions[i]}, "module": "{names[-1]}"}},')
        return lines + ["        ]"]

    def classifier_head(self) -> tuple[str, str] | None:
        """(global pool, last linear) of a head that is timm's classifier: `avgpool global`,
        dropouts, then a linear, each a module of its own; None for any other head."""
        g = self.network.head
        nodes = self.chain(g)
        if not nodes or len(nodes) < 2 or any(len(ir.node(g, n).paths[0]) != 1 for n in nodes):
            return None
        ops = [ir.node(g, n).op for n in nodes]
        parts = [op.classifier_part for op in ops]
        if parts[0] != "pool" or parts[-1] != "linear" or \
                any(part != "dropout" for part in parts[1:-1]):
            return None
        return ir.node(g, nodes[0]).module, ir.node(g, nodes[-1]).module

    def first_conv(self, g: nx.DiGraph, prefix: str = "") -> str | None:
        """The module name of the first Conv2d the input meets, as timm's `first_conv`."""
        for node in ir.topological(g):
            data = ir.node(g, node)
            op = data.op
            path = prefix + ".".join(str(p) for p in data.paths[0]) if data.paths else ""
            if op.own_conv is not None:
                return path + ("." + op.own_conv.prefixes()[0]).rstrip(".")
            if op.opcode == "call":
                inner = self.first_conv(self.network.blocks[op.block].graph, path + ".")
                if inner is not None:
                    return inner
        return None

    def pretrained_cfg(self, classifier: tuple[str, str] | None) -> list[str]:
        """timm's pretrained_cfg: what the spec says, and the Inception weights' preprocessing,
        which it does not say."""
        net = self.network
        output = self.shapes.body[net.body.graph["output"]]
        items: list[tuple[str, object]] = [("input_size", net.input_shape)]
        if len(output) == 3:
            items.append(("pool_size", output[1:]))
        items += [("num_classes", net.num_classes),
                  ("mean", net.mean),
                  ("std", net.std),
                  ("crop_pct", net.crop_pct),
                  ("interpolation", net.interpolation)]
        first_conv = self.first_conv(net.body)
        if first_conv is not None:
            items.append(("first_conv", first_conv))
        if classifier is not None:
            items.append(("classifier", classifier[1]))
        return ["        # As timm describes weights: the input they expect, and modules' names.",
                "        self.pretrained_cfg = {",
                *(f"            {json.dumps(key)}: {python_literal(value)},"
                  for key, value in items),
                "        }"]

    def contract_doc(self, features: bool, classifier: bool) -> str:
        """The network class docstring's account of timm's contract."""
        trained = not self.deploy
        arguments = ["in_chans", *(["global_pool", "drop_rate"] if classifier else []),
                     "drop_path_rate"] if trained else []
        parts = ["num_features", *(["head_hidden_size"] if trained else []),
                 *(["get_classifier", "reset_classifier"] if classifier else []),
                 "forward_head" + ("(x, pre_logits)" if classifier else ""),
                 *(["forward_intermediates", "feature_info"] if features else []),
                 *(["set_grad_checkpointing"] if features and trained else []),
                 "pretrained_cfg"]
        takes = f"its constructor's {', '.join(arguments)}; " if arguments else ""
        text = (f"timm's model contract ({takes}{', '.join(parts)}) lets code written for timm "
                "models take this one.")
        if self.network.resize is None:
            text += (" pretrained_cfg's crop_pct and interpolation are not in the spec "
                     "(`input: {resize: ..., interpolation: ...}`): they are the Inception "
                     "weights' (timm's defaults for Inception-v3, Inception-v4 and "
                     "Inception-ResNet-v2); other weights may need others.")
        return "\n".join(textwrap.wrap(text, MAX_LINE, initial_indent="    ",
                                        subsequent_indent="    ")) + "\n    "
