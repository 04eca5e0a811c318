"""Property-based test: whatever `archc check` accepts generates code that imports and runs.

`archc check` once accepted a spec whose generated module raised NameError (a block passing `in`
to a nested block whose BatchNorm then read `in_channels`, which the nested class did not take;
tests/test_language_features.py keeps that spec). This file goes after the whole class of such
bugs: hypothesis draws small specs from a grammar of what makes generated code differ from one
spec to the next, and every spec that compiles must give

- a trained module (`archc.build_model`, which executes the generated source) whose forward, in
  eval mode, maps a random input of the spec's input shape to (batch, num_classes);
- a deploy module (`build_model(..., deploy=True)`) that loads the trained module's state_dict
  (`load_trained`, after BatchNorm statistics are randomised) and computes the same logits;
- the files `archc build` and `archc build --deploy` write, which import (importlib) as modules,
  load the same weights and compute the same.

The grammar: block definitions with parameters (filter counts, kernel sides, strides, residual
scales, activations; some with defaults that instances leave out), blocks calling blocks three
levels deep, with arguments that are numbers, the caller's parameters, `in`, `num_classes` and
expressions of them (`2*w`, `in//2`, `w+in`, `(in - 4)`, `(in + 8)//2`, `sc/2`); repeats
(`2 x B(...)`); one block used with different input channels (so that its class takes
`in_channels`) or always the same (so that it does not); filter counts and groups written with
`in` and parameters; `conv kxk w /s`; activations as parameters (`act=ac`, a residual's
`activation: ac`, passed on as `Inner(ac=ac)`); grouped convs (`groups=` a number, a parameter
or `in`), depthwise convs (`dwconv 3x3`, `dwconv 3x3 2*in`) and channel shuffles (`shuffle
in//2`) where the channels allow; BatchNorm and activation layers after block calls
(`[B(w=in), bn, relu6]`, named `bn` steps) and conv, bn, activation as separate steps; concats
whose branches are layers, lists, named steps (which split again) or block calls; residual
blocks with identity or projection shortcuts (`conv 1x1 F /2 noact`, or conv and bn steps),
bodies ending in `conv 1x1 in linear` (maybe grouped), scales that are numbers, parameters or
expressions of them; max and average pools, same and valid, stride 1 and 2; both conv layouts;
a head of `avgpool global`, dropout and `linear num_classes`, or a classifier block given
`n=num_classes` whose hidden layer is `linear 2*in`.

The generator keeps a model of what archc checks (channels, groups, windows, sides, residual
adds, concats), evaluated in every instance of every block, and chooses only what the model
accepts, so that most drawn specs compile (run with `--hypothesis-show-statistics`: the
`compiles` event); a spec that does not compile says nothing about generated code and passes.
Derandomized, so CI runs the same examples every time; a failure shrinks to one small spec,
printed as YAML. ARCHC_CODEGEN_EXAMPLES=N runs N random examples instead (a hunt for bugs).

The defects this property found are at the end of the file, each as its minimal spec.
"""

from __future__ import annotations

import importlib.util
import os
import re
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, note, settings
from hypothesis import strategies as st

torch = pytest.importorskip("torch")

import archc  # noqa: E402
from archc.cli import main  # noqa: E402
from archc.errors import SpecError  # noqa: E402
from archc.names import class_name  # noqa: E402

from .conftest import randomise_batchnorm  # noqa: E402

EXAMPLES = int(os.environ.get("ARCHC_CODEGEN_EXAMPLES", "0"))

TOLERANCE = 1e-4  # of the largest logit
MOST = 32  # the most filters the generator writes (archc allows far more): fast forwards
WIDEST = 128  # the most channels it lets a concat or a block give
ACTIVATIONS = ["relu", "relu6", "silu", "gelu", "sigmoid", "tanh", "hardswish", "none"]
SCALES = ["1.0", "0.5", "0.17", "2", "1"]
NUMBERS = ["w", "n", "m"]  # the names of block parameters: filter counts (and arguments)
KERNEL, STRIDE, SCALE, ACT = "k", "s", "sc", "ac"  # a kernel side, stride, scale, activation


class Invalid(Exception):
    """What archc would refuse in some instance."""


def evaluate(text: str, env: dict):
    """The value of an expression of the spec language in an instance whose symbols (`in`, the
    block's parameters, `num_classes`) have the values in env."""
    names = {("in_" if k == "in" else k): v for k, v in env.items()}
    try:
        return eval(re.sub(r"\bin\b", "in_", text), {"__builtins__": {}}, names)  # noqa: S307
    except (ZeroDivisionError, NameError, TypeError) as e:
        raise Invalid(text) from e


def narrow(c: int) -> int:
    """c, where few enough channels for a fast test (not a bound of archc's)."""
    if c > WIDEST:
        raise Invalid("too wide")
    return c


def whole(text: str, env: dict) -> int:
    value = evaluate(text, env)
    if type(value) is not int or value < 1:
        raise Invalid(text)
    return value


# --------------------------------------------------------------------------------------------
# Pieces of a spec: the YAML node written (a string is written as it is, a compact layer or a
# flow mapping; lists and dicts in block style) and `apply(env, c, s)`, the (channels, side)
# the piece turns (c, s) into in an instance whose symbols are env, or Invalid where archc
# refuses it. Sides are square; after `avgpool global` the side is None.


@dataclass
class Piece:
    node: object
    apply: object  # (env, c, s) -> (c, s)


def sequence(pieces: list[Piece]):
    def apply(env, c, s):
        for piece in pieces:
            c, s = piece.apply(env, c, s)
        return narrow(c), s

    return apply


class Scope:
    """Where a piece is written (the top level or a block definition): the names its
    expressions may use and their values in every instance (those of the block's call sites
    known so far, and maybe one it may get later)."""

    def __init__(self, envs: list[dict], numbers=(), scales=(), acts=(), kernels=(),
                 strides=(), top=False):
        self.envs = envs
        self.numbers = list(numbers) + (["num_classes"] if top else ["in"])
        self.scales, self.acts = list(scales), list(acts)
        self.kernels, self.strides = list(kernels), list(strides)
        self.top = top


class Context:
    def __init__(self, draw, budget: int):
        self.draw = draw
        self.left = budget  # layers still to write, so that a forward takes milliseconds
        self.n = 0
        self.blocks: dict[str, Block] = {}
        self.clean = True  # False once the model says archc will refuse the spec

    def name(self, prefix: str) -> str:
        self.n += 1
        return f"{prefix}{self.n}"

    def pick(self, options):
        return self.draw(st.sampled_from(options))

    def chance(self, n: int = 2) -> bool:
        """True one time in n."""
        return self.draw(st.integers(0, n - 1)) == 0

    def most(self, n: int) -> int:
        return self.draw(st.integers(1, n))


def run(piece: Piece, scope: Scope, states):
    """The states after a piece in every instance (Invalid where one refuses it)."""
    return [piece.apply(env, c, s) for env, (c, s) in zip(scope.envs, states)]


def expressions(names: list[str]) -> list[str]:
    """The ways a count may be written in a scope with these names."""
    out = ["4", "6", "8", "12", "16"]
    for x in names:
        out += [x, x, f"2*{x}", f"{x}//2", f"{x}+4", f"({x} - 4)", f"({x} + 8)//2"]
        out += [f"{x}+{y}" for y in names if x < y]
        out += [f"({x} + {y})//2" for y in names if x < y]
    return out


def count(ctx: Context, scope: Scope, states, fits=lambda value, c: True, most=MOST) -> str:
    """A filter count or argument valid in every instance: whole, at most `most`, and
    fits(value, the instance's current channels)."""
    good = []
    for text in expressions(scope.numbers):
        try:
            values = [whole(text, env) for env in scope.envs]
        except Invalid:
            continue
        if all(v <= most and fits(v, c) for v, (c, _) in zip(values, states)):
            good.append(text)
    if not good:
        ctx.clean = False
        return "8"
    return ctx.pick(good)


# --------------------------------------------------------------------------------------------
# Layers. A mode says what a piece does to the side: None keeps it, "half" is a stride 2 window
# with same padding ((s - 1)//2 + 1 whatever the kernel), "minus2" a 3x3 valid one.


def spatial(s, kernel: int, stride: int, padding: str):
    if s is None:
        raise Invalid("a window on a flat input")
    if padding == "valid":
        if s < kernel:
            raise Invalid("the window does not fit")
        return (s - kernel) // stride + 1
    if kernel % 2 == 0:
        raise Invalid("same padding needs an odd kernel")
    return (s - 1) // stride + 1


# (kernel height, width, stride, padding) by mode
CONV_WINDOWS = {
    None: [(3, 3, 1, "same"), (1, 1, 1, "same"), (1, 3, 1, "same"), (3, 1, 1, "same"),
           (5, 5, 1, "same"), (1, 5, 1, "same")],
    "half": [(3, 3, 2, "same"), (1, 1, 2, "same"), (3, 1, 2, "same")],
    "minus2": [(3, 3, 1, "valid")],
}
POOL_WINDOWS = {
    None: [(3, 3, 1, "same"), (1, 1, 1, "same"), (1, 3, 1, "same")],
    "half": [(3, 3, 2, "same")],
    "minus2": [(3, 3, 1, "valid")],
}
CONV_WORDS = ["", "", "", " linear", " noact", " relu6", " silu", " nobn", " bias", " gelu",
              " hardswish", " nobn noact", " tanh", " sigmoid"]


def window(ctx: Context, scope: Scope, windows):
    """A window's compact words (`3x3 /2 V`, `kxk /s`: the block's kernel and stride
    parameters where their values fit) and side(env, s), the side it gives."""
    kh, kw, stride, padding = ctx.pick(windows)
    label, kernel = f"{kh}x{kw}", str(kh)
    if kh == kw and padding == "same" and scope.kernels and ctx.chance(2):
        label = kernel = scope.kernels[0]
        label = f"{label}x{label}"
    stride_text = str(stride)
    if scope.strides and ctx.chance(2) and all(env[scope.strides[0]] == stride
                                               for env in scope.envs):
        stride_text = scope.strides[0]
    words = label + (f" /{stride_text}" if stride_text != "1" or ctx.chance(8) else "")
    if padding == "valid":
        words += ctx.pick([" V", " valid"])
    elif ctx.chance(4):
        words += " same"
    sides = (kernel, str(kw) if kh != kw else kernel)

    def side(env, s):
        out = {spatial(s, whole(k, env), whole(stride_text, env), padding) for k in sides}
        return out.pop()

    return words, side


def conv(ctx: Context, scope: Scope, states, mode=None) -> Piece:
    """A conv, a grouped conv where the channels allow, or a depthwise conv."""
    words, side = window(ctx, scope, CONV_WINDOWS[mode])
    after = ctx.pick(CONV_WORDS + [f" act={a}" for a in scope.acts for _ in range(3)])
    ctx.left -= 1
    kind = ctx.pick(["conv", "conv", "conv", "group", "dw"])
    if kind == "dw":
        mult = "" if scope.top else ctx.pick(["", "", " in", " 2*in"])
        try:  # `in` is the block's input, which need not be the conv's
            if mult and any(whole(mult, env) % c for env, (c, _) in zip(scope.envs, states)):
                mult = ""
        except Invalid:
            mult = ""

        def depthwise(env, c, s):
            f = whole(mult, env) if mult else c
            if f % c:
                raise Invalid("a depthwise conv's filters")
            return f, side(env, s)

        return Piece(f"dwconv {with_filters(words, mult.strip())}{after}", depthwise)
    groups = None
    if kind == "group":
        options = divisors(scope, states)
        groups = ctx.pick(options) if options else None
    if groups is None:
        f = count(ctx, scope, states)
    else:
        f = count(ctx, scope, [(whole(groups, env), s) for env, (_, s) in zip(scope.envs,
                                                                              states)],
                  fits=lambda v, g: v % g == 0)

    def apply(env, c, s):
        out = whole(f, env)
        if groups is not None and (c % whole(groups, env) or out % whole(groups, env)):
            raise Invalid("groups")
        return out, side(env, s)

    text = f"conv {with_filters(words, f)}" + (f" groups={groups}" if groups else "")
    return Piece(text + after, apply)


def with_filters(words: str, filters: str) -> str:
    """A window's words with the filter count after the kernel: `3x3 16 /2 V`."""
    kernel, _, rest = words.partition(" ")
    return " ".join(part for part in (kernel, filters, rest) if part)


def pool(ctx: Context, scope: Scope, mode=None) -> Piece:
    words, side = window(ctx, scope, POOL_WINDOWS[mode])
    return Piece(f"{ctx.pick(['maxpool', 'avgpool'])} {words}",
                 lambda env, c, s: (c, side(env, s)))


def divisors(scope: Scope, states, extra=()) -> list[str]:
    """The group counts (numbers, names, expressions) that divide the channels in every
    instance."""
    options = []
    for g in ["2", "4", *scope.numbers, *extra]:
        try:
            if all(c % whole(g, env) == 0 for env, (c, _) in zip(scope.envs, states)):
                options.append(g)
        except Invalid:
            pass
    return options


def shuffle(ctx: Context, scope: Scope, states) -> Piece | None:
    """A channel shuffle of a number of groups that divides the channels."""
    options = divisors(scope, states, [f"{x}//2" for x in scope.numbers])
    if not options:
        return None
    groups = ctx.pick(options)

    def apply(env, c, s):
        if s is None or c % whole(groups, env):
            raise Invalid("shuffle")
        return c, s

    return Piece(f"shuffle {groups}", apply)


def layer(ctx: Context, scope: Scope, states, mode=None) -> Piece:
    if ctx.chance(4):
        return pool(ctx, scope, mode)
    if mode is None and ctx.chance(10):
        made = shuffle(ctx, scope, states)
        if made is not None:
            return made
    if ctx.chance(8):  # conv, bn and an activation as steps of their own
        words, side = window(ctx, scope, CONV_WINDOWS[mode])
        f = count(ctx, scope, states)
        ctx.left -= 1
        parts = [Piece(f"conv {with_filters(words, f)} nobn noact",
                       lambda env, c, s: (whole(f, env), side(env, s))),
                 norm_or_act(ctx, "bn"), norm_or_act(ctx)]
        return Piece([p.node for p in parts], sequence(parts))
    return conv(ctx, scope, states, mode)


def norm_or_act(ctx: Context, kind: str | None = None) -> Piece:
    """A BatchNorm or an activation as a layer of its own."""
    def apply(env, c, s):
        if s is None:
            raise Invalid("bn on a flat input")
        return c, s

    return Piece(kind or ctx.pick(["bn", "bn", "relu", "relu6", "silu", "gelu"]), apply)


def checked(ctx: Context, scope: Scope, states, piece: Piece, mode) -> Piece:
    """The piece where every instance takes it, else a plain conv that does."""
    try:
        run(piece, scope, states)
        return piece
    except Invalid:
        pass
    kh, kw, stride, padding = CONV_WINDOWS[mode][0]
    f = count(ctx, scope, states)
    words = f"conv {kh}x{kw} {f}" + (f" /{stride}" if stride != 1 else "") + \
        (" V" if padding == "valid" else "")
    fallback = Piece(words, lambda env, c, s: (whole(f, env), spatial(s, kh, stride, padding)))
    try:
        run(fallback, scope, states)
    except Invalid:
        ctx.clean = False
    return fallback


def flatten(pieces: list[Piece]) -> list:
    """The nodes of pieces written in one unnamed list."""
    nodes = []
    for piece in pieces:
        nodes += piece.node if isinstance(piece.node, list) else [piece.node]
    return nodes


def steps(ctx: Context, scope: Scope, states, mode, depth: int, named: bool, most: int = 3,
          calls: str = "anywhere"):
    """One to `most` steps, one of which changes the side as mode says: layers, block calls
    (maybe followed by bn and an activation) and, named, concats. `calls`: where a block call
    may be ("anywhere", "first": only as the first step)."""
    n = ctx.most(most)
    at = ctx.draw(st.integers(0, n - 1))
    pieces = []
    for i in range(n):
        goal = mode if i == at else None
        kind = ctx.draw(st.integers(0, 9)) if ctx.left > 0 else 0
        piece = None
        if kind >= 6 and depth < 3 and (calls == "anywhere" or i == 0):
            piece = call(ctx, scope, states, goal, depth, repeats=True)
            if piece is not None and kind >= 8:  # then a BatchNorm or an activation
                after = [norm_or_act(ctx) for _ in range(ctx.most(2))]
                nodes = ([{ctx.name("c"): piece.node}, *({ctx.name("n"): a.node}
                                                         for a in after)]
                         if named else [piece.node, *(a.node for a in after)])
                piece = Piece(nodes, sequence([piece, *after]))
        elif kind >= 4 and named:
            piece = concat(ctx, scope, states, goal, depth)
        piece = checked(ctx, scope, states, piece or layer(ctx, scope, states, goal), goal)
        states = run(piece, scope, states)
        pieces.append(piece)
    if not named:
        return Piece(flatten(pieces), sequence(pieces)), states
    nodes = []
    for piece in pieces:
        if isinstance(piece.node, list) and isinstance(piece.node[0], dict):
            nodes += piece.node  # named steps already
        elif isinstance(piece.node, dict):
            nodes.append(piece.node)  # a concat
        else:
            nodes.append({ctx.name("l"): piece.node})
    return Piece(nodes, sequence(pieces)), states


def concat(ctx: Context, scope: Scope, states, mode, depth: int) -> Piece | None:
    """Two or three branches: a layer, an unnamed list, named steps or a block call."""
    if ctx.left <= 0:
        return None
    branches, pieces = {}, []
    for _ in range(ctx.draw(st.integers(2, 3))):
        form = ctx.draw(st.integers(0, 4)) if ctx.left > 0 else 0
        if form == 1:
            piece, _ = steps(ctx, scope, states, mode, depth, named=False, most=2,
                             calls="anywhere")
        elif form == 2:
            piece, _ = steps(ctx, scope, states, mode, depth + 1, named=True, most=2)
        elif form >= 3 and depth < 3:
            piece = call(ctx, scope, states, mode, depth)
        else:
            piece = None
        piece = checked(ctx, scope, states, piece or layer(ctx, scope, states, mode), mode)
        node = piece.node
        if isinstance(node, list) and len(node) == 1 and isinstance(node[0], str):
            node = node[0]
        branches[ctx.name("b")] = node
        pieces.append(piece)

    def apply(env, c, s):
        outs = [piece.apply(env, c, s) for piece in pieces]
        if len({side for _, side in outs}) != 1:
            raise Invalid("concat: the sides differ")
        return narrow(sum(ch for ch, _ in outs)), outs[0][1]

    return Piece({"concat": branches}, apply)


# --------------------------------------------------------------------------------------------
# Blocks.


@dataclass
class Block:
    name: str
    params: dict[str, str]  # name -> kind: number, kernel, stride, scale or act
    defaults: dict[str, str]
    mode: str | None  # what it does to the side
    body: Piece | None = None
    shortcut: Piece | None = None
    residual: dict | None = None  # as written; None for a plain block
    scale: str | None = None
    height: int = 1  # blocks nested in it, itself included

    def names(self, kind: str) -> list[str]:
        return [p for p, k in self.params.items() if k == kind]

    def apply(self, env, c, s):
        out = self.body.apply(env, c, s)
        if self.residual is not None:
            shortcut = self.shortcut.apply(env, c, s) if self.shortcut else (c, s)
            if shortcut != out:
                raise Invalid("residual add: the shapes differ")
            if self.scale is not None:
                evaluate(self.scale, env)
        return narrow(out[0]), out[1]

    def yaml(self) -> dict:
        out = {}
        if self.params:
            out["params"] = f"[{', '.join(self.params)}]"
        if self.defaults:
            out["defaults"] = "{" + ", ".join(f"{k}: {v}" for k, v in self.defaults.items()) + "}"
        if self.residual is not None:
            out["residual"] = self.residual or "{}"
        out["layers"] = self.body.node
        return out


def arguments(ctx: Context, scope: Scope, block: Block, states, fresh: bool) -> dict:
    """A call's argument for each parameter (None: left to its default): numbers from the
    caller's names, kernels, strides, scales and activations literal or the caller's own."""
    args: dict[str, str | None] = {}
    for p, kind in block.params.items():
        if p in block.defaults and ctx.chance(2):
            args[p] = None
        elif kind == "number":
            args[p] = count(ctx, scope, states, most=16 if fresh else MOST)
        elif kind == "kernel":
            args[p] = ctx.pick(["1", "3", "5", *scope.kernels, *scope.kernels])
        elif kind == "stride":
            need = 2 if block.mode == "half" else 1
            args[p] = ctx.pick([str(need), *(x for x in scope.strides
                                             if all(env[x] == need for env in scope.envs))])
        elif kind == "scale":
            args[p] = ctx.pick(SCALES + scope.scales * 3 + [f"{x}/2" for x in scope.scales])
        else:
            args[p] = ctx.pick(ACTIVATIONS + scope.acts * 4)
    return args


def callee_env(block: Block, args: dict, env: dict, c: int) -> dict:
    """The symbols of the instance of block that a call with args makes in the caller's env."""
    inner = {"in": c}
    for p, text in args.items():
        text = block.defaults[p] if text is None else text
        kind = block.params[p]
        inner[p] = text if kind == "act" else evaluate(text, env) if kind == "scale" else \
            whole(text, env)
    return inner


def call(ctx: Context, scope: Scope, states, mode, depth: int, repeats: bool = True) \
        -> Piece | None:
    """A block call: of an existing block where one fits (another input gives its class
    `in_channels`), else of a new one; repeated where the repeats fit too (and `repeats`)."""
    reusable = [b for b in ctx.blocks.values() if b.mode == mode and depth + b.height <= 3]
    block = args = None
    if reusable and ctx.chance(2):
        candidate = ctx.pick(reusable)
        for _ in range(3):
            trial = arguments(ctx, scope, candidate, states, fresh=False)
            try:
                run(call_piece(ctx, candidate, trial, 1), scope, states)
            except Invalid:
                continue
            block, args = candidate, trial
            break
    if block is None:
        if ctx.left <= 0:
            return None
        block, args = define(ctx, scope, states, mode, depth)
    repeat = 1
    if repeats and ctx.chance(3):
        try:
            run(call_piece(ctx, block, args, 2), scope, states)
            repeat = 2
        except Invalid:
            pass
    return call_piece(ctx, block, args, repeat)


def call_piece(ctx: Context, block: Block, args: dict, repeat: int) -> Piece:
    given = ", ".join(f"{p}={text}" for p, text in args.items() if text is not None)
    text = f"{block.name}({given})" if given or ctx.chance(4) else block.name
    if repeat > 1:
        text = f"{repeat} x {text}"

    def apply(env, c, s):
        for _ in range(repeat):
            c, s = block.apply(callee_env(block, args, env, c), c, s)
        return c, s

    return Piece(text, apply)


def define(ctx: Context, scope: Scope, states, mode, depth: int):
    """A new block and the arguments of its first call: valid for the instances this call
    makes and often for an input of other channels, that a later call may give it."""
    params = {p: "number" for p in NUMBERS[:ctx.draw(st.integers(0, 2))]}
    if ctx.chance(5):
        params[KERNEL] = "kernel"
    if ctx.chance(5):
        params[STRIDE] = "stride"
    residual = mode in (None, "half") and ctx.chance(2)
    if residual and ctx.chance(2):
        params[SCALE] = "scale"
    if ctx.chance(3):
        params[ACT] = "act"
    defaults = {}
    for p, kind in params.items():
        if kind != "stride" and ctx.chance(5):
            defaults[p] = {"number": ctx.pick(["4", "8"]), "kernel": "3", "scale": "1.0",
                           "act": ctx.pick(["relu", "silu", "none"])}[kind]
    block = Block(ctx.name("B"), params, defaults, mode)
    args = arguments(ctx, scope, block, states, fresh=True)
    envs = [callee_env(block, args, env, c) for env, (c, _) in zip(scope.envs, states)]
    inner_states = list(states)
    if ctx.chance(2):  # an instance it may get later, with other input channels
        c, s = states[0]
        other = ctx.pick([x for x in (c // 2, 2 * c, c + 4) if 2 <= x <= MOST] or [c])
        envs.append({**envs[0], "in": other})
        inner_states.append((other, s))
    inner = Scope(envs, block.names("number"), block.names("scale"), block.names("act"),
                  block.names("kernel"), block.names("stride"))
    ctx.left -= 1
    if residual:
        residual_block(ctx, block, inner, inner_states, depth)
    else:
        block.body, _ = steps(ctx, inner, inner_states, mode, depth + 1, named=True)
    written = repr(block.body.node)
    block.height = 1 + max((b.height for b in ctx.blocks.values()
                            if re.search(rf"\b{b.name}\b", written)), default=0)
    try:
        run(Piece(None, block.apply), inner, inner_states)
    except Invalid:
        ctx.clean = False
    ctx.blocks[block.name] = block
    return block, args


def residual_block(ctx: Context, block: Block, inner: Scope, states, depth: int) -> None:
    """A residual body ending in a 1x1 projection to the shortcut's channels: `in`, or the
    filters of a projection shortcut (strided where the block halves the side)."""
    mode = block.mode
    last, node = "in", None
    if mode == "half" or ctx.chance(4):
        last = count(ctx, inner, states)
        stride = "2" if mode == "half" else "1"
        if inner.strides and ctx.chance(2):
            stride = inner.strides[0]
        kernel = ctx.pick(["1x1", "1x1", "3x3"])
        k = int(kernel[0])
        words = f"conv {kernel} {last}" + (f" /{stride}" if stride != "1" else "")
        groups = [g for g in ("2", "in") if ctx.chance(4) and all(
            c % whole(g, env) == 0 and whole(last, env) % whole(g, env) == 0
            for env, (c, _) in zip(inner.envs, states))]
        words += f" groups={groups[0]}" if groups else ""

        def shortcut(env, c, s, stride=stride, last=last, groups=groups):
            out = whole(last, env)
            if groups and (c % whole(groups[0], env) or out % whole(groups[0], env)):
                raise Invalid("groups")
            return out, spatial(s, k, whole(stride, env), "same")

        if ctx.chance(2):
            node = [{ctx.name("down"): words + ctx.pick([" noact", " linear", ""])}]
        else:
            node = [{ctx.name("down"): [words + " nobn noact", "bn"]}]
        block.shortcut = Piece(node, shortcut)
    body, after = steps(ctx, inner, states, mode, depth + 1, named=True, most=2)
    words = ctx.pick([" linear", " linear", " noact", "", " bias noact", " nobn noact", " relu6"])
    options = []
    for g in ("2", "4", "in", *inner.numbers):
        try:
            if all(c % whole(g, env) == 0 and whole(last, env) % whole(g, env) == 0
                   for env, (c, _) in zip(inner.envs, after)):
                options.append(g)
        except Invalid:
            pass
    groups = ctx.pick(options) if options and ctx.chance(3) else None
    projection = f"conv 1x1 {last}{words}" + (f" groups={groups}" if groups else "")

    def project(env, c, s):
        out = whole(last, env)
        if groups and (c % whole(groups, env) or out % whole(groups, env)):
            raise Invalid("groups")
        return out, s

    block.body = Piece(body.node + [{ctx.name("proj"): projection}],
                       sequence([body, Piece(projection, project)]))
    scales = SCALES + [f"{x}/16" for x in inner.numbers if x != "in"]
    if inner.scales:
        scales += [SCALE, SCALE, SCALE, f"{SCALE}/2", f"2*{SCALE}"]
    scales += ["in/64", "(in + 8)/64"]
    block.scale = ctx.pick(scales)
    activation = ctx.pick(["relu", "none", "relu6"] + [ACT] * 3 * len(inner.acts))
    written = {"scale": block.scale, "activation": activation}
    if block.scale == "1.0" and ctx.chance(2):
        del written["scale"]
    if activation == "relu" and ctx.chance(2):
        del written["activation"]
    if node is not None:
        written["shortcut"] = node
    block.residual = written


# --------------------------------------------------------------------------------------------
# Whole specs.


class Drawn:
    """A drawn spec's text, and whether the generator's model expects archc to accept it."""

    def __init__(self, text: str, clean: bool):
        self.text, self.clean = text, clean

    def __repr__(self) -> str:
        return "Drawn(the spec below)"  # the note shows it as YAML


@st.composite
def specs(draw):
    """A spec: a stem, one to four steps (block calls, groups, concats, layers), maybe a bn
    or an activation after each, then a global pool and a classifier."""
    ctx = Context(draw, draw(st.integers(6, 16)))
    size = draw(st.integers(8, 16))
    num_classes = draw(st.integers(2, 10))
    stem = ctx.pick([8, 12, 16, 16, 24])
    top = Scope([{"num_classes": num_classes}], top=True)
    states = [(stem, size)]
    layers = [{"stem": f"conv 3x3 {stem}"}]
    for _ in range(ctx.most(4)):
        if ctx.left <= 0:
            break
        side = states[0][1]
        mode = ctx.pick([None, None, "half"] + (["minus2"] if side >= 6 else [])) \
            if side >= 4 else None
        kind = ctx.pick(["call", "call", "call", "group", "concat", "layer"])
        if kind == "call":
            piece = call(ctx, top, states, mode, 0)
        elif kind == "group":
            piece, _ = steps(ctx, top, states, mode, 0, named=False)
        elif kind == "concat":
            piece = concat(ctx, top, states, mode, 0)
        else:
            piece = None
        piece = checked(ctx, top, states, piece or layer(ctx, top, states, mode), mode)
        states = run(piece, top, states)
        if isinstance(piece.node, dict):
            layers.append(piece.node)
        else:
            layers.append({ctx.name("s"): piece.node})
        if ctx.chance(5):
            layers.append({ctx.name("s"): norm_or_act(ctx).node})
    c = states[0][0]
    head = []
    (layers if ctx.chance(2) else head).append({"pool": "avgpool global"})
    if ctx.chance(3):
        head.append({"drop": "dropout 0.2"})
    blocks = {name: block.yaml() for name, block in ctx.blocks.items()}
    if ctx.chance(3):
        hidden = ctx.pick([h for h, value in (("linear 2*in", 2 * c), ("linear in", c),
                                              ("linear in//2", c // 2), ("linear 8", 8))
                           if value >= 1])
        blocks["Classifier"] = {"params": "[n]",
                                "layers": [{"hidden": hidden}, {"out": "linear n"}]}
        head.append({"cls": "Classifier(n=num_classes)"})
    else:
        head.append({"fc": "linear num_classes"})
    spec = {"name": "net", "input": f"{{channels: {draw(st.integers(1, 4))}, size: {size}}}",
            "num_classes": str(num_classes)}
    settings_ = {}
    if ctx.chance(4):
        settings_["conv"] = "{layout: sequential}"
    if ctx.chance(3):
        settings_["batchnorm"] = "{eps: 1e-5}"
    if settings_:
        spec["settings"] = settings_
    if blocks:
        spec["blocks"] = blocks
    spec["layers"] = layers
    spec["head"] = head
    return Drawn(emit(spec), ctx.clean)


def emit(node, indent: int = 0) -> str:
    """YAML in block style; strings are written as they are (compact layers, flow mappings)."""
    pad = " " * indent
    lines = []
    if isinstance(node, dict):
        for key, value in node.items():
            if isinstance(value, str):
                lines.append(f"{pad}{key}: {value}")
            else:
                lines += [f"{pad}{key}:", emit(value, indent + 2)]
    else:
        for item in node:
            if isinstance(item, str):
                lines.append(f"{pad}- {item}")
            elif isinstance(item, dict):
                lines.append(f"{pad}- {emit(item, indent + 2)[indent + 2:]}")
            else:
                lines += [f"{pad}-", emit(item, indent + 2)]
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# The property.


@pytest.fixture(autouse=True)
def one_thread():
    """One torch thread: on tensors this small, more only wait for each other (a forward took
    tens of milliseconds instead of one on a busy two-core machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def he_normal(model) -> None:
    """Conv weights that keep activations of unit size, and random BatchNorm statistics, so
    that eval mode and the deploy module's folding are tested on values that matter."""
    torch.manual_seed(0)
    for module in model.modules():
        if isinstance(module, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
    randomise_batchnorm(model)


def assert_close(got, want, what: str) -> None:
    scale = max(float(want.abs().max()), 1e-3)
    error = float((got - want).abs().max())
    assert error <= TOLERANCE * scale, f"{what}: off by {error:.3g} (largest logit {scale:.3g})"


def import_module(path: Path, name: str):
    """The module a generated file defines, imported as Python imports any file."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[name]
    return module


def check_spec(text: str, folder: Path) -> bool:
    """The property for one spec, written in folder: whether it compiled, and if it did, its
    trained and deploy modules, built and as `archc build` writes them, run and agree. Paths
    are relative to folder (the current directory here), so that tracebacks through generated
    code name the same files in every example and hypothesis sees one failure as one."""
    with inside(folder):
        return _check_spec(text)


def _check_spec(text: str) -> bool:
    path = Path("net.yaml")
    path.write_text(text + "\n")
    try:
        network = archc.compile_spec(str(path))
    except SpecError:
        return False
    batch = 2
    x = torch.randn(batch, *network.input_shape, generator=torch.Generator().manual_seed(1))
    trained = archc.build_model(network)
    he_normal(trained)
    trained.eval()
    with torch.no_grad():
        want = trained(x)
    assert want.shape == (batch, network.num_classes)
    assert torch.isfinite(want).all()
    state = trained.state_dict()
    deploy = archc.build_model(network, deploy=True)
    deploy.load_trained(state)
    with torch.no_grad():
        assert_close(deploy(x), want, "the deploy module")
    out = Path("out")
    out.mkdir()
    assert main(["build", "-o", str(out), str(path)]) == 0
    assert main(["build", "--deploy", "-o", str(out), str(path)]) == 0
    for file, deployed in ((out / "net.py", False), (out / "net_deploy.py", True)):
        module = import_module(file, f"archc_property_{file.stem}")
        model = getattr(module, class_name(file.stem))(num_classes=network.num_classes)
        if deployed:
            model.load_trained(state)
        else:
            model.load_state_dict(state)
        model.eval()
        with torch.no_grad():
            assert_close(model(x), want, f"the module `archc build` wrote, {file.name}")
    return True


@contextmanager
def inside(folder: Path):
    """The current directory set to folder, for the block."""
    previous = os.getcwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(previous)


@pytest.mark.slow
@settings(max_examples=EXAMPLES or 100, deadline=None, derandomize=not EXAMPLES, database=None,
          report_multiple_bugs=False,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                 HealthCheck.filter_too_much,
                                 HealthCheck.function_scoped_fixture])
@given(drawn=specs())
def test_every_spec_that_compiles_generates_code_that_runs(drawn, tmp_path_factory):
    """Small specs of nested blocks passing `in`, parameters and expressions, repeats, grouped
    and depthwise convs, concats and residual blocks: every one that compiles builds a trained
    and a deploy module (in Python and as the files `archc build` writes) that run and agree."""
    note(drawn.text)
    compiled = check_spec(drawn.text, tmp_path_factory.mktemp("spec"))
    event("compiles" if compiled else "does not compile")
    if drawn.clean:
        event("the generator expected it to compile")


# --------------------------------------------------------------------------------------------
# Defects the property found, as minimal specs: each failed (a NameError, a SyntaxError, a
# deploy module that did not load its trained weights) before its fix.


def spec_with(blocks: str, layers: str) -> str:
    return f"""\
name: net
input: {{size: 8}}
num_classes: 3
blocks:
{blocks}
layers:
  - stem: conv 3x3 8
{layers}
  - pool: avgpool global
head: [{{fc: linear num_classes}}]"""


def test_a_fused_residual_conv_grouped_by_the_block_input(tmp_path):
    """The conv that passes.fuse_add fuses with a residual add (ops.ConvAdd) holds its Conv as
    a nested op, into which ops.bind substitutes `in` too: codegen wrote `Conv(8, 8, 1,
    groups=in_channels)` in a class that takes no in_channels (a NameError)."""
    spec = spec_with("""\
  Res:
    residual: {activation: none}
    layers:
      - conv: conv 3x3 8
      - proj: conv 1x1 in linear groups=in""", "  - res: Res")
    assert check_spec(spec, tmp_path)


def test_a_residual_scale_written_with_the_block_input(tmp_path):
    """A residual scale that reads `in` is written with `in` bound: codegen wrote `self.scale =
    in_channels / 64` in a class that takes no in_channels, since every instance gets 8."""
    spec = spec_with("""\
  Res:
    residual: {scale: in/64}
    layers:
      - proj: conv 1x1 in linear""", "  - res: Res")
    assert check_spec(spec, tmp_path)


def test_a_block_call_after_a_conv_merged_with_a_sibling(tmp_path):
    """passes.merge_siblings merges `a`'s first conv with `b`'s and renumbers the nn.Sequential
    `a`, so the block call is `a.0` in the deploy module: its load_trained read `a.0.*`, where
    the trained state_dict has `a.1.*` (it now reads its trained instance's path)."""
    spec = spec_with("""\
  Inner:
    layers:
      - conv: conv 1x1 8""", """\
  - concat:
      a: [conv 3x3 8, Inner]
      b: conv 3x3 8""")
    assert check_spec(spec, tmp_path)


def test_a_long_repeated_block_call_in_an_unnamed_list(tmp_path):
    """A repeated block call in an unnamed list is the item `*[Inner(...) for _ in range(2)],`;
    past 100 characters codegen's wrap() split the comprehension as if it were a call's
    arguments and added a comma, `[Inner(...) for _ in range(2),]`, which is not Python."""
    spec = spec_with("""\
  Inner:
    params: [bottleneck_width, expansion_ratio, squeeze_excitation_ratio]
    layers:
      - conv: conv 1x1 in""", """\
  - stage:
      - 2 x Inner(bottleneck_width=16, expansion_ratio=4, squeeze_excitation_ratio=16)
      - relu""")
    assert check_spec(spec, tmp_path)
