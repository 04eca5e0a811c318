"""A gate: the block's input times what its layers make of it. A block with `gate: true` ends in
one: out = x * layers(x), where layers(x) is C x 1 x 1 (a weight per channel: Hu et al.'s
squeeze-and-excitation), 1 x H x W (a weight per position: CBAM's spatial attention) or x's own
shape. Input 0 is the block's input, input 1 the gate, which keeps the input's channels (it
scales them, it does not make new ones)."""

from __future__ import annotations

from dataclasses import dataclass

from .base import NoModule, Op, Passthrough, Weightless, register


@register
@dataclass(frozen=True)
class Gate(NoModule, Weightless, Passthrough, Op):
    tag = "gate"
    arity = 2
    rank = 0
    main_path = "scale"
    block_kind = "gate"

    def infer(self, check, inputs):
        x, gate = inputs
        if x is None or gate is None:
            return x
        if len(x) != 3 or len(gate) != 3:
            check.error("E504", f"gate: the block input is {check.show(x)} and the gate "
                                f"{check.show(gate)}; a gate needs C x H x W")
            return x
        c, h, w = x
        if None not in x and None not in gate and gate not in ((c, 1, 1), (1, h, w), x):
            last = check.channels_made_by(check.inputs()[1])
            check.error("E511", f"gate: {check.what(last)} gives {check.show(gate)}, which must "
                                f"be {c} x 1 x 1 (per channel), 1 x {h} x {w} (per position) "
                                f"or {check.show(x)}, to multiply the block input "
                                f"{check.show(x)}", at=last)
        return x

    def describe(self):
        return "gate"

    def torch_forward(self, emit, graph, node, unit, inputs):
        return f"{inputs[0]} * {inputs[1]}"

    def label(self, fig):
        return "Scale"  # as Hu et al.'s Figure 2 names the product

    def fill(self):
        return ""
