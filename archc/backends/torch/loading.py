"""How a deploy module loads a trained model's weights: each class's load_trained, written
from the `trained` parts the passes recorded (BatchNorm folded, residual scales multiplied in,
merged convs' parts each in its run of channels), from_trained and the refusal of .train();
and the run-time helpers (runtime.py) copied into the module."""

from __future__ import annotations

import ast
import functools
import textwrap
from pathlib import Path

import networkx as nx

from ...ir import expr as ex
from ...ir import graph as ir
from ...ir.expr import Expr
from .text import MAX_LINE, attribute, numbered_run, python_literal, wrap


class DeployLoading:
    """The deploy loading's part of the generator (codegen._Generator), which has the network,
    its channels and the attributes each graph's module keeps (`kept`)."""

    def part_bounds(self, g: nx.DiGraph, parts: tuple) -> list[tuple[Expr, Expr]]:
        """Where each trained part of a merged conv lies in its output channels: the parts are
        runs of them, in order (passes.Part), each as wide as its conv's filters; written as
        its slice's bounds are (slice_bounds)."""
        values = {"in": self.channels[ir.name_of(g)].input}
        bounds, start = [], 0
        for part in parts:
            stop = ex.total([start, part.op.filters])
            bounds.append((ex.substitute(start, values), ex.substitute(stop, values)))
            start = stop
        return bounds

    @staticmethod
    def load_method(model: str, body: list[str]) -> tuple[str, list[str]]:
        """`load_trained`: a module's weights from a trained state_dict (`load_lines`), every
        tensor checked before any weight changes (the template's TrainedState)."""
        text = (f"Loads the weights of a trained {model}: a state_dict, its names under "
                "`prefix`, all checked first (TrainedState).")
        doc = textwrap.wrap(text, MAX_LINE - 3, initial_indent='        """',
                            subsequent_indent="        ")
        if len(doc) == 1:
            doc[0] += '"""'
        else:
            doc.append('        """')
        head = ("@torch.no_grad()\n    def load_trained(self, state: dict[str, torch.Tensor] | "
                'TrainedState, prefix: str = "") -> None:')
        if not body:  # a block of pools: every name under prefix is one it does not have
            return head, [*doc, *wrap(f'        with TrainedState.of(state, prefix, "{model}"):'),
                          "            pass  # no weights"]
        return head, [*doc, *wrap(f'        with TrainedState.of(state, prefix, "{model}") as '
                                  "trained:"), *body]

    def load_lines(self, g: nx.DiGraph) -> list[str]:
        """The statements that load a graph's weights from `trained`, as the passes' `trained`
        parts say (BatchNorm folded, residual scales multiplied in, merged convs' parts each in
        its run of channels)."""
        lines = []
        for node in ir.topological(g):
            data = ir.node(g, node)
            if data.op.opcode == "call" and not ex.is_number(data.op.repeat):
                lines += self.load_counted(data.paths[0], data.trained[0].path)
            elif data.op.opcode == "call":
                lines += self.load_blocks(data.paths, [part.path for part in data.trained])
            elif data.trained and data.when is not None:  # built where its condition holds
                lines.append(f"            if {attribute(data.paths[0][:1])} is not None:")
                lines += self.load_node(g, node, " " * 16)
            elif data.trained:
                lines += self.load_node(g, node, " " * 12)
        return lines

    def load_node(self, g: nx.DiGraph, node: str, indent: str) -> list[str]:
        """The statements that load one module's weights."""
        data = ir.node(g, node)
        op, module = data.op, attribute(data.paths[0])
        if op.own_conv is not None:
            target = module if op.own_conv.bare else f"{module}.conv"
            runs = self.channel_runs(g, node) or [None]
            kept = self.kept(g)
            return [line for part, run in zip(data.trained, runs, strict=True)
                    for line in wrap(f"{indent}load_conv(trained, {target}, " + _load_conv_args(
                        part, None if run is None else
                        f"({', '.join(kept.code(e) for e in run)})") + ")")]
        key = ir.dotted(data.trained[0].path)
        if [name for name, _, _ in op.tensors(1, 1)] == [""]:  # the attribute is a tensor
            self.need("load_parameter")  # itself: a layer scale
            return [f'{indent}load_parameter(trained, {module}, prefix + "{key}")']
        return [f'{indent}load_copy(trained, {module}, prefix + "{key}.")']

    @staticmethod
    def load_counted(path: tuple, trained: tuple) -> list[str]:
        """The repeats of a block whose count is an expression, the last members of their
        nn.Sequential from `path` on, each loading its trained instance's weights."""
        return _load_loop(path, trained, f"len({attribute(path[:-1])})")

    @staticmethod
    def load_blocks(paths: tuple, trained: list) -> list[str]:
        """Each instance of a block call loads its trained instance's weights: at the same
        path, or, where a pass renumbered its nn.Sequential group, at the trained one (a loop
        where the trained ones are numbered, a line each where they have names)."""
        run = numbered_run([path[-1] for path in paths])
        if len(paths) > 1 and list(paths) == list(trained) and run is not None and \
                all(isinstance(path[-1], str) for path in paths):  # named from a template
            prefix, first, suffix = run
            group = paths[0][:-1]
            return [f"            for i in range({first}, {first + len(paths)}):",
                    *wrap(f'                getattr({attribute(group)}, f"{prefix}{{i}}'
                          f'{suffix}").load_trained('),
                    f'                    trained, f"{{prefix}}{_group(group)}'
                    f'{prefix}{{i}}{suffix}."',
                    "                )"]
        if len(paths) == 1 or not all(isinstance(path[-1], int) for path in trained):
            return [part for path, source in zip(paths, trained)
                    for part in wrap(f"            {attribute(path)}.load_trained(trained, "
                                     f'prefix + "{ir.dotted(source)}.")')]
        return _load_loop(paths[0], trained[0], str(paths[-1][-1] + 1))

    def deploy_methods(self) -> list[tuple[str, list[str]]]:
        net = self.network
        trained, deploy = ir.class_name(net.name), ir.class_name(self.name)
        load = self.load_method(trained, self.load_lines(net.body) + self.load_lines(net.head))
        convert = ("@classmethod\n    def from_trained(\n        cls, state_dict: dict[str, "
                   f'torch.Tensor], num_classes: int = {net.num_classes}\n    ) -> "{deploy}":',
                   ['        """This model with the weights of a trained '
                    f'{trained}."""',
                    "        model = cls(num_classes)",
                    "        model.load_trained(state_dict)",
                    "        return model"])
        refuse = (f'def train(self, mode: bool = True) -> "{deploy}":',
                  ["        if mode:",
                   "            raise RuntimeError(",
                   f'                "{deploy} is for inference (BatchNorm is folded into its "',
                   f'                "convs): train {trained}, then convert its weights with "',
                   f'                "{deploy}.from_trained(state_dict)"',
                   "            )",
                   "        return super().train(False)"])
        return [load, convert, refuse]


def _load_loop(path: tuple, trained: tuple, stop: str) -> list[str]:
    """A loop over the numbered members of an nn.Sequential from `path`'s number up to `stop`
    (code), each block loading its trained instance's weights at its trained number (`trained`,
    the first's), which a pass may have shifted."""
    group, first = attribute(path[:-1]), path[-1]
    offset = trained[-1] - first
    span = stop if first == 0 else f"{first}, {stop}"
    index = "i" if offset == 0 else f"i + {offset}" if offset > 0 else f"i - {-offset}"
    return [f"            for i in range({span}):",
            f"                {group}[i].load_trained(trained, "
            f'f"{{prefix}}{_group(trained[:-1])}{{{index}}}.")']


def _group(path: tuple) -> str:
    """The state_dict prefix of an nn.Sequential's members: `layer1.`, or none in a block that
    is an nn.Sequential itself."""
    return ir.dotted(path) + "." if path else ""


def _load_conv_args(part, channels: str | None) -> str:
    """The arguments of the `load_conv` call that loads a part: where its trained conv unit's
    tensors are, what it has (a bias, a BatchNorm: its eps) and its scale; `channels`: its run of
    the deploy conv's output channels, where it has several parts."""
    op = part.op
    args = [f'prefix + "{ir.dotted(part.path)}."']
    conv, bn = op.prefixes()
    if part.norm_path is not None:  # a bare conv and its BatchNorm, modules side by side
        args = ['prefix']
        conv, bn = f"{ir.dotted(part.path)}.", f"{ir.dotted(part.norm_path)}."
    if (conv, bn) != ("conv.", "bn."):  # `load_conv`'s defaults
        args.append(f'conv="{conv}"')
        if op.norm is not None:
            args.append(f'bn="{bn}"')
    if op.bias:
        args.append("bias=True")
    if op.norm is not None:
        args.append(f"eps={op.norm.eps!r}")
    if part.scale != 1:
        args.append("scale=self.scale" if not ex.is_number(part.scale) else
                    f"scale={python_literal(part.scale)}")
    if channels is not None:
        args.append(f"channels={channels}")
    return ", ".join(args)


RUNTIME = Path(__file__).with_name("runtime.py")


@functools.cache
def _runtime_definitions() -> dict[str, str]:
    """Each top-level definition of runtime.py by its name: its source, with the comment lines
    right above it."""
    text = RUNTIME.read_text(encoding="utf-8")
    lines = text.splitlines()
    out = {}
    for node in ast.parse(text).body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            name = node.name
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            target = node.targets[0] if isinstance(node, ast.Assign) else node.target
            name = target.id
        else:
            continue  # the docstring and the imports, which the template writes
        start = node.lineno - 1
        while start > 0 and lines[start - 1].startswith("#"):
            start -= 1
        out[name] = "\n".join(lines[start:node.end_lineno])
    return out


def runtime_source(names: list[str], separator: str = "\n\n\n") -> str:
    """The runtime definitions a generated module uses, in the order given."""
    definitions = _runtime_definitions()
    return separator.join(definitions[name] for name in names)
