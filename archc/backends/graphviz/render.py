"""IR -> paper-style diagrams (graphviz): one figure per block definition, one network overview.

Block figures follow the paper's Figures 3-20: data flows bottom to top from a "Previous layer"
box, branches stand side by side in their concat order and meet in a "Filter concat" box;
residual blocks draw the shortcut, the scaling, the "+" and the activation. The overview follows
Figures 9 and 15: Input, Stem, the blocks with their repeats, the head, with each stage's output
shape (height x width x channels, as the paper writes it) beside it.
"""

from __future__ import annotations

import graphviz
import networkx as nx

from ...ir import expr as ex
from ...ir import graph as ir
from ...ir.graph import Shapes
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
        details.append(f"stride {_value(stride, args)}")
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
    keys = [key for key in network.shapes.instances if key[0] == name]
    instances = [network.shapes.instances[key] for key in keys]
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
    _draw(figure, g, {}, network, entry, shapes, calls=network.shapes.body_calls)
    return figure.dot


def _draw(figure: _Figure, g: nx.DiGraph, args: dict, network: ir.Network, entry: str, shapes,
          calls) -> str:
    """Draws a graph whose input is the figure's node `entry`; returns the id of its output.
    With `calls` (the block instances each block call ran), blocks are drawn inline, layer by
    layer, with their own arguments and shapes."""
    def shape_of(node):
        return paper_shape(shapes[node]) if shapes else ""

    # A concat feeding another concat (a branch that splits, as in Inception-C) is not drawn:
    # the paper joins the split layers straight into the block's filter concat.
    def drawn(node):
        op = ir.node(g, node).op
        outs = list(g.successors(node))
        return not (isinstance(op, ir.Concat) and len(outs) == 1
                    and isinstance(ir.node(g, outs[0]).op, ir.Concat))

    def sources(node):
        """The drawn nodes whose outputs reach this node directly, in concat order."""
        out = []
        for u in ir.ordered_inputs(g, node):
            out += [u] if drawn(u) else sources(u)
        return out

    ids = {}
    for node in ir.topological(g):
        op = ir.node(g, node).op
        if isinstance(op, ir.Input):
            ids[node] = entry
        elif not drawn(node):
            continue
        elif isinstance(op, ir.Add):
            ids[node] = _draw_add(figure, op, args, ids[ir.ordered_inputs(g, node)[0]],
                                  ids[ir.ordered_inputs(g, node)[1]],
                                  shape_of(ir.ordered_inputs(g, node)[1]), shape_of(node))
        elif calls is not None and isinstance(op, ir.BlockCall) and op.repeat == 1:
            (source,) = sources(node)
            key = calls[node][0]
            instance = network.shapes.instances[key]
            inner = {"in": [key[2][0]], **{name: [value] for name, value in instance.args}}
            ids[node] = _draw(figure, network.blocks[op.block].graph, inner, network,
                              ids[source], instance.shapes if shapes else {}, instance.calls)
        else:
            if len(args.get("in", ())) == 1:  # `in` is that number in every instance
                op = ir.bind(op, {"in": args["in"][0]})
            ids[node] = figure.node(label(op, args, network.blocks), fillcolor=_fill(op))
            for u in sources(node):
                figure.edge(ids[u], ids[node], shape_of(u))
    return ids[g.graph["output"]] if g.graph["output"] in ids else ids[list(g)[-1]]


def _draw_add(figure: _Figure, op: ir.Add, args: dict, shortcut: str, residual: str,
              residual_shape: str, out_shape: str) -> str:
    last = residual
    if op.scale != 1:
        last = figure.node(f"Activation scaling ({_value(op.scale, args)})",
                           fillcolor="white")
        figure.edge(residual, last, residual_shape)
    plus = figure.node("+", shape="circle", width="0.3", fixedsize="true")
    figure.edge(last, plus, residual_shape)
    figure.edge(shortcut, plus, out_shape, style="dashed")
    act = op.act.name if isinstance(op.act, ex.Sym) else op.act
    activations = args.get(act, [act])
    if activations == ["none"]:
        return plus
    text = "Relu activation" if activations == ["relu"] else \
        f"Activation ({_value(op.act, args)})"
    act = figure.node(text, fillcolor=FILL["io"])
    figure.edge(plus, act, out_shape)
    return act


def overview_figure(network: ir.Network) -> graphviz.Digraph:
    """Figures 9 and 15: the network as a column of stages, each with its output shape.

    The layers before the first repeated block are drawn as one "Stem" box, as the paper does.
    """
    shapes: Shapes = network.shapes
    stages = _stages(network)
    figure = _Figure(f"{network.name}_overview", network.name)
    c, h, w = network.input_shape
    previous = figure.node(f"Input ({h}x{w}x{c})", fillcolor=FILL["io"])
    for text, fill, out_shape in stages:
        stage = figure.node(text, fillcolor=fill, width="2.2")
        figure.edge(previous, stage)
        beside = figure.node(paper_shape(out_shape), shape="plaintext",
                             style="", fontsize="10")
        with figure.dot.subgraph() as same:
            same.attr(rank="same")
            same.node(stage)
            same.node(beside)
        figure.edge(stage, beside, style="invis")
        previous = stage
    if len(network.head) > 1 and len(shapes.head[network.head.graph["output"]]) == 1:
        output = figure.node("Softmax", fillcolor=FILL["io"])
        figure.edge(previous, output)
    return figure.dot


def _stem(network: ir.Network) -> list[str]:
    """The body's nodes before its first repeated block (none if it starts with one)."""
    body = [n for n in ir.topological(network.body)
            if not isinstance(ir.node(network.body, n).op, ir.Input)]
    for i, node in enumerate(body):
        op = ir.node(network.body, node).op
        if isinstance(op, ir.BlockCall) and op.repeat > 1:
            return body[:i]
    return []


def _stages(network: ir.Network) -> list[tuple[str, str, tuple]]:
    """(label, fill, output shape) of each box of the overview."""
    shapes = network.shapes
    stem = _stem(network)
    stages = [("Stem", FILL["block"], shapes.body[stem[-1]])] if stem else []
    calls = [ir.node(network.body, n).op for n in network.body
             if isinstance(ir.node(network.body, n).op, ir.BlockCall)]
    for node in ir.topological(network.body):
        op = ir.node(network.body, node).op
        if node not in stem and not isinstance(op, ir.Input):
            text = label(op, {}, network.blocks)
            # A block used with different arguments says which instance is which.
            if len({c.args for c in calls if c.block == getattr(op, "block", None)}) > 1:
                text += f" ({', '.join(f'{k}={_value(v, {})}' for k, v in op.args)})"
            stages.append((text, _fill(op), shapes.body[node]))
    for node in ir.topological(network.head):
        op = ir.node(network.head, node).op
        if isinstance(op, ir.Linear) and op.features == ex.Sym("num_classes"):
            op = ir.Linear(network.num_classes)
        if not isinstance(op, ir.Input):
            stages.append((label(op, {}, network.blocks), _fill(op), shapes.head[node]))
    return stages


def figures(network: ir.Network, block: str | None = None, with_shapes: bool = False) \
        -> dict[str, graphviz.Digraph]:
    """Every figure of a network by file stem: each block definition's, `stem` and
    `overview`."""
    if block is not None:
        return {block: block_figure(network, block, with_shapes)}
    out = {name: block_figure(network, name, with_shapes) for name in network.blocks}
    stem = stem_figure(network, with_shapes)
    if stem is not None:
        out[STEM] = stem
    out[OVERVIEW] = overview_figure(network)
    return out
