"""IR -> PyTorch source: one class per block definition, one network class, rendered by jinja2.

The code is computed here as plain statements (constructor lines and forward lines per class);
templates/module.py.j2 lays them out. Channel counts inside a block definition are symbolic
(`k`, `n + m + 384`), so a parameterised block like Reduction-A keeps its parameters.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import jinja2
import networkx as nx

from ...ir import graph as ir

TEMPLATES = Path(__file__).parent / "templates"
MAX_LINE = 100


# --------------------------------------------------------------------------- channel expressions


@dataclass(frozen=True)
class Channels:
    """A channel count: a constant plus whole multiples of symbols (parameters, in_channels)."""

    const: int = 0
    terms: tuple[tuple[str, int], ...] = ()

    @staticmethod
    def of(value) -> Channels:
        return Channels(terms=((value, 1),)) if isinstance(value, str) else Channels(const=value)

    def __add__(self, other: Channels) -> Channels:
        terms = dict(self.terms)
        for name, k in other.terms:
            terms[name] = terms.get(name, 0) + k
        return Channels(self.const + other.const, tuple((n, k) for n, k in terms.items() if k))

    def substitute(self, values: dict[str, Channels]) -> Channels:
        out = Channels(self.const)
        for name, k in self.terms:
            for _ in range(k):
                out = out + values.get(name, Channels.of(name))
        return out

    def __str__(self) -> str:
        parts = [name if k == 1 else f"{k} * {name}" for name, k in self.terms]
        if self.const or not parts:
            parts.append(str(self.const))
        return " + ".join(parts)


# ----------------------------------------------------------------------------- class models


@dataclass
class ClassCode:
    name: str
    doc: str
    signature: str  # the constructor's parameters after self
    noqa: str = ""  # a lint exemption for the constructor line, with its reason
    init: list[str] = field(default_factory=list)  # constructor body lines, indented by 8
    methods: list[tuple[str, list[str]]] = field(default_factory=list)  # (def line, body lines)


def python_literal(value) -> str:
    if isinstance(value, str):
        return json.dumps(value)  # relu / none: double-quoted
    return repr(value)


def inert(text: str) -> str:
    """A path for a comment or docstring: anything outside printable ASCII, and quotes and
    backslashes, become `?`, so that nothing can end the comment or the docstring."""
    return re.sub(r'[^\x20-\x7e]|["\'\\]', "?", text)


def source_comment(pos) -> str:
    return f"# {inert(pos.file)}:{pos.line}"


def _size(pair: tuple[int, int]) -> str:
    return str(pair[0]) if pair[0] == pair[1] else f"({pair[0]}, {pair[1]})"


def _window_args(op) -> str:
    args = [_size(op.kernel)]
    if isinstance(op, ir.Pool) or op.stride != 1:
        args.append(f"stride={op.stride}")  # pools default their stride to the kernel size
    if op.padding == "same":
        pad = tuple((k - 1) // 2 for k in op.kernel)
        if any(pad):
            args.append(f"padding={_size(pad)}")
    return ", ".join(args)


class _Generator:
    def __init__(self, network: ir.Network):
        self.network = network
        self.shapes = network.shapes
        self.uses_conv_unit = False
        self.uses_global_pool = False
        self.outputs: dict[str, Channels] = {}  # block -> output channels, generic in its inputs
        for name, definition in network.blocks.items():  # dependencies come first
            channels = self.channels(definition.graph, Channels.of("in_channels"))
            self.outputs[name] = channels[definition.graph.graph["output"]]
        # A block whose every instance gets the same constant channel count has it written in;
        # others take `in_channels` (also when it depends on a parameter such as num_classes).
        self.fixed_in: dict[str, int | None] = {}
        inputs: dict[str, list[Channels]] = {name: [] for name in network.blocks}
        body = self.call_inputs(network.body, Channels(network.input_shape[0]), inputs)
        self.call_inputs(network.head, body[network.body.graph["output"]], inputs)
        for name in reversed(network.blocks):  # callers come first
            seen = set(inputs[name])
            only = next(iter(seen)) if len(seen) == 1 else None
            self.fixed_in[name] = only.const if only is not None and not only.terms else None
            entry = Channels(self.fixed_in[name]) if self.fixed_in[name] is not None else \
                Channels.of("in_channels")
            self.call_inputs(network.blocks[name].graph, entry, inputs)

    # ------------------------------------------------------------------------------ channels

    def channels(self, g: nx.DiGraph, input_channels: Channels) -> dict[str, Channels]:
        out: dict[str, Channels] = {}
        for node in ir.topological(g):
            op = g.nodes[node]["op"]
            inputs = [out[u] for u in ir.ordered_inputs(g, node)]
            if isinstance(op, ir.Input):
                out[node] = input_channels
            elif isinstance(op, ir.Conv):
                out[node] = Channels.of(op.filters)
            elif isinstance(op, ir.Linear):
                out[node] = Channels.of(op.features)
            elif isinstance(op, ir.Concat):
                out[node] = sum(inputs[1:], inputs[0])
            elif isinstance(op, ir.BlockCall):
                current = inputs[0]
                for _ in range(op.repeat):
                    current = self.call_output(op, current)
                out[node] = current
            else:
                out[node] = inputs[0]
        return out

    def call_inputs(self, g: nx.DiGraph, input_channels: Channels, inputs: dict) \
            -> dict[str, Channels]:
        """The graph's channels; adds each block instance's input channels to `inputs`."""
        channels = self.channels(g, input_channels)
        for node in g:
            op = g.nodes[node]["op"]
            if isinstance(op, ir.BlockCall):
                current = channels[ir.ordered_inputs(g, node)[0]]
                for _ in range(op.repeat):
                    inputs[op.block].append(current)
                    current = self.call_output(op, current)
        return channels

    def call_output(self, op: ir.BlockCall, in_channels: Channels) -> Channels:
        values = {"in_channels": in_channels}
        values.update({name: Channels.of(value) for name, value in op.args
                       if isinstance(value, (int, str)) and not isinstance(value, bool)})
        return self.outputs[op.block].substitute(values)

    # ---------------------------------------------------------------------------- modules

    def constructor(self, op, in_channels: Channels) -> str:
        if isinstance(op, ir.Conv):
            cls = "nn.Conv2d" if op.linear else "ConvBnReLU"
            self.uses_conv_unit |= not op.linear
            return f"{cls}({in_channels}, {op.filters}, {_window_args(op)})"
        if isinstance(op, ir.Pool):
            if op.kind == "max":
                return f"nn.MaxPool2d({_window_args(op)})"
            count_pad = self.network.settings.avgpool_count_pad
            extra = "" if count_pad or op.padding == "valid" else ", count_include_pad=False"
            return f"nn.AvgPool2d({_window_args(op)}{extra})"
        if isinstance(op, ir.GlobalAvgPool):
            self.uses_global_pool = True
            return "GlobalAvgPool()"
        if isinstance(op, ir.Dropout):
            return f"nn.Dropout({op.p!r})"
        if isinstance(op, ir.Linear):
            return f"nn.Linear({in_channels}, {op.features})"
        if isinstance(op, ir.BlockCall):
            args = [] if self.fixed_in[op.block] is not None else [str(in_channels)]
            args += [f"{name}={python_literal(value) if value in ('relu', 'none') else value}"
                     for name, value in op.args]
            return f"{op.block}({', '.join(args)})"
        raise TypeError(f"no constructor for {op!r}")

    def module_lines(self, g: nx.DiGraph, channels: dict[str, Channels]) -> list[str]:
        """`self.name = ...` lines for the modules of a graph, in data-flow order."""
        units: dict[str, list[str]] = {}
        for node in ir.topological(g):
            if g.nodes[node]["paths"]:
                units.setdefault(g.nodes[node]["paths"][0][0], []).append(node)
        lines = []
        for name, nodes in units.items():
            items = []  # (code, comment) of each module or run of repeated modules
            for node in nodes:
                data = g.nodes[node]
                op = data["op"]
                in_channels = channels[ir.ordered_inputs(g, node)[0]]
                comment = source_comment(data["pos"])
                if isinstance(op, ir.BlockCall) and op.repeat > 1:
                    items += [(code, comment) for code in self.repeated(op, in_channels)]
                else:
                    items.append((self.constructor(op, in_channels), comment))
            sequential = len(g.nodes[nodes[0]]["paths"][0]) == 2
            lines += self.assignment(name, items, sequential)
        return lines

    def repeated(self, op: ir.BlockCall, in_channels: Channels) -> list[str]:
        """`*[Block() for _ in range(n)]`, or each instance when their arguments differ."""
        calls, current = [], in_channels
        for _ in range(op.repeat):
            calls.append(self.constructor(op, current))
            current = self.call_output(op, current)
        if len(set(calls)) == 1:
            return [f"*[{calls[0]} for _ in range({op.repeat})]"]
        return calls

    def assignment(self, name: str, items: list[tuple[str, str]], sequential: bool) -> list[str]:
        code, comment = items[0]
        if not sequential:
            return _with_comment(f"self.{name} = {code}", comment, 8)
        if len(items) == 1 and code.startswith("*["):
            return _with_comment(f"self.{name} = nn.Sequential({code})", comment, 8)
        lines = [f"        self.{name} = nn.Sequential("]
        for code, comment in items:
            lines += _with_comment(f"{code},", comment, 12)
        return lines + ["        )"]

    # ---------------------------------------------------------------------------- forward

    def forward_lines(self, g: nx.DiGraph, input_var: str = "x") -> list[str]:
        residual = any(isinstance(g.nodes[n]["op"], ir.Add) for n in g)
        main = "out" if residual else "x"
        var: dict[str, str] = {}
        lines: list[str] = []
        done_units: dict[str, str] = {}
        for node in ir.topological(g):
            data = g.nodes[node]
            op = data["op"]
            inputs = [var[u] for u in ir.ordered_inputs(g, node)]
            if isinstance(op, ir.Input):
                var[node] = input_var
                continue
            unit = data["paths"][0][0] if data["paths"] else None
            if unit in done_units:  # a later member of an nn.Sequential: the call is made
                var[node] = done_units[unit]
                continue
            name = main if not data["branch"] else (unit or data["branch"][-1])
            if name in ("l", "I", "O"):  # names pycodestyle finds ambiguous (E741)
                name += "_"
            if isinstance(op, ir.Concat):
                expr = f"torch.cat(({', '.join(inputs)}), 1)"
            elif isinstance(op, ir.Add):
                shortcut, branch = inputs
                scale = "self.scale" if isinstance(op.scale, str) else python_literal(op.scale)
                expr = f"{shortcut} + {branch}" if op.scale == 1 else \
                    f"{shortcut} + {scale} * {branch}"
                if op.activation != "none":
                    expr = f"self.act({expr})"
            else:
                expr = f"self.{unit}({inputs[0]})"
                done_units[unit] = name
            var[node] = name
            lines.append(f"        {name} = {expr}")
        last = lines[-1].split(" = ", 1)[1]
        lines[-1] = f"        return {last}"
        return lines

    # ---------------------------------------------------------------------------- classes

    def block_class(self, definition: ir.BlockDef) -> ClassCode:
        g = definition.graph
        fixed = self.fixed_in[definition.name]
        in_channels = Channels(fixed) if fixed is not None else Channels.of("in_channels")
        channels = self.channels(g, in_channels)
        kinds = self.param_kinds(definition)
        signature = ([] if fixed is not None else ["in_channels: int"]) + \
            [f"{p}: {kinds.get(p, 'int')}" for p in definition.params]
        code = ClassCode(definition.name, self.block_doc(definition), ", ".join(signature))
        ambiguous = [p for p in definition.params if p in ("l", "I", "O")]
        if ambiguous:
            code.noqa = f"  # noqa: E741, RUF100 (`{ambiguous[0]}` is the spec's name)"
        add = next((g.nodes[n]["op"] for n in g if isinstance(g.nodes[n]["op"], ir.Add)), None)
        if add is not None and isinstance(add.scale, str):
            code.init.append(f"        self.scale = {add.scale}")
        code.init += self.module_lines(g, channels)
        if add is not None and isinstance(add.activation, str) and add.activation != "none":
            if add.activation == "relu":
                code.init.append("        self.act = nn.ReLU()")
            else:
                code.init.append(f'        self.act = nn.ReLU() if {add.activation} == "relu" '
                                 "else nn.Identity()")
        code.methods.append(("def forward(self, x: torch.Tensor) -> torch.Tensor:",
                             self.forward_lines(g)))
        return code

    def param_kinds(self, definition: ir.BlockDef) -> dict[str, str]:
        """The Python type of each block parameter, from how the block uses it."""
        kinds: dict[str, str] = {}
        g = definition.graph
        for node in g:
            op = g.nodes[node]["op"]
            if isinstance(op, ir.Add):
                if isinstance(op.scale, str):
                    kinds[op.scale] = "float"
                if op.activation not in ("relu", "none"):
                    kinds[op.activation] = "str"
            elif isinstance(op, ir.BlockCall):
                inner = self.param_kinds(self.network.blocks[op.block])
                kinds.update({value: inner.get(name, "int") for name, value in op.args
                              if isinstance(value, str)})
        return kinds

    def block_doc(self, definition: ir.BlockDef) -> str:
        ins = sorted({key[2] for key in self.shapes.instances if key[0] == definition.name})
        outs = sorted({inst.output for key, inst in self.shapes.instances.items()
                       if key[0] == definition.name})
        kind = "residual block" if definition.residual else "block"
        title = f"{definition.title}, a {kind}" if definition.title != definition.name else \
            kind.capitalize()
        if len(ins) == 1 and len(outs) == 1:
            return f"{title}: {_shape(ins[0])} -> {_shape(outs[0])}."
        return f"{title}."

    def network_class(self) -> ClassCode:
        net = self.network
        c, h, w = net.input_shape
        result = "num_classes scores" if len(net.head) > 1 else "features"
        doc = f"{net.name}: {c} x {h} x {w} input -> {result}."
        code = ClassCode(ir.class_name(net.name), doc, f"num_classes: int = {net.num_classes}")
        code.init.append("        self.num_classes = num_classes")
        body = self.channels(net.body, Channels(c))
        code.init += self.module_lines(net.body, body)
        head = self.channels(net.head, body[net.body.graph["output"]])
        code.init += self.module_lines(net.head, head)
        code.methods.append(("def forward_features(self, x: torch.Tensor) -> torch.Tensor:",
                             self.forward_lines(net.body)))
        head_lines = self.forward_lines(net.head) if len(net.head) > 1 else ["        return x"]
        code.methods.append(("def forward_head(self, x: torch.Tensor) -> torch.Tensor:",
                             head_lines))
        code.methods.append(("def forward(self, x: torch.Tensor) -> torch.Tensor:",
                             ["        return self.forward_head(self.forward_features(x))"]))
        return code


def _with_comment(code: str, comment: str, indent: int) -> list[str]:
    line = " " * indent + code
    if len(line) + 2 + len(comment) <= MAX_LINE:
        return [f"{line}  {comment}"]
    return [" " * indent + comment, line]


def _shape(shape: tuple) -> str:
    return " x ".join(str(d) for d in shape)


def render(network: ir.Network) -> str:
    """The generated module's source for a checked network."""
    generator = _Generator(network)
    classes = [generator.block_class(d) for d in network.blocks.values()]
    classes.append(generator.network_class())
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,  # Python source, not HTML; every string is made safe before it gets here
    )
    return env.get_template("module.py.j2").render(
        network=network,
        sources=[(inert(path), digest) for path, digest in network.sources],
        bn_eps=network.settings.bn_eps,
        bn_momentum=network.settings.bn_momentum,
        conv_unit=generator.uses_conv_unit,
        global_pool=generator.uses_global_pool,
        classes=classes,
        class_name=ir.class_name(network.name),
    )
