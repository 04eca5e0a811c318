"""`repeat` instances of a block definition. Shape inference, lineage and the figures walk into
the block's own graph; what is said here is the call's own."""

from __future__ import annotations

from dataclasses import dataclass

from ..ir import expr as ex
from ..ir.expr import Expr
from .base import ModuleCall, Op, register


@register
@dataclass(frozen=True)
class BlockCall(ModuleCall, Op):
    block: str
    args: tuple[tuple[str, Expr | str], ...]  # in the definition's parameter order
    repeat: Expr = 1  # a number, or an expression of the enclosing block's parameters
    tag = "block"
    opcode = "call"
    rank = 0

    def channels(self, inputs):
        raise AssertionError("a block call's channels are its block's (ir/shapes.py)")

    def size(self, inputs, value):
        raise AssertionError("a block call's size is its block's (ir/shapes.py)")

    def cost(self, cin, cout, out, value):
        return 0, 0  # its modules are its block's

    def tensors(self, cin, cout):
        return []  # its block's modules hold them

    def lineage(self, inputs, path, cout):
        raise AssertionError("lineage walks into a block call's block (ir/lineage.py)")

    def describe(self):
        args = ", ".join(f"{k}={v if isinstance(v, str) else ex.to_text(v)}"
                         for k, v in self.args)
        call = f"{self.block}({args})" if args else self.block
        return f"{self.count} x {call}" if self.repeat != 1 else call

    @property
    def count(self) -> str:
        """The repeat count as a spec writes it: `3`, `depth`, `(depth - 1)`."""
        return ex.operand_text(self.repeat)

    def torch_module(self, emit, cin, cout):
        takes_channels = not ex.is_number(emit.channels[self.block].input)
        args = [emit.code(cin)] if takes_channels else []
        defaults = dict(emit.blocks[self.block].defaults)
        args += [f"{name}={emit.argument(value)}" for name, value in self.args  # but defaults
                 if name not in defaults
                 or emit.argument(value) != emit.argument(defaults[name])]
        return f"{self.block}({', '.join(args)})"

    def label(self, fig):
        title = fig.blocks[self.block].title
        return f"{self.count} x {title}" if self.repeat != 1 else title

    def fill(self):
        return "block"
