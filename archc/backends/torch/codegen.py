"""IR -> PyTorch source: one class per block definition, one network class, rendered by jinja2.

The code is computed here as plain statements (constructor lines and forward lines per class);
templates/module.py.j2 lays them out. Every number comes from the IR: channel counts from shape
inference (symbolic inside a block definition: `k`, `n + m + in_channels`), kernels, strides,
pads and groups from the operations. Each operation writes its own module and forward
expression (its file in archc/ops/); the generator gives them the services they ask for.
This module orchestrates: the conv unit classes are units.py's, forwards forward.py's (a walk of
the graph), the network class's timm contract contract.py's, a deploy module's weight loading
loading.py's, how code is written as text text.py's; the template gets the run-time helpers the
emitted code asked for (runtime.py).
"""

from __future__ import annotations

import dataclasses
import itertools
import re
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import NamedTuple

import jinja2
import networkx as nx

from ...activations import ACTIVATION_CLASSES
from ...ir import expr as ex
from ...ir import graph as ir
from ...ir.expr import Expr, Sym
from ...ir.graph import Channels
from ...ops.activation import activation_module
from .contract import Contract, TimmContract
from .forward import Forward
from .loading import DeployLoading, runtime_source
from .names import Namespace, is_ambiguous
from .text import (
    MAX_LINE,
    NAMES,
    argument_code,
    code,
    inert,
    numbered_run,
    pair_code,
    python_literal,
    shown_path,
    source_comment,
    with_comment,
    wrap,
)
from .units import ConvUnit

TEMPLATES = Path(__file__).parent / "templates"
# The layer classes of runtime.py that ops' modules use (emit.need), copied where used.
LAYER_HELPERS = ("LayerNorm2d", "Permute", "ONEDNN_LINEAR", "Linear")


# ----------------------------------------------------------------------------- class models


@dataclass
class ClassCode:
    name: str
    doc: str
    signature: str  # the constructor's parameters after self
    noqa: str = ""  # a lint exemption for the constructor line, with its reason
    init: list[str] = field(default_factory=list)  # constructor body lines, indented by 8
    methods: list[tuple[str, list[str]]] = field(default_factory=list)  # (def line, body lines)
    contract: Contract | None = None  # the network class's timm contract
    base: str = "nn.Module"  # nn.Sequential: the constructor calls super().__init__(modules)

    @property
    def constructor(self) -> list[str]:
        """The `def __init__` line, wrapped when long, with its lint exemption."""
        line = f"    def __init__(self{', ' if self.signature else ''}{self.signature}):"
        if len(line) <= MAX_LINE:  # a line may run long by its noqa comment
            return [line + self.noqa]
        lines = wrap(line)
        lines[1] += self.noqa
        return lines


class _Generator(TimmContract, DeployLoading):
    def __init__(self, network: ir.Network, deploy: bool = False):
        self.network = network
        self.deploy = deploy  # an inference module of passes.deploy's network
        self.shapes = network.shapes
        self.channels = network.shapes.channels
        if deploy:  # an inference module takes the input it was made for
            self.channels = {name: _bound(channels, {"in_chans": network.input_shape[0]})
                             for name, channels in self.channels.items()}
        self.units: dict[str, ConvUnit] = {}
        self.needs: set[str] = set()  # the template's helpers the emitted code uses
        self.attributes: dict[int, _Attributes] = {}  # per block graph (deploy)
        self.constructor_args: dict[str, Expr] = {}  # head node -> what its module takes (timm)

    def kept(self, g: nx.DiGraph) -> _Attributes:
        """The attributes a graph's module keeps for its forward (deploy)."""
        return self.attributes.setdefault(id(g), _Attributes(g))

    def slice_bounds(self, g: nx.DiGraph, op: ir.Slice) -> tuple[Expr, Expr]:
        """A slice's start and stop as generated code writes them: `in` is a number where every
        instance of the block takes the same channels, else its in_channels argument."""
        values = {"in": self.channels[ir.name_of(g)].input}
        return ex.substitute(op.start, values), ex.substitute(op.stop, values)

    def channel_runs(self, g: nx.DiGraph, node: str) -> list[tuple[Expr, Expr]]:
        """The runs of channels a node's generated code writes: a slice's bounds, a merged
        conv's parts' (deploy)."""
        data = ir.node(g, node)
        runs = data.op.torch_channel_runs(self, g)
        if runs:
            return runs
        parts = data.trained if data.op.weighted else ()  # a block call's are its instances
        return self.part_bounds(g, parts) if len(parts) > 1 else []

    def channels_of(self, g: nx.DiGraph, node: str) -> Expr:
        """A node's output channels as generated code writes them (symbolic in a block)."""
        return self.channels[ir.name_of(g)].nodes[node]

    # ----------------------------------------------------- services the ops' emitters use

    def module(self, op: ir.Op, cin: Expr, cout: Expr) -> str:
        return op.torch_module(self, cin, cout)

    code = staticmethod(code)
    size = staticmethod(pair_code)
    literal = staticmethod(python_literal)

    argument = staticmethod(argument_code)

    @property
    def blocks(self):
        return self.network.blocks

    def instances_of(self, g: nx.DiGraph) -> dict:
        """The instances of a block's graph."""
        return self.shapes.instances_of(ir.name_of(g))

    def need(self, helper: str) -> None:
        """A helper of the template that the emitted code uses."""
        self.needs.add(helper)

    def activation(self, act: str | Sym, inplace: bool = False) -> str:
        """An activation's module; one a block parameter names is looked up by that name."""
        if isinstance(act, Sym):
            self.need("activation_table")
            return f"ACTIVATIONS[{act.name}]()"
        return activation_module(act, inplace)

    def conv_unit(self, norm: ir.BatchNorm | None, act: str, groups: bool, bias: bool,
                  biased: bool) -> str:
        """The name of the unit class (ConvBnReLU, ...) that writes a conv unit, added to the
        module's helpers; one name, one class, whose constructor takes what its convs need."""
        unit = ConvUnit(norm, act, groups, bias, biased)
        known = self.units.get(unit.name)
        if known is not None and known.norm != unit.norm:
            raise ValueError(f"conv units {unit.name} with different BatchNorm settings")
        if known is not None:
            unit = ConvUnit(norm, act, groups or known.groups, bias or known.bias, biased)
        self.units[unit.name] = unit
        if act == "param":
            self.need("activation_table")
        return unit.name

    @staticmethod
    def input_of(g: nx.DiGraph, node: str) -> str:
        return ir.ordered_inputs(g, node)[0]

    def items(self, g: nx.DiGraph, nodes: list[str], channels: Channels,
              depth: int) -> list[_Item]:
        """The members of an nn.Sequential made of the modules of `nodes`: each module's, or
        each run of modules made by one code. `depth`: where the group's own keys start in the
        nodes' paths (1 after the group's attribute; 0 in a block that is an nn.Sequential)."""
        items = []
        for node in nodes:
            data = ir.node(g, node)
            op = ir.bind(data.op, {"in": channels.input})
            cin = channels.nodes[ir.ordered_inputs(g, node)[0]]
            comment = source_comment(data.pos)
            nesting = data.paths[0][depth:-1]  # the nn.Sequentials around it inside the group
            keys = [path[-1] for path in data.paths]
            if op.opcode == "call" and not ex.is_number(op.repeat):
                text, indexed = self.counted(op, channels.calls[node])
                items.append(_Item(nesting, tuple(keys), text, comment, indexed,
                                   code(op.repeat)))
            elif op.opcode == "call" and op.repeat > 1:
                for text, count, indexed in self.repeated(op, channels.calls[node]):
                    items.append(_Item(nesting, tuple(keys[:count]), text, comment, indexed))
                    keys = keys[count:]
            elif g is self.network.head and node in self.constructor_args:
                items.append(_Item(nesting, tuple(keys),
                                   self.timm_module(op, cin, self.constructor_args[node]),
                                   comment))
            else:
                items.append(_Item(nesting, tuple(keys),
                                   self.module(op, cin, channels.nodes[node]), comment))
        return items

    def module_lines(self, g: nx.DiGraph, channels: Channels) -> list[str]:
        """`self.name = ...` lines for the modules of a graph, in data-flow order."""
        lines = []
        for name, nodes in ir.modules(g).items():
            items = self.items(g, nodes, channels, 1)
            first = ir.node(g, nodes[0])
            built = first.when is not None and first.when not in self.flags(g)
            indent = 12 if built else 8  # a module built where its condition holds
            if built:
                when = _condition(first.when, channels.input)
                lines += [f"        self.{name} = None",
                          *with_comment(f"if {code(when)}:", source_comment(first.pos), 8)]
            if first.in_sequential:
                if any(isinstance(part, str) for n in nodes for path in ir.node(g, n).paths
                       for part in path[1:]):
                    self.need("ordered_dict")
                lines += _sequential(items, 0, indent, f"self.{name} = ")
            else:
                lines += with_comment(f"self.{name} = {items[0].code}", items[0].comment,
                                      indent)
        return lines

    @staticmethod
    def flags(g: nx.DiGraph) -> set[Expr]:
        """The conditions of a block's steps without a module (a residual's `when`: its sum,
        and its drop paths with it): generated code keeps one as `self.use_residual` and runs
        the steps under it in forward. A module's other conditions build it or leave it None
        (a conditional shortcut), and forward asks whether it is None."""
        return {ir.node(g, n).when for n in g
                if ir.node(g, n).when is not None and not ir.node(g, n).op.module}

    def timm_module(self, op: ir.Op, cin: Expr, argument: Sym) -> str:
        """A classifier module as timm's constructor arguments make it: a dropout of p
        `drop_rate`, a last linear of `num_classes` that 0 leaves out."""
        if op.classifier_part == "dropout":
            return self.module(dataclasses.replace(op, p=argument), cin, cin)
        return f"{self.module(op, cin, argument)} if num_classes else nn.Identity()"

    def repeated(self, op: ir.BlockCall, inputs: tuple[Expr, ...]) -> list[tuple[str, int, bool]]:
        """(a block's constructor call, how many times in a row, whether the call is of the
        index i): once for all repeats; once, of i, where the input channels grow by the same
        step (DenseNet's layers); or once per run of equal calls (a stage's first block, whose
        input differs, then the others)."""
        calls = [self.module(op, cin, None) for cin in inputs]
        if len(set(calls)) == 1:
            return [(calls[0], op.repeat, False)]
        parts = [re.fullmatch(r"(\w+\()(\d+)(,.*|\))", call) for call in calls]
        if all(parts) and len({(p[1], p[3]) for p in parts}) == 1:
            first, second = int(parts[0][2]), int(parts[1][2])
            step = second - first
            if all(int(p[2]) == first + step * n for n, p in enumerate(parts)):
                return [(f"{parts[0][1]}{first} + {step} * i{parts[0][3]}", op.repeat, True)]
        return [(call, len(list(run)), False) for call, run in itertools.groupby(calls)]

    def counted(self, op: ir.BlockCall, inputs: tuple[Expr, Expr]) -> tuple[str, bool]:
        """A block's constructor call for a repeat whose count is an expression, and whether
        it is of the index i: the first repeat's input channels (`inputs`) may differ from the
        others' (`in_channels if i == 0 else out`)."""
        first, rest = (self.module(op, cin, None) for cin in inputs)
        if first == rest:
            return first, False
        # The channels as code: a name of the generated text, which nothing else reads.
        either = Sym(f"{code(inputs[0])} if i == 0 else {code(inputs[1])}")
        return self.module(op, either, None), True

    # ---------------------------------------------------------------------------- forward

    def forward_lines(self, g: nx.DiGraph, pre_logits: bool = False) -> list[str]:
        """The body of a forward (forward.py)."""
        forward = Forward(self, g, pre_logits)
        forward.graph(g, forward.names[("input",)], None)
        variable, last = forward.lines[-1].strip().split(" = ", 1)
        if forward.lines[-1].startswith(" " * 12):  # under a condition
            forward.lines.append(f"        return {variable}")
        else:
            forward.lines[-1] = f"        return {last}"
        return [part for line in forward.lines for part in wrap(line)]

    # ---------------------------------------------------------------------------- classes

    def block_class(self, definition: ir.BlockDef) -> ClassCode:
        g = definition.graph
        channels = self.channels[definition.name]
        kinds = self.param_kinds(definition)
        takes_channels = not ex.is_number(channels.input)
        defaults = dict(definition.defaults)
        params = [f"{p}: {kinds.get(p, 'int')}" + (f" = {argument_code(defaults[p])}"
                                                   if p in defaults else "")
                  for p in definition.params]
        first_default = next((i for i, p in enumerate(definition.params) if p in defaults), None)
        if first_default is not None and any(p not in defaults
                                             for p in definition.params[first_default:]):
            params.insert(first_default, "*")  # keyword-only: a default before a required one
        signature = (["in_channels: int"] if takes_channels else []) + params
        cls = ClassCode(definition.name, self.block_doc(definition), ", ".join(signature))
        ambiguous = [p for p in definition.params if is_ambiguous(p)]
        if ambiguous:
            cls.noqa = f"  # noqa: E741, RUF100 (`{ambiguous[0]}` is the spec's name)"
        if definition.sequential:  # the class is its modules' nn.Sequential: no forward
            cls.base = "nn.Sequential"
            nodes = [n for n in ir.topological(g) if ir.node(g, n).paths]
            cls.init += _sequential(self.items(g, nodes, channels, 0), 0, 8, "super().__init__",
                                   call="")
            if self.deploy:
                cls.methods.append(self.load_method(definition.name, self.load_lines(g)))
            return cls
        scale = _symbolic_scale(g)
        if scale is not None:  # `in` is a number where every instance gets the same channels
            scale = ex.substitute(scale, {"in": channels.input})
            cls.init.append(f"        self.scale = {code(scale)}")
        attributes = self.kept(g)
        bounds = sorted({name for n in g for pair in self.channel_runs(g, n) for e in pair
                         for name in ex.symbols(e)})
        if bounds:
            cls.init.append("        # where the parts of merged convs end, for forward and "
                            "load_trained" if self.deploy else
                            "        # the bounds of the channel ranges forward takes")
            cls.init += [f"        self.{attributes.of(name)} = {NAMES.get(name, name)}"
                         for name in bounds]
        cls.init += self.module_lines(g, channels)
        for when in self.flags(g):  # one at most: a block's residual is one
            at = next(ir.node(g, n).pos for n in ir.topological(g)
                      if ir.node(g, n).when == when and not ir.node(g, n).op.module)
            when = _condition(when, channels.input)
            cls.init += with_comment(f"self.use_residual = {code(when)}", source_comment(at), 8)
        for node in ir.topological(g):
            cls.init += ir.node(g, node).op.torch_init(self, g)
        cls.methods.append(("def forward(self, x: torch.Tensor) -> torch.Tensor:",
                            self.forward_lines(g)))
        if self.deploy:
            cls.methods.append(self.load_method(definition.name, self.load_lines(g)))
        return cls

    def param_kinds(self, definition: ir.BlockDef) -> dict[str, str]:
        """The Python type of each block parameter, from how the block uses it."""
        kinds: dict[str, str] = {}
        g = definition.graph
        for node in g:
            op = ir.node(g, node).op
            for act in (getattr(op, "act", None), getattr(op, "function", None)):
                if isinstance(act, Sym):
                    kinds[act.name] = "str"
            for part in ir.node(g, node).trained:
                kinds.update({name: "float" for name in ex.symbols(part.scale)})
            if op.residual_scale is not None:
                kinds.update({name: "float" for name in ex.symbols(op.residual_scale)})
            elif op.opcode == "call":
                inner = self.param_kinds(self.network.blocks[op.block])
                kinds.update({value.name: inner.get(name, "int") for name, value in op.args
                              if isinstance(value, Sym)})
        return kinds

    def block_doc(self, definition: ir.BlockDef) -> str:
        instances = self.shapes.instances_of(definition.name)
        ins = sorted({key[2] for key in instances})
        outs = sorted({inst.output for inst in instances.values()})
        g = definition.graph
        kind = ir.node(g, g.graph["output"]).op.block_kind
        title = f"{definition.title}, a {kind}" if definition.title != definition.name else \
            kind.capitalize()
        text = f"{title}: {_shape(ins[0])} -> {_shape(outs[0])}." \
            if len(ins) == 1 and len(outs) == 1 else f"{title}."
        if len(text) + len('    """"""') <= MAX_LINE:
            return text
        return "\n    ".join(textwrap.wrap(text, MAX_LINE - 4)) + "\n    "  # """ on its own line

    def network_class(self) -> ClassCode:
        net = self.network
        c, h, w = net.input_shape
        result = "num_classes scores" if len(net.head) > 1 else "features"
        steps = self.body_steps()
        classifier = self.classifier_head()
        doc = f"{net.name}: {c} x {h} x {w} input -> {result}.\n\n" + \
            self.contract_doc(steps is not None, classifier is not None)
        pool, linear = classifier or (None, None)
        if self.deploy:
            text = (f"{self.name}: {c} x {h} x {w} input -> {result}, for inference: BatchNorm "
                    "and residual scales are folded into the convs, tensors are channels_last. "
                    f"It takes a trained {ir.class_name(net.name)}'s weights with "
                    "from_trained(state_dict) and refuses .train().")
            doc = "\n    ".join(textwrap.wrap(text, MAX_LINE - 7)) + "\n\n" + \
                self.contract_doc(steps is not None, classifier is not None)
        cls = ClassCode(ir.class_name(self.name), doc, f"num_classes: int = {net.num_classes}")
        drop_rate = self.timm_arguments(cls, classifier)
        features = code(self.channels[ir.BODY].nodes[net.body.graph["output"]])
        cls.init.append("        self.num_classes = num_classes")
        cls.init.append(f"        self.num_features = {features}  # forward_features' channels")
        if not self.deploy:
            cls.init.append("        self.head_hidden_size = self.num_features  # no hidden layer "
                            "before the classifier")
        cls.init += self.module_lines(net.body, self.channels[ir.BODY])
        cls.init += self.module_lines(net.head, self.channels[ir.HEAD])
        if not self.deploy:
            cls.init += self.timm_checks(classifier is not None and drop_rate is None)
        if steps is not None:
            cls.init += self.feature_info_lines(steps)
        cls.init += self.pretrained_cfg(classifier)
        if classifier is not None and not self.deploy:
            cls.init += ['        if global_pool != "avg":',
                         "            self.reset_classifier(num_classes, global_pool)"]
        checkpointing = steps is not None and not self.deploy
        cls.contract = Contract(linear, pool, [name for _, names in steps or [] for name in names],
                                checkpointing)
        features_lines = self.forward_lines(net.body)
        if checkpointing:
            cls.init.append("        self.grad_checkpointing = False")
            features_lines[:0] = [
                "        if self.grad_checkpointing and torch.is_grad_enabled():",
                "            for name in self.body_steps:",
                "                x = checkpoint(self.get_submodule(name), x, use_reentrant=False)",
                "            return x"]
        if self.deploy:
            cls.init += ["        self.to(memory_format=torch.channels_last)",
                         "        self.eval()",
                         "        # No autograd graph unless the input asks for one.",
                         "        self.requires_grad_(False)"]
            features_lines.insert(0, "        x = x.contiguous(memory_format=torch.channels_last)")
        cls.methods.append(("def forward_features(self, x: torch.Tensor) -> torch.Tensor:",
                            features_lines))
        if classifier is not None:
            cls.methods.append(("def forward_head(self, x: torch.Tensor, pre_logits: bool = False)"
                                " -> torch.Tensor:", self.forward_lines(net.head, pre_logits=True)))
        else:
            head_lines = self.forward_lines(net.head) if len(net.head) > 1 else \
                ["        return x"]
            cls.methods.append(("def forward_head(self, x: torch.Tensor) -> torch.Tensor:",
                                head_lines))
        cls.methods.append(("def forward(self, x: torch.Tensor) -> torch.Tensor:",
                            ["        return self.forward_head(self.forward_features(x))"]))
        if self.deploy:
            cls.methods += self.deploy_methods()
        return cls

    def timm_arguments(self, cls: ClassCode, classifier) -> float | None:
        """The constructor arguments timm's create_model passes (in_chans, global_pool,
        drop_rate, drop_path_rate), with the spec's values as defaults, on a trained module;
        the classifier's modules that take them. Gives the classifier's dropout rate, None
        where it has no dropout."""
        if self.deploy:
            return None
        net = self.network
        cls.signature += f", in_chans: int = {net.input_shape[0]}"
        drop_rate = None
        if classifier is not None:
            nodes = self.chain(net.head)
            dropouts = [n for n in nodes if ir.node(net.head, n).op.classifier_part == "dropout"]
            drop_rate = ir.node(net.head, dropouts[0]).op.p if dropouts else None
            self.constructor_args = {**{n: Sym("drop_rate") for n in dropouts},
                                     nodes[-1]: Sym("num_classes")}
            cls.signature += (f', global_pool: str = "avg", drop_rate: float = '
                              f"{python_literal(drop_rate or 0.0)}")
        cls.signature += f", drop_path_rate: float = {python_literal(net.drop_path_rate)}"
        return drop_rate

    def timm_checks(self, no_dropout: bool) -> list[str]:
        """The constructor's use of drop_path_rate, and its refusal of a rate that nothing
        here would use (timm passes what the user asks for)."""
        if "drop_path" in self.needs:
            return ["        # Stochastic depth: the drop paths' rates rise linearly from 0 at the "
                    "first",
                    "        # to drop_path_rate at the last, as timm's drop_path_rate",
                    "        drop_paths = [m for m in self.modules() if isinstance(m, DropPath)]",
                    "        for i, drop_path in enumerate(drop_paths):",
                    "            drop_path.p = drop_path_rate * i / max(len(drop_paths) - 1, 1)"]
        lines = ["        if drop_path_rate:",
                 '            raise ValueError(f"drop_path_rate={drop_path_rate}: the network '
                 'has no drop_path step")']
        if no_dropout:
            lines += ["        if drop_rate:",
                      '            raise ValueError(f"drop_rate={drop_rate}: the classifier has '
                      'no dropout")']
        return lines

    @property
    def name(self) -> str:
        """The generated network's name: the spec's, and `_deploy` for the inference module."""
        return f"{self.network.name}_deploy" if self.deploy else self.network.name

def _bound(channels: Channels, values: dict) -> Channels:
    """Channels with symbols given values."""
    def sub(e):
        return ex.substitute(e, values)
    return Channels(sub(channels.input),
                    MappingProxyType({n: sub(e) for n, e in channels.nodes.items()}),
                    MappingProxyType({n: tuple(map(sub, per_repeat))
                                      for n, per_repeat in channels.calls.items()}))


def _symbolic_scale(g: nx.DiGraph) -> Expr | None:
    """The residual scale a block keeps as `self.scale`: its add's, or, once folded into the
    weights, the one its weights are multiplied by."""
    for node in g:
        data = ir.node(g, node)
        scales = [data.op.residual_scale] if data.op.residual_scale is not None else \
            [part.scale for part in data.trained]
        for scale in scales:
            if not ex.is_number(scale):
                return scale
    return None


class _Attributes:
    """The attributes a deploy block keeps for its forward (a merged conv's part bounds, whether
    its fused residual applies a ReLU), named so as not to take a module's name."""

    def __init__(self, g: nx.DiGraph):
        modules = {path[0] for n in g for path in ir.node(g, n).paths}
        self.namespace = Namespace(taken=modules | {"scale", "act"})
        self.names: dict[str, str] = {}

    def of(self, name: str) -> str:
        if name not in self.names:
            self.names[name] = self.namespace.create(NAMES.get(name, name))
        return self.names[name]

    def code(self, e: Expr) -> str:
        """An expression of the block's parameters, read from the attributes that keep them."""
        return ex.to_text(e, {name: f"self.{self.of(name)}" for name in ex.symbols(e)})


def _shape(shape: tuple) -> str:
    return " x ".join(str(d) for d in shape)


def render(network: ir.Network, deploy: bool = False) -> str:
    """The generated module's source for a checked network; with deploy, the inference module
    of a network passes.deploy has rewritten."""
    generator = _Generator(network, deploy)
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
    used = sorted({a for op in _ops(network) for a in _activation_names(op)})
    return env.get_template("module.py.j2").render(
        network=network,
        sources=[(inert(shown_path(path)), digest) for path, digest in network.sources],
        units=sorted(generator.units.values(), key=lambda unit: unit.name),
        activation_table=[(name, ACTIVATION_CLASSES.get(name, "Identity"))
                          for name in used] if "activation_table" in generator.needs else [],
        global_pool="global_pool" in generator.needs,
        drop_path="drop_path" in generator.needs,
        plain_conv="plain_conv" in generator.needs,
        ordered_dict="ordered_dict" in generator.needs,
        # torch, and the packages of the spec's external modules
        imports=sorted({"torch", *(need.removeprefix("import ") for need in generator.needs
                                   if need.startswith("import "))}),
        runtime_globals=runtime_source(["ONEDNN", "CUDNN", "PACKED"], "\n"),
        runtime_conv=runtime_source(["Conv"]),
        runtime_deploy=runtime_source(["packed", "one_by_one", "fused",
                                       *(["relu_slice"] if "relu_slice" in generator.needs
                                         else []),
                                       "TrainedState", "folded", "load_conv", "load_copy",
                                       *(["load_parameter"] if "load_parameter" in generator.needs
                                         else [])]),
        runtime_global_pool=runtime_source(["GlobalAvgPool"]),
        runtime_drop_path=runtime_source(["DropPath"]),
        runtime_layers=runtime_source([name for name in LAYER_HELPERS
                                       if name in generator.needs]),
        checkpointing=any(c.contract and c.contract.checkpointing for c in classes),
        classes=classes,
        name=generator.name,
        deploy=deploy,
    )


def _ops(network: ir.Network):
    for g in [network.body, network.head, *(b.graph for b in network.blocks.values())]:
        for node in g:
            yield ir.node(g, node).op


def _activation_names(op) -> list[str]:
    """The activations an instance argument may choose."""
    if op.opcode == "call":
        return [value for _, value in op.args if isinstance(value, str)]
    return []


_FLIPPED = {"==": "==", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}


def _condition(when: Expr, channels: Expr) -> Expr:
    """A condition as a block's code writes it: `in` is its channels, a number where every
    instance gets the same, and a comparison that this leaves with the number first is turned
    around (`c == 24`, not `24 == c`)."""
    if isinstance(when, ex.BinOp) and when.op in ex.LOGICAL:
        return ex.binop(when.op, _condition(when.left, channels), _condition(when.right, channels))
    when = ex.substitute(when, {"in": channels})
    if isinstance(when, ex.BinOp) and when.op in _FLIPPED and ex.is_number(when.left) and \
            not ex.is_number(when.right):
        return ex.BinOp(_FLIPPED[when.op], when.right, when.left)
    return when


class _Item(NamedTuple):
    """A module of an nn.Sequential group, or a run of modules made by one code."""

    nesting: tuple  # the keys of the nn.Sequentials around it inside the group
    keys: tuple  # its key, or its run's, in the innermost one
    code: str
    comment: str
    indexed: bool = False  # `code` is of the run's index i (DenseNet's growing inputs)
    count: str | None = None  # a run's length as code, where an expression gives it


def _sequential(items: list[_Item], depth: int, indent: int, start: str = "",
                end: str = "", call: str = "nn.Sequential") -> list[str]:
    """`start`, an nn.Sequential of `items` at `depth`, then `end`: the items nested deeper form
    an nn.Sequential inside it at their key. Members with names of their own make it an
    nn.Sequential of an OrderedDict, as torchvision writes one. `call`: what is called with
    the members ("" after a `start` of `super().__init__`)."""
    keys = [item.nesting[depth] if len(item.nesting) > depth else key
            for item in items for key in item.keys]
    named = any(isinstance(key, str) for key in keys)
    if not named and len(items) == 1 and len(items[0].nesting) == depth and \
            (len(items[0].keys) > 1 or items[0].count):
        item = items[0]
        return with_comment(f"{start}{call}({_member(item, False, indent)[:-1]}){end}",
                            item.comment, indent)
    opening, closing = (f"{call}(OrderedDict([", "]))") if named else (f"{call}(", ")")
    lines = [f"{' ' * indent}{start}{opening}"]
    i = 0
    while i < len(items):
        nesting = items[i].nesting
        j = i + 1
        if len(nesting) == depth:
            lines += with_comment(_member(items[i], named, indent + 4), items[i].comment,
                                  indent + 4)
        else:
            while j < len(items) and items[j].nesting[:depth + 1] == nesting[:depth + 1]:
                j += 1
            key = nesting[depth]
            lines += _sequential(items[i:j], depth + 1, indent + 4,
                                 f'("{key}", ' if named else "", ")," if named else ",")
        i = j
    return lines + [" " * indent + closing + end]


def _member(item: _Item, named: bool, indent: int) -> str:
    """A module, or a run of them, as an item of an nn.Sequential's arguments, or of its
    OrderedDict's list of (name, module) (a comprehension over two lines where one is too
    long)."""
    keys, text, indexed = item.keys, item.code, item.indexed
    index = "i" if indexed else "_"
    if not named:
        return f"{text}," if len(keys) == 1 and not item.count else \
            f"*[{text} for {index} in range({item.count or len(keys)})],"
    if len(keys) == 1:
        return f'("{keys[0]}", {text}),'
    run = numbered_run(keys)
    if run is not None:
        prefix, first, suffix = run
        if indexed:  # i counts from 0: the names from `first`
            name = "{i}" if first == 0 else f"{{i + {first}}}"
            pair, loop = f'(f"{prefix}{name}{suffix}", {text})', f"for i in range({len(keys)})),"
        else:
            pair = f'(f"{prefix}{{i}}{suffix}", {text})'
            loop = f"for i in range({first}, {first + len(keys)})),"
        if indent + len(pair) + len(loop) + 3 <= MAX_LINE:
            return f"*({pair} {loop}"
        return f"*({pair}\n  {loop}"
    return "\n".join(f'("{key}", {text}),' for key in keys)
