"""Validated spec models -> IR graphs: names resolved into module paths, parameters checked, block
instances resolved against their definitions, the settings' defaults filled in, `same` padding
turned into pads. Shapes are inferred afterwards (ir/shapes.py)."""

from __future__ import annotations

import re
from types import MappingProxyType

import networkx as nx

from ..backends.graphviz.render import FIGURE_NAMES
from ..backends.torch.names import BLOCK_ATTRIBUTES
from ..errors import MAX_HINTED, Diagnostics, Pos, listing, shown_chain
from ..ir import expr as ex
from ..ir import graph as ir
from ..limits import MAX_BLOCK_DEPTH
from ..ops import OP_OF_MODEL, same_padding
from ..ops.gate import Gate
from . import models as schema
from .parse import ParsedSpec
from .words import close_word

# Steps that are layers themselves or lists of them, not named steps or concats.
_UNNAMED = (*schema.LAYER_MODELS, schema.Sequence, schema.SequentialGroup)


def elaborate(parsed: ParsedSpec, diags: Diagnostics) -> ir.Network | None:
    spec = parsed.spec
    defs = {name: _block_def(name, block, parsed.blocks, diags, spec.settings)
            for name, block in parsed.blocks.items()}
    network_class = ir.class_name(spec.name)
    deploy_class = ir.class_name(f"{spec.name}_deploy")  # archc build --deploy's
    for name, block in parsed.blocks.items():
        if name in FIGURE_NAMES:
            diags.error(block.pos, "E209", f"block `{name}` has the name of a figure archc draws "
                                           f"for every network ({', '.join(FIGURE_NAMES)})",
                        f"blocks.{name}")
        if name == network_class:
            diags.error(block.pos, "E209", f"block `{name}` has the name of the network's class "
                                           f"(from `name: {spec.name}`)", f"blocks.{name}")
        elif name == deploy_class:
            diags.error(block.pos, "E209", f"block `{name}` has the name of the network's class "
                                           f"in its deploy module (from `name: {spec.name}`)",
                        f"blocks.{name}")
        for param in block.params:
            if param in parsed.blocks:
                diags.error(block.at("params"), "E209", f"parameter `{param}` has the name of a "
                                                        "block", f"blocks.{name}.params")
    _check_recursion(defs, diags)
    names: dict[str, Pos | None] = {}  # body and head are attributes of one class
    params = ("num_classes",)
    settings = spec.settings
    body = _Builder(ir.BODY, parsed.blocks, params, names, diags, settings).build(spec.layers,
                                                                                  "layers")
    head = _Builder(ir.HEAD, parsed.blocks, params, names, diags, settings).build(spec.head,
                                                                                  "head")
    if diags:
        return None
    used = {name: defs[name] for name in _used_blocks(defs, body, head)}
    if spec.drop_path_rate and not any(
            ir.node(g, n).op.uses_drop_path_rate
            for g in (body, head, *(d.graph for d in used.values())) for n in g):
        diags.error(spec.at("drop_path_rate"), "E414", "drop_path_rate is set, but no step drops "
                                                       "a path: insert `drop_path` steps in the "
                                                       "residual blocks' layers",
                    "drop_path_rate")
    if diags:
        return None
    return ir.Network(
        name=spec.name,
        source=parsed.path,
        sources=parsed.files,
        input_shape=spec.input.shape,
        mean=spec.input.normalisation[0],
        std=spec.input.normalisation[1],
        num_classes=spec.num_classes,
        blocks=MappingProxyType(used),
        body=body,
        head=head,
        drop_path_rate=spec.drop_path_rate,
        resize=spec.input.resize,
        interpolation=spec.input.interpolation,
    )


def _block_def(name: str, block: schema.BlockDef, known, diags: Diagnostics,
               settings: schema.Settings) -> ir.BlockDef:
    key = f"blocks.{name}"
    params = tuple(block.params)  # unique: parsing refused duplicates (E306)
    builder = _Builder(name, known, params, {}, diags, settings, in_block=True)
    if block.residual is not None and block.gate:
        diags.error(block.at("gate"), "E413", "a block is a residual block or a gate, not both: "
                                              "put the gate in a block of its own and use it in "
                                              "the residual block's layers", f"{key}.gate")
    sequential = isinstance(block.layers, schema.Sequence)
    if sequential and (block.residual is not None or block.gate):
        diags.error(block.at("residual" if block.residual is not None else "gate"), "E418",
                    "a block of unnamed layers is an nn.Sequential, which runs them one after "
                    "another: a residual sum or a gate needs named layers (`- conv: ...`)", key)
    graph = builder.build(block.layers.root, f"{key}.layers", sequential=True) if sequential \
        else builder.build(block.layers, f"{key}.layers", residual=block.residual,
                           residual_key=f"{key}.residual", gate=block.gate)
    for param, value in block.defaults.items():
        if param not in params:
            diags.error(block.at("defaults"), "E403", f"a default for `{param}`, which is not a "
                                                      f"parameter (parameters: "
                                                      f"{listing(params) or 'none'})",
                        f"{key}.defaults.{param}")
        elif not isinstance(value, str) and ex.symbols(value):
            diags.error(block.at("defaults"), "E401", f"the default of `{param}` must be a "
                                                      "number or an activation, not an "
                                                      "expression", f"{key}.defaults.{param}")
    defaults = tuple((p, block.defaults[p]) for p in params if p in block.defaults)
    return ir.BlockDef(name, params, graph, block.pos, block.residual is not None,
                       block.title or name, defaults, sequential)


def _calls(graph: nx.DiGraph):
    for node in graph:
        op = ir.node(graph, node).op
        if op.opcode == "call":
            yield op, ir.node(graph, node).pos


def _check_recursion(defs: dict[str, ir.BlockDef], diags: Diagnostics) -> None:
    """One cycle of each group of blocks that contain each other (enumerating every cycle
    would cost exponential time), then blocks nested deeper than MAX_BLOCK_DEPTH."""
    uses = nx.DiGraph()
    for name, block in defs.items():
        uses.add_node(name)
        for call, pos in _calls(block.graph):
            if call.block in defs:
                uses.add_edge(name, call.block, pos=pos)
    cyclic = False
    for group in nx.strongly_connected_components(uses):
        start = min(group)
        if len(group) == 1 and not uses.has_edge(start, start):
            continue
        cyclic = True
        next_block = min(v for v in uses.successors(start) if v in group)
        cycle = [start] + nx.shortest_path(uses.subgraph(group), next_block, start)[:-1]
        path = " -> ".join(cycle + [start])
        diags.error(uses.edges[start, next_block]["pos"], "E408",
                    f"block `{start}` contains itself: {path}", f"blocks.{start}")
    if cyclic:
        return
    depth: dict[str, int] = {}  # the blocks nested inside a block, itself included
    for name in reversed(list(nx.topological_sort(uses))):
        depth[name] = 1 + max((depth[callee] for callee in uses.successors(name)), default=0)
        if depth[name] > MAX_BLOCK_DEPTH:
            chain = [name]
            while depth[chain[-1]] > 1:
                chain.append(max(uses.successors(chain[-1]), key=depth.__getitem__))
            diags.error(defs[name].pos, "E411", f"blocks nested more than {MAX_BLOCK_DEPTH} "
                                                f"deep: {shown_chain(chain)}", f"blocks.{name}")
            return


def _used_blocks(defs: dict[str, ir.BlockDef], *graphs: nx.DiGraph) -> list[str]:
    """Blocks reachable from the network, each after the blocks it uses."""
    order: list[str] = []

    def visit(graph):
        for call, _ in _calls(graph):
            if call.block not in order:
                visit(defs[call.block].graph)
                order.append(call.block)

    for graph in graphs:
        visit(graph)
    return order


class _Builder:
    """Builds the graph of one module (a block definition, the network body or its head)."""

    def __init__(self, name: str, blocks, params: tuple[str, ...], names: dict,
                 diags: Diagnostics, settings: schema.Settings, in_block: bool = False):
        self.blocks = blocks
        self.in_block = in_block  # a block's class also has self.scale and self.act
        self.params = params
        self.settings = settings
        self.names = names
        self.diags = diags
        self.is_sequential = False  # the block's class is an nn.Sequential of its layers
        self.g = nx.DiGraph(name=name)
        self.g.add_node("input", node=ir.Node(ir.Input()))
        self.g.graph["input"] = "input"

    def build(self, steps, key: str, residual: schema.Residual | None = None,
              residual_key: str = "", gate: bool = False, sequential: bool = False) -> nx.DiGraph:
        self.is_sequential = sequential
        last = self.sequential((), steps, "input", key, ()) if sequential else \
            self.chain(steps, "input", key, ())
        if gate:
            last = self.add("gate", Gate(), steps[-1].pos, (), (), ["input", last], key)
        if residual is not None:
            last = self.residual(residual, last, residual_key)
        self.g.graph["output"] = last
        return nx.freeze(self.g)

    def residual(self, residual: schema.Residual, last: str, key: str) -> str:
        """The sum of the block's layers (ending in `last`) and its shortcut."""
        shortcut, steps = "input", residual.shortcut
        projection = isinstance(steps, schema.Projection)
        if projection:
            steps = steps.layers
            if len(steps) > 1 or not isinstance(steps[0], schema.Named):
                self.diags.error(residual.shortcut.pos, "E416", "a shortcut with `when` is one "
                                 "named step (`downsample: [conv 1x1 out /stride, bn]`): generated "
                                 "code builds it, or not, by its name", f"{key}.shortcut")
        if steps is not None:
            before = set(self.g)
            shortcut = self.chain(steps, "input", key + ".shortcut", ("shortcut",))
            if projection:
                self.condition(set(self.g) - before, residual.shortcut.when,
                               residual.shortcut.at("when"), f"{key}.shortcut.when")
        op = ir.Add(self.expr(residual.scale, residual.at("scale"), key + ".scale"),
                    self.activation(residual.activation or self.residual_activation(),
                                    residual.at("activation"), key + ".activation"))
        add = self.add("add", op, residual.pos, (), (), [shortcut, last], key)
        if residual.when is not None:
            if steps is not None:
                self.diags.error(residual.at("when"), "E416", "a residual with `when` adds the "
                                 "block's input itself: it has no shortcut (a shortcut with a "
                                 "condition of its own is `shortcut: {when: ..., layers: "
                                 "[...]}`)", f"{key}.when")
            # A drop path drops the residual branch: where there is no sum, there is none.
            drops = {n for n in self.g if ir.node(self.g, n).op.uses_drop_path_rate}
            self.condition({add} | drops, residual.when, residual.at("when"), f"{key}.when")
        return add

    def condition(self, nodes: set[str], when, pos, key: str) -> None:
        """Makes steps present only where `when` holds."""
        when = self.expr(when, pos, key)
        for n in nodes:
            ir.update(self.g, n, when=when)

    # ------------------------------------------------------------------------------- nodes

    def add(self, base: str, op, pos, paths, branch, inputs: list[str], key: str) -> str:
        node, n = base, 1
        while node in self.g:
            n += 1
            node = f"{base}_{n}"
        self.g.add_node(node, node=ir.Node(op, pos, paths, branch, key))
        for order, source in enumerate(inputs):
            self.g.add_edge(source, node, order=order)
        return node

    def claim(self, name: str, pos: Pos | None, key: str) -> None:
        if self.in_block and name in BLOCK_ATTRIBUTES:
            self.diags.error(pos, "E406", f"`{name}` cannot name a layer: the generated code uses "
                                  f"`self.{name}`", key)
        elif name in self.names:
            first = self.names[name]
            where = f" (first at line {first.line})" if first else ""
            self.diags.error(pos, "E405", f"the name `{name}` is used twice in one module{where}",
                             key)
        else:
            self.names[name] = pos

    # ------------------------------------------------------------------------------- steps

    def chain(self, steps, prev: str, key: str, branch: tuple) -> str:
        """Steps whose names become attributes of the module (no nn.Sequential around them)."""
        for i, step in enumerate(steps):
            k = f"{key}[{i}]"
            if isinstance(step, schema.Named):
                prev = self.named(step.name, step.value, prev, f"{k}.{step.name}", branch)
            elif isinstance(step, schema.Concat):
                prev = self.concat(step, prev, f"{k}.concat", branch)
            elif not isinstance(step, schema.Sequence):  # in a group reported for mixing
                prev = self.layer(step, prev, k, branch, ())  # named and unnamed steps
        return prev

    def named(self, name: str, value, prev: str, key: str, branch: tuple) -> str:
        if isinstance(value, list):
            return self.group(name, value, prev, key, branch)
        if isinstance(value, schema.SequentialGroup):
            self.claim(name, value.pos, key)
            return self.sequential((name,), value.layers, prev, f"{key}.layers", branch,
                                   named=True)
        self.claim(name, value.pos, key)
        # `N x Block` is an nn.Sequential numbered 0 .. N-1 at any N, 1 included, so that
        # checkpoints carry across depths; a block written without a count is a module.
        if isinstance(value, schema.Block) and "repeat" in value.model_fields_set:
            paths = tuple((name, i) for i in range(value.repeat)) \
                if ex.is_number(value.repeat) else ((name, 0),)  # as many as an instance has
        else:
            paths = ((name,),)
        return self.layer(value, prev, key, branch, paths)

    def group(self, name: str, steps: list, prev: str, key: str, branch: tuple) -> str:
        unnamed = [isinstance(step, _UNNAMED) for step in steps]
        if not any(unnamed):
            # The names inside become attributes; the group's name names its output in code.
            self.claim(name, steps[0].pos, key)
            return self.chain(steps, prev, key, branch)
        if not all(unnamed):
            first = next(s for s, u in zip(steps, unnamed) if not u)
            self.diags.error(getattr(first, "pos", None) or steps[0].pos, "E407",
                             f"`{name}` mixes named and unnamed steps: name every layer (each "
                             "becomes an attribute) or none (an nn.Sequential)", key)
            return self.chain(steps, prev, key, branch)
        self.claim(name, steps[0].pos, key)
        return self.sequential((name,), steps, prev, key, branch)

    def sequential(self, path: tuple, steps: list, prev: str, key: str, branch: tuple,
                   named: bool = False) -> str:
        """The members of an nn.Sequential at `path`, numbered in order: repeats continue the
        numbering, a list is an nn.Sequential inside it (torchvision's `features.2.0`). The
        members of a `type: sequential` group (`named`) may have names of their own; an unnamed
        one is named by its number, a name like the others (`features.7`), so that a deploy
        pass that folds a member away leaves it where its name says."""
        index = 0
        taken: dict[str, Pos | None] = {}
        counted = None  # (step, key) of a repeat before, whose count is an expression
        for i, step in enumerate(steps):
            name = step.name if isinstance(step, schema.Member) else None
            value = step.value if name is not None else step
            k = f"{key}[{i}]" + (f".{name}" if name is not None else "")
            if counted is not None:
                step_, key_ = counted
                group = f"`{ir.dotted(path)}`" if path else f"block `{ir.name_of(self.g)}`"
                self.diags.error(step_.pos, "E417", f"`{step_.repeat_text}` has as many members "
                                 f"as an instance gives it, so no step can follow it in {group}: "
                                 "make it the group's last step, or give the repeat a name of "
                                 "its own (`blocks: depth x Block`)", key_)
                counted = None
            if isinstance(value, schema.Block) and name is None and \
                    not ex.is_number(value.repeat):
                counted = value, k
            own = name if name is not None else str(index) if named else index
            if isinstance(value, (schema.Sequence, list)):  # a numbered nn.Sequential inside
                inner = value.root if isinstance(value, schema.Sequence) else value
                keys = [own]
                if self.unnamed(inner, k):
                    prev = self.sequential((*path, own), inner, prev, k, branch)
            elif isinstance(value, schema.SequentialGroup):  # one with names of its own
                keys = [own]
                prev = self.sequential((*path, own), value.layers, prev, f"{k}.layers", branch,
                                       named=True)
            else:
                keys, paths = self.members(path, name, value, index, named, step.pos, k)
                if not keys:
                    continue
                prev = self.layer(value, prev, k, branch, paths)
            index += len(keys)
            for member in map(str, keys):
                if member in taken:
                    earlier = taken[member]
                    where = f" (first at line {earlier.line})" if earlier else ""
                    self.diags.error(step.pos, "E405", f"the name `{member}` is used twice in "
                                     f"`{ir.dotted(path)}`{where}", k)
                taken[member] = step.pos
        return prev

    def members(self, path: tuple, name: str | None, value, index: int, named: bool, pos,
                key: str) -> tuple[list, tuple]:
        """The names a layer or a repeat takes in the nn.Sequential at `path` (one per module),
        and its modules' paths: numbers from `index` for an unnamed one (as strings in a group
        with names of its own), its name, the names `{N}` makes, or an nn.Sequential of its own
        for a named repeat. No names where a `{N}` names no repeat."""
        repeat = isinstance(value, schema.Block) and "repeat" in value.model_fields_set
        count = value.repeat if isinstance(value, schema.Block) else 1
        template = re.fullmatch(r"(.*)\{(\d+)\}(.*)", name or "")
        if template:
            if not repeat:
                self.diags.error(pos, "E209", f"`{name}`: {{N}} in a name numbers the "
                                 "instances of a repeat (`N x Block`), and this is not one", key)
                return [], ()
            if not ex.is_number(count):
                self.diags.error(pos, "E417", f"`{name}`: {{N}} names each instance of a "
                                 "repeat, whose count here only an instance knows: write the "
                                 "count as a number", key)
                return [], ()
            prefix, first, suffix = template.groups()
            keys = [f"{prefix}{int(first) + j}{suffix}" for j in range(count)]
        elif name is not None and repeat:  # an nn.Sequential `name` of the repeats
            return [name], tuple((*path, name, j) for j in range(count)) \
                if ex.is_number(count) else ((*path, name, 0),)
        elif not ex.is_number(count) and named:
            self.diags.error(pos, "E417", f"`{value.repeat_text}` in a group whose members have "
                             "names of their own: name the repeat, an nn.Sequential of its own "
                             "(`blocks: depth x Block`)", key)
            return [], ()
        elif not ex.is_number(count):  # the group's last members, as many as an instance has
            return [index], ((*path, index),)
        elif name is not None:
            keys = [name]
        else:
            keys = [str(n) if named else n for n in range(index, index + count)]
        return keys, tuple((*path, member) for member in keys)

    def unnamed(self, steps: list, key: str) -> bool:
        """Whether a list inside an nn.Sequential names none of its steps (it numbers them)."""
        named = next((s for s in steps if not isinstance(s, _UNNAMED)), None)
        if named is not None:
            self.diags.error(named.pos or steps[0].pos, "E407", "a list inside an nn.Sequential "
                             "numbers its layers: name none of them", key)
        return named is None

    def concat(self, step: schema.Concat, prev: str, key: str, branch: tuple) -> str:
        outputs = [self.named(name, value, prev, f"{key}.{name}", branch + (name,))
                   for name, value in step.concat.items()]
        return self.add("concat", ir.Concat(), step.pos, (), branch, outputs, key)

    def layer(self, step, prev: str, key: str, branch: tuple, paths: tuple) -> str:
        op = self.op(step, key)
        base = ".".join(str(p) for p in paths[0]) if paths else key
        if not op.module:  # a step without a module (a range of channels): its name names its
            if paths and (len(paths[0]) > 1 or self.is_sequential):  # value in forward
                group = f"`{paths[0][0]}`" if len(paths[0]) > 1 else \
                    f"that block `{ir.name_of(self.g)}` is"
                self.diags.error(step.pos, "E415", f"{op.describe()} has no module, so it cannot "
                                                   f"be a member of the nn.Sequential {group}: "
                                                   "give it a name of its own before the group",
                                 key)
            paths = ()
        return self.add(base, op, step.pos, paths, branch, [prev], key)

    # ------------------------------------------------------------------------------ layers

    def op(self, step, key: str) -> ir.Op:
        """A layer's op, by its kind's own elaboration (archc/ops/); a block instance's call."""
        kind = OP_OF_MODEL.get(type(step))
        return self.block_call(step, key) if kind is None else kind.from_spec(step, self, key)

    def batchnorm(self, eps: float | None = None, momentum: float | None = None) -> ir.BatchNorm:
        settings = self.settings.batchnorm
        return ir.BatchNorm(settings.eps if eps is None else eps,
                            settings.momentum if momentum is None else momentum)

    def window(self, step, key: str):
        """A conv's or pool's kernel, stride and padding per side, as expressions."""
        kernel = tuple(self.expr(k, step.at("kernel"), key + ".kernel") for k in step.kernel)
        stride = self.expr(step.stride, step.at("stride"), key + ".stride")
        if step.padding == "same":
            if any(ex.is_number(k) and k % 2 == 0 for k in kernel):
                self.diags.error(step.pos, "E409", f"same padding needs odd kernel sides, got "
                                           f"{kernel[0]}x{kernel[1]}: use V (valid) or an "
                                           "odd size", key)
            padding = same_padding(kernel)
        elif step.padding == "valid":
            padding = ((0, 0), (0, 0))
        else:
            ph, pw = (self.expr(p, step.at("padding"), key + ".padding") for p in step.padding)
            padding = ((ph, ph), (pw, pw))
        return kernel, (stride, stride), padding

    def block_call(self, step: schema.Block, key: str) -> ir.BlockCall:
        definition = self.blocks.get(step.block)
        if definition is None:
            close = self.diags.close_match(step.block, self.blocks)
            hint = f" (did you mean `{close}`?)" if close else \
                (f" (defined: {listing(self.blocks, quote=False)})" if self.blocks
                 else " (no blocks defined)")
            self.diags.error(step.pos, "E402", f"unknown block `{step.block}`{hint}", key)
            return ir.BlockCall(step.block, (), step.repeat)
        params = tuple(definition.params)
        for name in step.args:
            if name not in params:
                known = listing(params) or "none"
                self.diags.error(step.pos, "E403",
                                 f"block `{step.block}` has no parameter `{name}` "
                                           f"(its parameters: {known})", key)
        missing = [p for p in params if p not in step.args and p not in definition.defaults]
        if missing:
            self.diags.error(step.pos, "E404", f"block `{step.block}` needs "
                                       f"{', '.join(f'`{p}`' for p in missing)}", key)
        given = {**definition.defaults, **step.args}  # every argument, defaults written in
        args = tuple((p, self.argument(given[p], step.pos, f"{key}.{p}"))
                     for p in params if p in given)
        return ir.BlockCall(step.block, args, self.repeat_count(step, key))

    def repeat_count(self, step: schema.Block, key: str):
        """A repeat count: a number, or an expression of the parameters in scope, not of the
        input channels (an instance's modules are counted before its shapes are known)."""
        if not self.in_block and not ex.is_number(step.repeat):
            self.diags.error(step.pos, "E417", f"the repeat count `{step.repeat_text}` is an "
                             "expression outside a block definition, where no parameter gives "
                             "it a value: write a number", f"{key}.repeat")
            return 1
        if "in" in ex.symbols(step.repeat):
            self.diags.error(step.pos, "E417", f"the repeat count `{step.repeat_text}` reads "
                             "`in`, the input's channels: a count is a number or an expression "
                             "of the parameters", f"{key}.repeat")
            return 1
        return self.expr(step.repeat, step.pos, f"{key}.repeat")

    def argument(self, value, pos, key: str):
        if isinstance(value, str):  # an activation's name
            return value
        return self.expr(value, pos, key)

    def residual_activation(self) -> str:
        """A residual sum's activation where its block names none: the settings' activation of
        every conv (`settings: {conv: {activation: silu}}` means SiLU everywhere), or ReLU where
        that is `none` (convs written linear, their activations separate layers)."""
        default = self.settings.conv.activation
        return "relu" if default == "none" else default

    def activation(self, value: str, pos, key: str):
        """An activation's name, or a parameter that will name one (a Sym)."""
        if value in ir.ACTIVATIONS:
            return value
        if self.in_block and value in self.params:  # `num_classes` is a number
            return ex.Sym(value)
        # Only a block's parameters can name an activation (`num_classes` is a number).
        params = self.params if self.in_block else ()
        close = close_word(value, (*ir.ACTIVATIONS, *params)) \
            if len(self.diags.items) < MAX_HINTED else None
        hint = f"did you mean `{close}`? " if close else ""
        self.diags.error(pos, "E410", f"unknown activation `{value}` ({hint}use "
                                      f"{', '.join(ir.ACTIVATIONS)} or a parameter; parameters "
                                      f"here: {listing(params) or 'none'})", key)
        return value

    def expr(self, value, pos, key: str):
        """A number or an expression whose names are parameters in scope."""
        scope = set(self.params) | ({"in"} if self.in_block else set())
        for name in sorted(ex.symbols(value) - scope):
            hint = " (`in`, a block's input channels, exists only inside blocks)" \
                if name == "in" else ""
            self.diags.error(pos, "E401", f"unknown parameter `{name}` (parameters here: "
                                          f"{self.known_params()}){hint}", key)
        return value

    def known_params(self) -> str:
        return listing(self.params) or "none"
