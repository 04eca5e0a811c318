"""IR -> paper-style diagrams (graphviz): one figure per block definition, one network overview.

Block figures follow the paper's Figures 3-20: data flows bottom to top from a "Previous layer"
box, branches stand side by side in their concat order and meet in a "Filter concat" box;
residual blocks draw the shortcut, the scaling, the "+" and the activation. The overview follows
Figures 9 and 15: Input, Stem, the blocks with their repeats, the head, with each stage's output
shape (height x width x channels, as the paper writes it) beside it.
"""

from __future__ import annotations

from dataclasses import dataclass

import graphviz
import networkx as nx

from ...activations import ACTIVATION_CLASSES
from ...ir import expr as ex
from ...ir import graph as ir
from ...ir.graph import Shapes
from ...ir.walk import Walker
from ...ops import same_padding

# The figures of the whole network, beside one per block: block names may not take these.
STEM, OVERVIEW = "stem", "overview"
FIGURE_NAMES = (STEM, OVERVIEW)
FONT = "Helvetica"
_GRAPH = {"rankdir": "BT", "nodesep": "0.25", "ranksep": "0.3", "fontname": FONT}
_NODE = {"shape": "box", "style": "rounded,filled", "fillcolor": "white", "fontname": FONT,
         "fontsize": "11", "height": "0.3"}
_EDGE = {"arrowsize": "0.6", "fontname": FONT, "fontsize": "9"}
FILL = {"conv": "#dbe9f6", "linear": "#f6e3c8", "pool": "#e4f2de", "block": "#efe2f3",
        "io": "#eeeeee"}


def paper_shape(shape: tuple | None) -> str:
    """(C, H, W) -> `35x35x384`, as the paper writes shapes."""
    if shape is None:
        return "?"
    if len(shape) == 1:
        return str(shape[0])
    c, h, w = shape
    return f"{h}x{w}x{c}"


def _value(value, args: dict) -> str:
    """A number, or a parameter shown as the paper does with its value: `n=384`; with the values
    of all instances where they differ: `scale=0.2 or 1.0`; an expression as written: `4 * w`."""
    name = value.name if isinstance(value, ex.Sym) else value
    if isinstance(name, str) and name in args:
        return f"{name}={' or '.join(str(v) for v in args[name])}"
    return name if isinstance(name, str) else ex.to_text(value)


# Activations as the paper names them (Figures 16-20: "Relu activation"); the others by their
# torch class (`SiLU activation`).
_ACTIVATION_NAMES = {**ACTIVATION_CLASSES, "relu": "Relu"}


def activation_label(value, args: dict) -> str:
    """The box of an activation, a residual block's after its sum or a layer of its own, in
    one style: `Relu activation`, `SiLU activation`; a parameter whose instances give it one
    activation is that one, else shown with its values: `Activation (activation=relu or
    none)`."""
    name = value.name if isinstance(value, ex.Sym) else value
    values = args.get(name, [name]) if isinstance(name, str) else [value]
    if len(values) == 1 and values[0] in _ACTIVATION_NAMES:
        return f"{_ACTIVATION_NAMES[values[0]]} activation"
    return f"Activation ({_value(value, args)})"


def _arguments(instances) -> dict[str, list]:
    """Each parameter's distinct values over a block's instances, in first-use order."""
    values: dict[str, list] = {}
    for instance in instances:
        for name, value in instance.args:
            if value not in values.setdefault(name, []):
                values[name].append(value)
    return values


def _window(op, args: dict) -> list[str]:
    details = []
    if op.stride != (1, 1):
        stride = op.stride[0] if op.stride[0] == op.stride[1] else op.stride
        shown = _value(stride, args)  # a parameter named stride is shown as `stride=2`
        details.append(shown if shown.startswith("stride=") else f"stride {shown}")
    if op.padding == ((0, 0), (0, 0)) and op.kernel != (1, 1):
        details.append("V")
    elif op.padding != same_padding(op.kernel):
        details.append(f"pad {_value(op.padding[0][0], args)}")
    return details


def _kernel(op) -> str:
    return "x".join(_value(k, {}) for k in op.kernel)


class _Labels:
    """What an op's `label` rule asks of the figures: values as the paper shows them."""

    def __init__(self, args: dict, blocks):
        self.args, self.blocks = args, blocks

    def value(self, value) -> str:
        return _value(value, self.args)

    def window(self, op) -> list[str]:
        return _window(op, self.args)

    @staticmethod
    def kernel(op) -> str:
        return _kernel(op)

    def activation(self, value) -> str:
        return activation_label(value, self.args)


def label(op: ir.Op, args: dict, blocks) -> str:
    """A box as the paper labels it: `3x3 Conv (384 stride 2 V)`, `1x1 Conv (1154 Linear)`."""
    return op.label(_Labels(args, blocks))


def _fill(op: ir.Op) -> str:
    return FILL.get(op.fill(), "white")


class _Figure:
    """Builds one dot graph with stable, readable node ids."""

    def __init__(self, name: str, title: str):
        self.dot = graphviz.Digraph(name, graph_attr={**_GRAPH, "label": title, "labelloc": "t",
                                                       "fontsize": "13", "ordering": "in"},
                                    node_attr=_NODE, edge_attr=_EDGE)
        self.count = 0

    def node(self, text: str, **attrs) -> str:
        node_id = f"n{self.count}"
        self.count += 1
        self.dot.node(node_id, text, **attrs)
        return node_id

    def edge(self, a: str, b: str, shape: str = "", **attrs) -> None:
        self.dot.edge(a, b, label=f" {shape} " if shape else None, **attrs)


def block_figure(network: ir.Network, name: str, with_shapes: bool = False) -> graphviz.Digraph:
    """The figure of one block definition, its parameters shown with their values."""
    definition = network.blocks[name]
    by_key = network.shapes.instances_of(name)
    keys, instances = list(by_key), list(by_key.values())
    args = _arguments(instances)
    args["in"] = list(dict.fromkeys(key[2][0] for key in keys))  # its input channels
    shapes = instances[0].shapes if with_shapes and instances else {}
    title = definition.title if definition.title == name else f"{definition.title} ({name})"
    figure = _Figure(name, title)
    entry = figure.node("Previous layer", fillcolor=FILL["io"])
    _draw(figure, definition.graph, args, network, entry, shapes, calls=None)
    return figure.dot


def stem_figure(network: ir.Network, with_shapes: bool = False) -> graphviz.Digraph | None:
    """Figures 3 and 14: the layers before the first repeated block, blocks drawn inline."""
    stem = _stem(network)
    if not stem:
        return None
    g = network.body.subgraph(["input", *stem])
    figure = _Figure(f"{network.name}_stem", f"Stem ({network.name})")
    c, h, w = network.input_shape
    entry = figure.node(f"Input ({h}x{w}x{c})", fillcolor=FILL["io"])
    shapes = network.shapes.body if with_shapes else {}
    _draw(figure, g, {}, network, entry, shapes, calls=network.shapes.of(ir.BODY).calls)
    return figure.dot


def _draw(figure: _Figure, g: nx.DiGraph, args: dict, network: ir.Network, entry: str, shapes,
          calls) -> str:
    """Draws a graph whose input is the figure's node `entry`; returns the id of its output.
    With `calls` (the block instances each block call ran), blocks are drawn inline, layer by
    layer, with their own arguments and shapes."""
    values = _Drawing(figure, network).graph(g, [(entry, _shape_label(shapes, "input"))],
                                             _Frame(args, shapes, calls))
    out = g.graph["output"] if g.graph["output"] in values else list(g)[-1]
    return values[out][-1][0]


@dataclass(frozen=True)
class _Frame:
    args: dict  # each parameter's values, shown beside it
    shapes: dict  # node -> output shape, shown on edges; empty for none
    calls: dict | None  # node -> the instances it ran, to draw them inline; None: as boxes
    absent: frozenset = frozenset()  # in an instance drawn inline: its steps left out


class _Drawing(Walker):
    """Draws each step; a step's value is what its readers draw edges from: (figure node, edge
    label) of each drawn step whose output it passes on (one, but for a concat that is not
    drawn)."""

    def __init__(self, figure: _Figure, network: ir.Network):
        self.figure = figure
        self.network = network

    def call(self, g, name, node, inputs, frame):
        if frame.calls is None or node.op.repeat != 1:
            return self.op(g, name, node, inputs, frame)
        instance = self.network.shapes.instances[frame.calls[name][0]]
        inner = {"in": [instance.shapes["input"][0]],
                 **{param: [value] for param, value in instance.args}}
        block = self.network.blocks[node.op.block].graph
        (source,) = inputs[0]
        values = self.graph(block, [source], _Frame(inner, instance.shapes if frame.shapes
                                                    else {}, instance.calls, instance.absent))
        return [(values[block.graph["output"]][-1][0], _shape_label(frame.shapes, name))]

    def present(self, g, name, node, frame):
        return name not in frame.absent

    def op(self, g, name, node, inputs, frame):
        sources = [source for value in inputs for source in value]
        return node.op.draw(_Pen(self.figure, self.network, frame, g, name), sources)


class _Pen(_Labels):
    """What an op's `draw` rule may ask while its step is drawn: values and activations as the
    labels show them, boxes and edges."""

    def __init__(self, figure: _Figure, network: ir.Network, frame: _Frame, g: nx.DiGraph,
                 name: str):
        super().__init__(frame.args, network.blocks)
        self.figure, self.network, self.frame, self.g, self.name = figure, network, frame, g, name

    @property
    def shape(self) -> str:
        """The step's output shape, as its edges are labelled."""
        return _shape_label(self.frame.shapes, self.name)

    def readers(self) -> list[ir.Op]:
        return [ir.node(self.g, n).op for n in self.g.successors(self.name)]

    def box(self, op: ir.Op) -> str:
        """The step's box, as the paper labels it."""
        if len(self.args.get("in", ())) == 1:  # `in` is that number in every instance
            op = ir.bind(op, {"in": self.args["in"][0]})
        return self.node(label(op, self.args, self.network.blocks), fillcolor=_fill(op))

    def node(self, text: str, fill: str | None = None, **attrs) -> str:
        """A box (or, with attrs, another shape) filled as FILL[fill] says, if fill is given.
        A step with a condition, in a block's figure, is dashed and says where it is made."""
        if fill is not None:
            attrs["fillcolor"] = FILL.get(fill, "white")
        when = ir.node(self.g, self.name).when
        if when is not None and self.frame.calls is None:
            where = f"where {ex.to_text(when)}"
            attrs["style"] = "rounded,filled,dashed"
            if attrs.get("fixedsize") == "true":  # a sum's circle: the words beside it
                attrs["xlabel"] = where
            else:
                text = f"{text}\\n{where}"
        return self.figure.node(text, **attrs)

    def edge(self, a: str, b: str, shape: str = "", **attrs) -> None:
        self.figure.edge(a, b, shape, **attrs)


def _shape_label(shapes: dict, node: str) -> str:
    return paper_shape(shapes[node]) if shapes else ""


def overview_figure(network: ir.Network) -> graphviz.Digraph:
    """Figures 9 and 15: the network as a column of stages, each with its output shape.

    The layers before the first repeated block are drawn as one "Stem" box, as the paper does.
    The shapes stand in a column of their own, right of the widest box, each on its stage's
    rank: invisible edges chain them in one `group`, which dot keeps straight.
    """
    shapes: Shapes = network.shapes
    stages = _stages(network)
    figure = _Figure(f"{network.name}_overview", network.name)
    c, h, w = network.input_shape
    previous = figure.node(f"Input ({h}x{w}x{c})", fillcolor=FILL["io"], group="stages")
    above = None  # the shape beside the stage below
    for text, fill, out_shape in stages:
        stage = figure.node(text, fillcolor=fill, width="2.2", group="stages")
        figure.edge(previous, stage)
        beside = figure.node(paper_shape(out_shape), shape="plaintext", style="",
                             fontsize="10", group="shapes")
        with figure.dot.subgraph() as same:
            same.attr(rank="same")
            same.node(stage)
            same.node(beside)
        figure.edge(stage, beside, style="invis")
        if above is not None:
            figure.edge(above, beside, style="invis", weight="100")
        previous, above = stage, beside
    if len(network.head) > 1 and len(shapes.head[network.head.graph["output"]]) == 1:
        output = figure.node("Softmax", fillcolor=FILL["io"], group="stages")
        figure.edge(previous, output)
    return figure.dot


def _stem(network: ir.Network) -> list[str]:
    """The body's nodes before its first repeated block (none if it starts with one)."""
    body = [n for n in ir.topological(network.body)
            if ir.node(network.body, n).op.opcode != "input"]
    for i, node in enumerate(body):
        op = ir.node(network.body, node).op
        if op.opcode == "call" and op.repeat > 1:
            return body[:i]
    return []


def _stages(network: ir.Network) -> list[tuple[str, str, tuple]]:
    """(label, fill, output shape) of each box of the overview."""
    shapes = network.shapes
    stem = _stem(network)
    stages = [("Stem", FILL["block"], shapes.body[stem[-1]])] if stem else []
    for node in ir.topological(network.body):
        op = ir.node(network.body, node).op
        if node not in stem and op.opcode != "input":
            stages.append((_stage_label(op, network), _fill(op), shapes.body[node]))
    for node in ir.topological(network.head):
        op = ir.bind(ir.node(network.head, node).op, {"num_classes": network.num_classes})
        if op.opcode != "input":
            stages.append((label(op, {}, network.blocks), _fill(op), shapes.head[node]))
    return stages


def _stage_label(op: ir.Op, network: ir.Network) -> str:
    """A stage of the overview as the paper labels it; a block stage with its arguments as the
    generated code's call writes them (those equal to the block's defaults left out), so that
    a widened variant does not look like its base: `10 x Inception-ResNet-A (scale=0.17)`,
    `Reduction-A (k=256, l=256, m=384, n=384)`."""
    text = label(op, {}, network.blocks)
    if op.opcode != "call" or op.block not in network.blocks:
        return text
    defaults = dict(network.blocks[op.block].defaults)
    shown = [f"{name}={_value(value, {})}" for name, value in op.args
             if name not in defaults or _value(value, {}) != _value(defaults[name], {})]
    return f"{text} ({', '.join(shown)})" if shown else text


def figure_names(network: ir.Network) -> list[str]:
    """The figures `figures` draws for a network, by file stem: each block definition's, `stem`
    (where the network has layers before its first repeated block) and `overview`; each is a
    value of `archc render --block`."""
    return [*network.blocks, *([STEM] if _stem(network) else []), OVERVIEW]


def figures(network: ir.Network, block: str | None = None, with_shapes: bool = False) \
        -> dict[str, graphviz.Digraph]:
    """Every figure of a network by file stem: each block definition's, `stem` and
    `overview`; with `block`, only that one (a name of `figure_names`)."""
    if block == OVERVIEW:
        return {OVERVIEW: overview_figure(network)}
    if block == STEM and block not in network.blocks:
        stem = stem_figure(network, with_shapes)
        if stem is None:
            raise KeyError(f"{network.name} has no stem figure (no layers before its first "
                           "repeated block)")
        return {STEM: stem}
    if block is not None:
        return {block: block_figure(network, block, with_shapes)}
    out = {name: block_figure(network, name, with_shapes) for name in network.blocks}
    stem = stem_figure(network, with_shapes)
    if stem is not None:
        out[STEM] = stem
    out[OVERVIEW] = overview_figure(network)
    return out
