"""`archc render`: the paper-style figures (Szegedy et al. 2016, Figures 3-19) box by box.

Every expected figure below is written out by hand from the paper's figures and
docs/reference.md, not from the renderer. The conventions the renderer adds on purpose:

- Branches stand in the spec's concat order (TF-slim / timm), which is not always the paper's
  left-to-right drawing (the paper draws pools first in Figures 4-8 and 18).
- Residual blocks start from "Previous layer" (the paper: "Relu activation") and draw the
  scaling of Figure 20 inside each block: linear 1x1 -> "Activation scaling (scale=...)" -> "+".
- The overviews end in "Linear (1000)" -> "Softmax" (the paper: one "Softmax" box).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import pytest

import archc
from archc.backends.graphviz import figures
from archc.cli import main

from ..conftest import FIXTURES, ROOT

V4 = ROOT / "specs/inception_v4.yaml"
RV1 = ROOT / "specs/inception_resnet_v1.yaml"
RV2 = ROOT / "specs/inception_resnet_v2.yaml"


# --------------------------------------------------------------------------------------------
# A small parser of the dot source that graphviz.Digraph writes

_ATTR = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|[^\s\]]+)')
_NODE = re.compile(r"^\s*(\w+)\s*\[(.*)\]\s*$")
_EDGE = re.compile(r"^\s*(\w+)\s*->\s*(\w+)\s*(?:\[(.*)\])?\s*$")


def _attrs(text: str | None) -> dict[str, str]:
    out = {}
    for key, value in _ATTR.findall(text or ""):
        if value.startswith('"'):
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        out[key] = value
    return out


@dataclass
class Edge:
    tail: str
    head: str
    attrs: dict[str, str]

    @property
    def visible(self) -> bool:
        return self.attrs.get("style") != "invis"


@dataclass
class Dot:
    nodes: dict[str, dict[str, str]] = field(default_factory=dict)  # id -> attributes, in order
    edges: list[Edge] = field(default_factory=list)  # in source order

    def label(self, node: str) -> str:
        return self.nodes[node].get("label", node)

    def visible(self) -> list[Edge]:
        return [e for e in self.edges if e.visible]

    def boxes(self) -> Counter:
        return Counter(self.label(n) for n, a in self.nodes.items()
                       if a.get("shape") != "plaintext")

    def edge_labels(self) -> Counter:
        return Counter((self.label(e.tail), self.label(e.head)) for e in self.visible())

    def into(self, node: str) -> list[str]:
        return [e.tail for e in self.visible() if e.head == node]

    def find(self, text: str) -> list[str]:
        return [n for n in self.nodes if self.label(n) == text]


def parse_dot(source: str) -> Dot:
    dot = Dot()
    for line in source.splitlines():
        if re.match(r"^\s*(graph|node|edge)\s*\[", line) or line.strip() in ("{", "}"):
            continue
        if m := _EDGE.match(line):
            dot.edges.append(Edge(m[1], m[2], _attrs(m[3])))
        elif m := _NODE.match(line):
            dot.nodes.setdefault(m[1], {}).update(_attrs(m[2]))
    for e in dot.edges:
        assert e.tail in dot.nodes and e.head in dot.nodes, f"edge to an undeclared node: {e}"
    return dot


def test_parser_reads_labels_attributes_and_edges_in_order():
    dot = parse_dot(
        'digraph X {\n\tgraph [rankdir=BT]\n\tnode [shape=box]\n'
        '\tn0 [label="Previous layer" fillcolor="#eeeeee"]\n\tn1 [label=Stem width=2.2]\n'
        '\tn2 [label="say \\"hi\\"" shape=plaintext style=""]\n'
        '\tn0 -> n1 [label=" 35x35x3 "]\n\t{\n\t\trank=same\n\t\tn1\n\t}\n'
        '\tn1 -> n2 [style=invis]\n\tn0 -> n2 [style=dashed]\n}\n')
    assert [dot.label(n) for n in dot.nodes] == ["Previous layer", "Stem", 'say "hi"']
    assert dot.nodes["n2"] == {"label": 'say "hi"', "shape": "plaintext", "style": ""}
    assert [(e.tail, e.head) for e in dot.edges] == [("n0", "n1"), ("n1", "n2"), ("n0", "n2")]
    assert dot.edges[0].attrs == {"label": " 35x35x3 "}
    assert [e.attrs.get("style") for e in dot.visible()] == [None, "dashed"]
    assert dot.boxes() == Counter(["Previous layer", "Stem"])


# --------------------------------------------------------------------------------------------
# Expected figures, written from the paper

CONCAT = "Filter concat"
PREV = "Previous layer"
INPUT = "Input (299x299x3)"
MAXPOOL = "3x3 MaxPool (stride 2 V)"
AVG = "Avg Pooling"


class Expected:
    """A figure as the paper draws it: its boxes, its edges, and the inputs of each concat.

    A branch is a label or a list of labels from bottom to top; a tuple as a branch's last item
    splits it into sub-branches that join the block's filter concat directly (Inception-C)."""

    def __init__(self, bottom: str):
        self.boxes = Counter([bottom])
        self.edges: Counter = Counter()
        self.concats: list[list[tuple[str, ...]]] = []  # per concat, its inputs left to right
        self.bottom = bottom

    def chain(self, source: str, labels) -> str:
        for text in [labels] if isinstance(labels, str) else labels:
            self.boxes[text] += 1
            self.edges[(source, text)] += 1
            source = text
        return source

    def concat(self, source: str, *branches) -> str:
        ends, chains = [], []
        for branch in branches:
            branch = [branch] if isinstance(branch, str) else list(branch)
            splits = branch.pop() if isinstance(branch[-1], tuple) else None
            top = self.chain(source, branch)
            for sub in splits or [[]]:
                sub = [sub] if isinstance(sub, str) else list(sub)
                ends.append(self.chain(top, sub))
                chains.append(tuple(branch + sub))
        self.boxes[CONCAT] += 1
        for end in ends:
            self.edges[(end, CONCAT)] += 1
        self.concats.append(chains)
        return CONCAT

    def residual(self, top: str, linear: str, scale: str, activation: str | None) -> None:
        """Figures 10-13 and 16-19 with Figure 20's scaling: ... -> linear 1x1 -> scaling ->
        "+" <- (dashed) the block input; then the activation."""
        last = self.chain(top, [linear, f"Activation scaling ({scale})", "+"])
        self.edges[(self.bottom, last)] += 1
        if activation:
            self.chain("+", activation)


def block(*branches) -> Expected:
    """A block figure whose branches all start at "Previous layer" and meet in one concat."""
    figure = Expected(PREV)
    figure.concat(PREV, *branches)
    return figure


def residual_block(branches, linear: str, scale: str, activation="Relu activation") -> Expected:
    figure = block(*branches)
    figure.residual(CONCAT, linear, scale, activation)
    return figure


def concat_inputs(dot: Dot) -> list[list[tuple[str, ...]]]:
    """Per "Filter concat" (in source order), the branch feeding each of its incoming edges, in
    edge order: the labels from the branch's first box up to the edge's tail. A branch starts
    after the node all the concat's branches start from (a split branch keeps its shared part)."""
    def ancestors(node: str) -> set[str]:
        seen, todo = set(), [node]
        while todo:
            for u in dot.into(todo.pop()):
                if u not in seen:
                    seen.add(u)
                    todo.append(u)
        return seen

    out = []
    for concat in dot.find(CONCAT):
        inputs = dot.into(concat)
        common = set.intersection(*(ancestors(n) | {n} for n in inputs))
        chains = []
        for node in inputs:
            chain = [dot.label(node)]
            while (preds := dot.into(node)) and preds[0] not in common:
                assert len(preds) == 1, f"a branch box with several inputs: {dot.label(node)}"
                node = preds[0]
                chain.append(dot.label(node))
            chains.append(tuple(reversed(chain)))
        out.append(chains)
    return out


@cache
def network(path: Path):
    return archc.compile_spec(str(path))


@cache
def drawn(path: Path, with_shapes: bool = False) -> dict[str, Dot]:
    return {stem: parse_dot(g.source)
            for stem, g in figures(network(path), with_shapes=with_shapes).items()}


def assert_figure(dot: Dot, expected: Expected) -> None:
    assert dot.boxes() == expected.boxes
    assert dot.edge_labels() == expected.edges
    assert concat_inputs(dot) == expected.concats  # left-to-right order = the spec's order


# --------------------------------------------------------------------------------------------
# Inception-v4, Figures 3-8

def _v4_stem() -> Expected:
    """Figure 3 (the paper's "3x3 Conv (192 V)" is stride 2: 71 -> 35, as TF-slim and timm)."""
    f = Expected(INPUT)
    top = f.chain(INPUT, ["3x3 Conv (32 stride 2 V)", "3x3 Conv (32 V)", "3x3 Conv (64)"])
    top = f.concat(top, MAXPOOL, "3x3 Conv (96 stride 2 V)")                     # 73x73x160
    top = f.concat(top, ["1x1 Conv (64)", "3x3 Conv (96 V)"],
                   ["1x1 Conv (64)", "1x7 Conv (64)", "7x1 Conv (64)", "3x3 Conv (96 V)"])
    f.concat(top, "3x3 Conv (192 stride 2 V)", MAXPOOL)                           # 35x35x384
    return f


# Reduction-A (Figure 7) with Table 1's row, parameters shown as the paper names them. The paper
# draws the pool first; the spec (TF-slim, timm) orders conv n, conv k-l-m, pool.
def reduction_a(k, l, m, n) -> Expected:
    return block(f"3x3 Conv (n={n} stride 2 V)",
                 [f"1x1 Conv (k={k})", f"3x3 Conv (l={l})", f"3x3 Conv (m={m} stride 2 V)"],
                 MAXPOOL)


V4_FIGURES = {
    "stem": _v4_stem(),
    # Figure 3's three concats, which the spec defines as blocks
    "Mixed3a": block(MAXPOOL, "3x3 Conv (96 stride 2 V)"),
    "Mixed4a": block(["1x1 Conv (64)", "3x3 Conv (96 V)"],
                     ["1x1 Conv (64)", "1x7 Conv (64)", "7x1 Conv (64)", "3x3 Conv (96 V)"]),
    "Mixed5a": block("3x3 Conv (192 stride 2 V)", MAXPOOL),
    # Figure 4 (the paper draws the pool branch first)
    "InceptionA": block("1x1 Conv (96)",
                        ["1x1 Conv (64)", "3x3 Conv (96)"],
                        ["1x1 Conv (64)", "3x3 Conv (96)", "3x3 Conv (96)"],
                        [AVG, "1x1 Conv (96)"]),
    # Figure 5 (the paper draws the second branch's last conv as "1x7 Conv (256)"; TF-slim, timm
    # and docs/reference.md have 7x1, tensorflow/models#7041)
    "InceptionB": block("1x1 Conv (384)",
                        ["1x1 Conv (192)", "1x7 Conv (224)", "7x1 Conv (256)"],
                        ["1x1 Conv (192)", "7x1 Conv (192)", "1x7 Conv (224)", "7x1 Conv (224)",
                         "1x7 Conv (256)"],
                        [AVG, "1x1 Conv (128)"]),
    # Figure 6: the split branches join the block's filter concat directly
    "InceptionC": block("1x1 Conv (256)",
                        ["1x1 Conv (384)", ("1x3 Conv (256)", "3x1 Conv (256)")],
                        ["1x1 Conv (384)", "3x1 Conv (448)", "1x3 Conv (512)",
                         ("1x3 Conv (256)", "3x1 Conv (256)")],
                        [AVG, "1x1 Conv (256)"]),
    # Figure 7 with Table 1's Inception-v4 row
    "ReductionA": reduction_a(k=192, l=224, m=256, n=384),
    # Figure 8 (the paper draws the pool first)
    "ReductionB": block(["1x1 Conv (192)", "3x3 Conv (192 stride 2 V)"],
                        ["1x1 Conv (256)", "1x7 Conv (256)", "7x1 Conv (320)",
                         "3x3 Conv (320 stride 2 V)"],
                        MAXPOOL),
}


# --------------------------------------------------------------------------------------------
# Inception-ResNet-v1, Figures 10-14

def _stem_chain(labels) -> Expected:
    f = Expected(INPUT)
    f.chain(INPUT, labels)
    return f


STEM_START = ["3x3 Conv (32 stride 2 V)", "3x3 Conv (32 V)", "3x3 Conv (64)", MAXPOOL,
              "1x1 Conv (80)", "3x3 Conv (192 V)"]

V1_FIGURES = {
    # Figure 14
    "stem": _stem_chain([*STEM_START, "3x3 Conv (256 stride 2 V)"]),
    # Figure 10
    "InceptionResNetA": residual_block(
        ["1x1 Conv (32)", ["1x1 Conv (32)", "3x3 Conv (32)"],
         ["1x1 Conv (32)", "3x3 Conv (32)", "3x3 Conv (32)"]],
        "1x1 Conv (256 Linear)", "scale=0.17"),
    # Figure 11 (the spec's scale 0.10 prints as 0.1, 0.20 as 0.2)
    "InceptionResNetB": residual_block(
        ["1x1 Conv (128)", ["1x1 Conv (128)", "1x7 Conv (128)", "7x1 Conv (128)"]],
        "1x1 Conv (896 Linear)", "scale=0.1"),
    # Figure 7 with Table 1's Inception-ResNet-v1 row
    "ReductionA": reduction_a(k=192, l=192, m=256, n=384),
    # Figure 12 (pool first, as the paper draws it)
    "ReductionB": block(MAXPOOL,
                        ["1x1 Conv (256)", "3x3 Conv (384 stride 2 V)"],
                        ["1x1 Conv (256)", "3x3 Conv (256 stride 2 V)"],
                        ["1x1 Conv (256)", "3x3 Conv (256)", "3x3 Conv (256 stride 2 V)"]),
    # Figure 13
    "InceptionResNetC": residual_block(
        ["1x1 Conv (192)", ["1x1 Conv (192)", "1x3 Conv (192)", "3x1 Conv (192)"]],
        "1x1 Conv (1792 Linear)", "scale=0.2"),
}


# --------------------------------------------------------------------------------------------
# Inception-ResNet-v2 as released (docs/reference.md; the paper's Figures 16-19 with the released
# filter counts: 320 not 384, 1088 not 1154, 2080 not 2048, as the spec's comments explain)

def _v2_stem() -> Expected:
    f = Expected(INPUT)
    top = f.chain(INPUT, [*STEM_START, MAXPOOL])
    f.concat(top, *MIXED_5B)
    return f


MIXED_5B = ["1x1 Conv (96)", ["1x1 Conv (48)", "5x5 Conv (64)"],
            ["1x1 Conv (64)", "3x3 Conv (96)", "3x3 Conv (96)"], [AVG, "1x1 Conv (64)"]]

V2_FIGURES = {
    "stem": _v2_stem(),
    "Mixed_5b": block(*MIXED_5B),
    # Figure 16 (1x1 Conv (384 Linear) in the paper, for Figure 3's 384-channel stem)
    "Block35": residual_block(
        ["1x1 Conv (32)", ["1x1 Conv (32)", "3x3 Conv (32)"],
         ["1x1 Conv (32)", "3x3 Conv (48)", "3x3 Conv (64)"]],
        "1x1 Conv (320 Linear)", "scale=0.17"),
    # Figure 7 with Table 1's Inception-ResNet-v2 row
    "ReductionA": reduction_a(k=256, l=256, m=384, n=384),
    # Figure 17 (the paper's 1154 could not be added to its input; here 1088 = the input's)
    "Block17": residual_block(
        ["1x1 Conv (192)", ["1x1 Conv (128)", "1x7 Conv (160)", "7x1 Conv (192)"]],
        "1x1 Conv (1088 Linear)", "scale=0.1"),
    # Figure 18 (the paper draws the pool first; TF-slim and timm put it last)
    "Mixed_7a": block(["1x1 Conv (256)", "3x3 Conv (384 stride 2 V)"],
                      ["1x1 Conv (256)", "3x3 Conv (288 stride 2 V)"],
                      ["1x1 Conv (256)", "3x3 Conv (288)", "3x3 Conv (320 stride 2 V)"],
                      MAXPOOL),
    # Figure 19 (2048 in the paper). Block8 is instantiated with two sets of arguments
    # (9 x scale 0.20 + relu, 1 x scale 1.0 + no activation): the figure shows both values.
    "Block8": residual_block(
        ["1x1 Conv (192)", ["1x1 Conv (192)", "1x3 Conv (224)", "3x1 Conv (256)"]],
        "1x1 Conv (2080 Linear)", "scale=0.2 or 1.0",
        activation="Activation (activation=relu or none)"),
}

ALL_FIGURES = [(V4, V4_FIGURES), (RV1, V1_FIGURES), (RV2, V2_FIGURES)]
CASES = [pytest.param(path, stem, expected, id=f"{path.stem}-{stem}")
         for path, table in ALL_FIGURES for stem, expected in table.items()]


@pytest.mark.parametrize("path, stem, expected", CASES)
def test_figure_boxes_edges_and_branch_order_are_the_papers(path, stem, expected):
    assert_figure(drawn(path)[stem], expected)


@pytest.mark.parametrize("path, table", [pytest.param(p, t, id=p.stem) for p, t in ALL_FIGURES])
def test_one_figure_per_block_definition_plus_stem_and_overview(path, table):
    assert set(drawn(path)) == {*table, "overview"}


@pytest.mark.parametrize("path, stem", [(p, s) for p, t in ALL_FIGURES for s in t
                                        if t[s].edges[(PREV, "+")]])
def test_residual_shortcut_is_dashed_and_the_only_dashed_edge(path, stem):
    dot = drawn(path)[stem]
    (plus,) = dot.find("+")
    dashed = [e for e in dot.edges if e.attrs.get("style") == "dashed"]
    assert [(dot.label(e.tail), e.head) for e in dashed] == [(PREV, plus)]
    # the scaled residual enters "+" first, the shortcut second
    assert [dot.label(n) for n in dot.into(plus)][0].startswith("Activation scaling (")


def test_inception_v4_stem_channels_add_up_as_in_figure_3():
    """73x73x160 = 64 + 96, 71x71x192 = 96 + 96, 35x35x384 = 192 + 192 (with --shapes)."""
    dot = drawn(V4, True)["stem"]
    into = [[dot.edges[i].attrs["label"].strip() for i, e in enumerate(dot.edges)
             if e.head == concat] for concat in dot.find(CONCAT)]
    assert into == [["73x73x64", "73x73x96"], ["71x71x96", "71x71x96"],
                    ["35x35x192", "35x35x192"]]


# --------------------------------------------------------------------------------------------
# Overviews, Figures 9 and 15, with each stage's output shape beside it

OVERVIEWS = {
    # Figure 9, block stages with their arguments as generated code calls them
    V4: [("Stem", "35x35x384"), ("4 x Inception-A", "35x35x384"),
         ("Reduction-A (k=192, l=224, m=256, n=384)", "17x17x1024"),
         ("7 x Inception-B", "17x17x1024"), ("Reduction-B", "8x8x1536"),
         ("3 x Inception-C", "8x8x1536"), ("Average Pooling", "1536"),
         ("Dropout (keep 0.8)", "1536"), ("Linear (1000)", "1000")],
    # Figure 15 (Inception-ResNet-v1's column)
    RV1: [("Stem", "35x35x256"), ("5 x Inception-ResNet-A (scale=0.17)", "35x35x256"),
          ("Reduction-A (k=192, l=192, m=256, n=384)", "17x17x896"),
          ("10 x Inception-ResNet-B (scale=0.1)", "17x17x896"),
          ("Reduction-B", "8x8x1792"), ("5 x Inception-ResNet-C (scale=0.2)", "8x8x1792"),
          ("Average Pooling", "1792"), ("Dropout (keep 0.8)", "1792"), ("Linear (1000)", "1000")],
    # The released Inception-ResNet-v2 (not Figure 15: its own stem, 10 / 20 / 9+1 blocks, the
    # last Block8 apart, and conv2d_7b to 1536 channels before the head). Arguments equal to a
    # block's defaults (Block8's scale=1.0, activation=relu) are left out, as in generated code.
    RV2: [("Stem", "35x35x320"), ("10 x Inception-ResNet-A (scale=0.17)", "35x35x320"),
          ("Reduction-A (k=256, l=256, m=384, n=384)", "17x17x1088"),
          ("20 x Inception-ResNet-B (scale=0.1)", "17x17x1088"),
          ("Reduction-B", "8x8x2080"),
          ("9 x Inception-ResNet-C (scale=0.2)", "8x8x2080"),
          ("Inception-ResNet-C (activation=none)", "8x8x2080"),
          ("1x1 Conv (1536)", "8x8x1536"),
          ("Average Pooling", "1536"), ("Dropout (keep 0.8)", "1536"), ("Linear (1000)", "1000")],
}


def _is_shape(dot: Dot, node: str) -> bool:
    return dot.nodes[node].get("shape") == "plaintext"


@pytest.mark.parametrize("path", list(OVERVIEWS), ids=lambda p: p.stem)
def test_overview_stages_and_their_shapes(path):
    stages = OVERVIEWS[path]
    dot = drawn(path)["overview"]
    column = [INPUT, *(s for s, _ in stages), "Softmax"]
    assert dot.boxes() == Counter(column)
    assert dot.edge_labels() == Counter(zip(column, column[1:]))
    # the column in order, bottom to top
    assert [(dot.label(e.tail), dot.label(e.head)) for e in dot.visible()] == \
        list(zip(column, column[1:]))
    # each stage has its shape beside it: a plaintext node joined by an invisible edge
    beside = [(dot.label(e.tail), dot.label(e.head)) for e in dot.edges
              if not e.visible and not _is_shape(dot, e.tail)]
    assert beside == stages
    assert all(_is_shape(dot, e.head) for e in dot.edges if not e.visible)
    assert Counter(dot.label(n) for n in dot.nodes if _is_shape(dot, n)) == \
        Counter(s for _, s in stages)


@pytest.mark.parametrize("path", list(OVERVIEWS), ids=lambda p: p.stem)
def test_overview_shapes_form_one_column(path):
    """The shapes are chained bottom to top by invisible edges in one group, which dot draws
    as one straight column: each beside its stage, whatever the stage box's width."""
    dot = drawn(path)["overview"]
    shapes = [n for n in dot.nodes if _is_shape(dot, n)]
    chain = [(e.tail, e.head) for e in dot.edges if _is_shape(dot, e.tail)]
    assert chain == list(zip(shapes, shapes[1:]))
    assert {dot.nodes[n].get("group") for n in shapes} == {"shapes"}
    assert {dot.nodes[n].get("group") for n in dot.nodes if not _is_shape(dot, n)} == {"stages"}


@pytest.mark.skipif(__import__("shutil").which("dot") is None, reason="needs graphviz `dot`")
@pytest.mark.parametrize("path", [*OVERVIEWS, ROOT / "specs/zoo/resnet.yaml"],
                         ids=lambda p: p.stem)
def test_overview_shapes_stand_beside_their_stages_in_a_straight_column(path):
    """As dot lays the overview out: every shape at one x, right of every stage box, and at
    the height of its own stage."""
    figure = figures(archc.compile_spec(str(path)))["overview"]
    laid = subprocess.run(["dot", "-Tplain"], input=figure.source, capture_output=True,
                          text=True, check=True, timeout=60).stdout
    nodes = {}  # id -> (x, y, width)
    for line in laid.splitlines():
        parts = line.split()
        if parts[0] == "node":
            nodes[parts[1]] = tuple(map(float, parts[2:5]))
    dot = parse_dot(figure.source)
    beside = [(e.tail, e.head) for e in dot.edges
              if not e.visible and not _is_shape(dot, e.tail)]
    assert beside
    assert len({round(nodes[shape][0], 2) for _, shape in beside}) == 1
    right_edge = max(x + w / 2 for n, (x, _, w) in nodes.items() if not _is_shape(dot, n))
    assert all(nodes[shape][0] > right_edge for _, shape in beside)
    assert all(nodes[stage][1] == nodes[shape][1] for stage, shape in beside)


def test_overview_shows_each_block_stages_arguments(tmp_path):
    """A variant that only widens a block is told from its base in the overview: a block stage
    shows its arguments, those equal to the block's defaults left out (as generated code)."""
    spec = tmp_path / "wide.yaml"
    spec.write_text(
        "name: wide\ninput: {size: 8}\nblocks:\n  B:\n    title: Block-B\n"
        "    params: [w, scale]\n    defaults: {scale: 1.0}\n    layers:\n"
        "      - c: conv 1x1 w\n"
        "layers:\n  - one: 2 x B(w=16)\n  - two: B(w=32, scale=0.5)\n"
        "  - three: B(w=32, scale=1.0)\n")
    dot = parse_dot(figures(archc.compile_spec(str(spec)))["overview"].source)
    assert [dot.label(n) for n in dot.nodes if not _is_shape(dot, n)] == [
        "Input (8x8x3)", "2 x Block-B (w=16)", "Block-B (w=32, scale=0.5)", "Block-B (w=32)"]


# --------------------------------------------------------------------------------------------
# --shapes

def _is_scaling_to_plus(dot: Dot, e: Edge) -> bool:
    return dot.label(e.tail).startswith("Activation scaling (") and dot.label(e.head) == "+"


@pytest.mark.parametrize("path, stem", [pytest.param(p, s, id=f"{p.stem}-{s}")
                                        for p, t in ALL_FIGURES for s in t])
def test_shapes_label_every_visible_edge(path, stem):
    dot = drawn(path, True)[stem]
    unlabelled = [(dot.label(e.tail), dot.label(e.head)) for e in dot.visible()
                  if not e.attrs.get("label", "").strip()]
    assert unlabelled == []
    # --shapes changes only the edge labels
    plain = drawn(path)[stem]
    assert dot.nodes == plain.nodes
    assert [(e.tail, e.head) for e in dot.edges] == [(e.tail, e.head) for e in plain.edges]


@pytest.mark.parametrize("path, stem", [(RV1, "InceptionResNetA"), (RV2, "Block35")])
def test_shapes_label_the_scaling_to_plus_edge(path, stem):
    dot = drawn(path, True)[stem]
    (edge,) = [e for e in dot.edges if _is_scaling_to_plus(dot, e)]
    assert edge.attrs.get("label", "").strip()


def _shapes(dot: Dot, tail: str | None = None, head: str | None = None) -> list[str]:
    return [e.attrs["label"].strip() for e in dot.visible()
            if (tail is None or dot.label(e.tail) == tail)
            and (head is None or dot.label(e.head) == head)]


def test_shapes_of_reduction_a_in_inception_resnet_v2():
    dot = drawn(RV2, True)["ReductionA"]
    assert _shapes(dot, tail=PREV) == ["35x35x320"] * 3
    # n=384 conv, k-l-m branch ending in m=384, the pool passing 320 channels through
    assert _shapes(dot, head=CONCAT) == ["17x17x384", "17x17x384", "17x17x320"]
    assert _shapes(dot, tail="1x1 Conv (k=256)") == ["35x35x256"]
    assert _shapes(dot, tail="3x3 Conv (l=256)") == ["35x35x256"]


def test_shapes_of_inception_resnet_blocks():
    a = drawn(RV2, True)["Block35"]
    assert _shapes(a, head=CONCAT) == ["35x35x32", "35x35x32", "35x35x64"]
    assert _shapes(a, tail=CONCAT) == ["35x35x128"]                       # 32 + 32 + 64
    assert _shapes(a, tail="1x1 Conv (320 Linear)") == ["35x35x320"]
    assert _shapes(a, tail=PREV, head="+") == ["35x35x320"]
    assert _shapes(a, tail="+") == ["35x35x320"]
    b = drawn(RV1, True)["InceptionResNetB"]
    assert _shapes(b, tail=CONCAT) == ["17x17x256"]                       # 128 + 128
    assert _shapes(b, tail="1x7 Conv (128)") == ["17x17x128"]
    c = drawn(RV2, True)["Block8"]
    assert _shapes(c, head=CONCAT) == ["8x8x192", "8x8x256"]
    assert _shapes(c, tail=PREV, head="+") == ["8x8x2080"]
    v4c = drawn(V4, True)["InceptionC"]
    assert _shapes(v4c, head=CONCAT) == ["8x8x256"] * 6                   # 6 x 256 = 1536


def test_shapes_of_the_stems():
    v4 = drawn(V4, True)["stem"]
    assert _shapes(v4, tail=INPUT) == ["299x299x3"]
    assert _shapes(v4, tail="3x3 Conv (32 stride 2 V)") == ["149x149x32"]
    assert _shapes(v4, tail="3x3 Conv (64)") == ["147x147x64", "147x147x64"]
    v1 = drawn(RV1, True)["stem"]
    assert [e.attrs["label"].strip() for e in v1.visible()] == [
        "299x299x3", "149x149x32", "147x147x32", "147x147x64", "73x73x64", "73x73x80",
        "71x71x192"]
    v2 = drawn(RV2, True)["stem"]
    # the first pool gives 73x73x64, the second 35x35x192 to Mixed_5b's four branches
    assert _shapes(v2, tail=MAXPOOL) == ["73x73x64"] + ["35x35x192"] * 4
    assert _shapes(v2, head=CONCAT) == ["35x35x96", "35x35x64", "35x35x96", "35x35x64"]


# --------------------------------------------------------------------------------------------
# The command line

def _cli(args, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "archc.cli", "render", *args],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


EXPECTED_FILES = sorted(f"{p.stem}-{s}.dot" for p, t in ALL_FIGURES for s in [*t, "overview"])


def _without_dot(tmp_path: Path) -> dict[str, str]:
    empty = tmp_path / "empty-path"
    empty.mkdir()
    return {**os.environ, "PATH": str(empty)}


def test_dot_format_needs_no_graphviz_binary(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    result = _cli([str(V4), str(RV1), str(RV2), "--format", "dot", "-o", str(out)],
                  _without_dot(tmp_path))
    assert result.returncode == 0, result.stderr
    assert sorted(_files(out)) == EXPECTED_FILES
    assert result.stderr == ""


@pytest.mark.parametrize("formats", [["svg"], ["dot", "png"], []],
                         ids=["svg", "dot+png", "default"])
def test_drawn_formats_without_graphviz_fail_with_one_line(tmp_path, formats):
    out = tmp_path / "out"
    out.mkdir()
    flags = [a for f in formats for a in ("--format", f)]
    result = _cli([str(V4), *flags, "-o", str(out)], _without_dot(tmp_path))
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert "graphviz" in lines[0] and "install" in lines[0]
    assert "apt-get install graphviz" in lines[0]
    assert result.stdout == ""
    assert list(out.iterdir()) == []


@pytest.fixture
def out(tmp_path):
    folder = tmp_path / "figures"
    folder.mkdir()
    return folder


def test_block_option_renders_only_that_block(out, capsys):
    assert main(["render", str(V4), "--block", "ReductionA", "--format", "dot",
                 "-o", str(out)]) == 0
    assert sorted(_files(out)) == ["inception_v4-ReductionA.dot"]
    assert_figure(parse_dot((out / "inception_v4-ReductionA.dot").read_text()),
                  V4_FIGURES["ReductionA"])
    assert "wrote 1 file to" in capsys.readouterr().out


def test_block_option_across_networks(out):
    assert main(["render", str(V4), str(RV1), str(RV2), "--block", "ReductionA",
                 "--format", "dot", "-o", str(out)]) == 0
    assert sorted(_files(out)) == [f"{n}-ReductionA.dot" for n in
                                   ("inception_resnet_v1", "inception_resnet_v2", "inception_v4")]
    for path, table in ALL_FIGURES:
        dot = parse_dot((out / f"{path.stem}-ReductionA.dot").read_text())
        assert_figure(dot, table["ReductionA"])  # each network's own Table 1 row


def test_block_option_with_shapes(out):
    assert main(["render", str(RV2), "--block", "ReductionA", "--shapes", "--format", "dot",
                 "-o", str(out)]) == 0
    dot = parse_dot((out / "inception_resnet_v2-ReductionA.dot").read_text())
    assert _shapes(dot, head=CONCAT) == ["17x17x384", "17x17x384", "17x17x320"]


def test_unknown_block_lists_the_blocks(out, capsys):
    assert main(["render", str(V4), "--block", "Block35", "--format", "dot",
                 "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert "no block `Block35`" in err
    for name in ("Mixed3a", "Mixed4a", "Mixed5a", "InceptionA", "InceptionB", "InceptionC",
                 "ReductionA", "ReductionB"):
        assert name in err
    assert list(out.iterdir()) == []


def test_block_missing_from_one_network_writes_nothing(out, capsys):
    assert main(["render", str(RV2), str(V4), "--block", "Block35", "--format", "dot",
                 "-o", str(out)]) == 1
    assert "no block `Block35`" in capsys.readouterr().err
    assert list(out.iterdir()) == []


def test_missing_output_folder(tmp_path, capsys):
    missing = tmp_path / "missing"
    assert main(["render", str(V4), "--format", "dot", "-o", str(missing)]) == 1
    assert "output folder does not exist" in capsys.readouterr().err
    assert not missing.exists()
    assert list(tmp_path.iterdir()) == []


def test_spec_with_errors_renders_nothing(out, capsys):
    as_drawn = FIXTURES / "paper/inception_resnet_v2_as_drawn.yaml"
    assert main(["render", str(V4), str(as_drawn), "--format", "dot", "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert "residual add" in err and "1154 channels" in err and "2048 channels" in err
    assert list(out.iterdir()) == []


@pytest.mark.skipif(__import__("shutil").which("dot") is None, reason="needs graphviz `dot`")
def test_png_of_one_block(out):
    assert main(["render", str(V4), "--block", "InceptionC", "--format", "png", "--format", "svg",
                 "-o", str(out)]) == 0
    assert (out / "inception_v4-InceptionC.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    svg = (out / "inception_v4-InceptionC.svg").read_text()
    assert "<svg" in svg and "Filter concat" in svg
    assert sorted(_files(out)) == ["inception_v4-InceptionC.png", "inception_v4-InceptionC.svg"]


def test_each_parameter_shows_its_own_values(tmp_path):
    """A parameter that is the same in every instance shows its value; one that differs shows
    each value."""
    spec = tmp_path / "two.yaml"
    spec.write_text(
        "name: two\ninput: {size: 8}\nblocks:\n  B:\n    params: [a, b]\n    layers:\n"
        "      - c1: conv 1x1 a\n      - c2: conv 1x1 b\n"
        "layers:\n  - one: B(a=16, b=8)\n  - two: B(a=16, b=24)\n")
    dot = parse_dot(figures(archc.compile_spec(str(spec)))["B"].source)
    assert sorted(dot.label(n) for n in dot.nodes) == \
        ["1x1 Conv (a=16)", "1x1 Conv (b=8 or 24)", PREV]


# --------------------------------------------------------------------------------------------
# `stem` and `overview` as one figure (`archc render --block stem`)

@pytest.mark.parametrize("path, table", [pytest.param(p, t, id=p.stem) for p, t in ALL_FIGURES])
def test_figure_names_are_every_figure_drawn(path, table):
    from archc.backends.graphviz.render import figure_names

    network = archc.compile_spec(str(path))
    assert sorted(figure_names(network)) == sorted(figures(network))
    assert set(figure_names(network)) == {*table, "overview"}


@pytest.mark.parametrize("name", ["stem", "overview"])
def test_the_stem_and_the_overview_are_figures_of_their_own(name):
    network = archc.compile_spec(str(RV2))
    alone = figures(network, name)
    assert list(alone) == [name]
    assert alone[name].source == figures(network)[name].source
    with_shapes = figures(network, name, with_shapes=True)[name].source
    assert with_shapes == figures(network, with_shapes=True)[name].source


def test_a_network_without_a_stem_has_no_stem_figure(tmp_path):
    from archc.backends.graphviz.render import figure_names

    spec = tmp_path / "flat.yaml"
    spec.write_text("name: flat\ninput: {size: 8}\nlayers:\n  - conv: conv 3x3 8\n")
    network = archc.compile_spec(str(spec))
    assert figure_names(network) == ["overview"]
    with pytest.raises(KeyError, match="no stem figure"):
        figures(network, "stem")


# --------------------------------------------------------------------------------------------
# Activations in one style: the paper's "Relu activation" (Figures 16-20)

@pytest.mark.parametrize("value, args, text", [
    ("relu", {}, "Relu activation"),
    ("silu", {}, "SiLU activation"),
    ("relu6", {}, "ReLU6 activation"),
    ("sigmoid", {}, "Sigmoid activation"),
    ("leaky_relu", {}, "LeakyReLU activation"),
    ("activation", {"activation": ["relu"]}, "Relu activation"),
    ("activation", {"activation": ["silu"]}, "SiLU activation"),
    ("activation", {"activation": ["relu", "none"]}, "Activation (activation=relu or none)"),
])
def test_activation_labels_have_one_style(value, args, text):
    from archc.backends.graphviz.render import activation_label
    from archc.ir.expr import Sym

    assert activation_label(Sym(value) if value in args else value, args) == text
