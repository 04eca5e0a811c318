"""Property-based test of `archc build --deploy`: the inference module computes what the trained
module computes in eval mode, for small specs generated from a grammar of the constructs that
archc/passes/ rewrite.

Each example is a valid spec of a few layers (input 8 to 12 pixels, 2 to 8 channels): concats
with branches written as layers, unnamed lists or named lists that split again (nested concats),
average pools (count_pad true and false, in the settings or on the pool; same, valid and explicit
padding; stride 1 and 2; ceil) followed by 1x1 convs of every activation, sibling convs of the
same and of different windows and activations, residual blocks whose branch is one conv, a list,
named steps, a concat with or without a projection after it, with scales 1 and not 1 (also as a
block parameter), activations relu and none (also as a parameter, given both by different
instances), identity, projection and downsampling shortcuts, repeats, depthwise and grouped
convs, conv units with and without BatchNorm, with a bias, or as separate conv, bn and activation
steps (in an nn.Sequential, or each a module of its own), both conv layouts, blocks inside concat
branches, and filter counts inside blocks written with `in` and block parameters (`in`,
`(in - 2)`, `in//2`, `2*w`). The trained model gets
He-normal conv weights and random BatchNorm statistics (tests/test_deploy.py's
`trained_model`), and the deploy module, loaded from its state_dict, must give the same
features and logits (`assert_equal_outputs`). Derandomized, so CI runs the same examples every
time; a failure shrinks to one small spec, printed as YAML.
"""

from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, note, settings
from hypothesis import strategies as st

torch = pytest.importorskip("torch")

import archc  # noqa: E402
from archc.ops import window  # noqa: E402

from .test_deploy import TOLERANCE, assert_equal_outputs, trained_model  # noqa: E402

# --------------------------------------------------------------------------------------------
# Windows: kernel, stride, padding and ceil, with the output side they give (square inputs).


@dataclass(frozen=True)
class Window:
    kh: int
    kw: int
    stride: int = 1
    padding: object = "same"  # "same", "valid", an int or (ph, pw)
    ceil: bool = False

    def pads(self):
        if self.padding == "same":
            return (self.kh - 1) // 2, (self.kw - 1) // 2
        if self.padding == "valid":
            return 0, 0
        if isinstance(self.padding, tuple):
            return self.padding
        return self.padding, self.padding

    def side(self, size: int):
        """The output side for a size x size input, or None where the window does not fit or
        the output is not square."""
        if self.padding == "same" and (self.kh % 2 == 0 or self.kw % 2 == 0):
            return None
        sides = {window(size, k, self.stride, (p, p), self.ceil)
                 for k, p in zip((self.kh, self.kw), self.pads())}
        return sides.pop() if len(sides) == 1 else None

    def words(self, alias: int = 0) -> str:
        """A pool's compact words after its kind: `3x3 /2 V ceil`; `alias` picks among the
        equivalent spellings."""
        return f"{self.kh}x{self.kw}{self.rest(alias)}"

    def conv(self, filters, extra: str = "", alias: int = 0) -> str:
        """A conv's compact form: `conv 3x3 8 /2 V linear`."""
        return f"conv {self.kh}x{self.kw} {filters}{self.rest(alias)}{extra}"

    def rest(self, alias: int) -> str:
        text = ""
        if self.stride != 1 or alias % 3 == 2:
            text += f" /{self.stride}"
        if self.padding == "valid":
            text += " V" if alias % 2 == 0 else " valid"
        elif self.padding == "same":
            text += " same" if alias % 4 == 3 else ""
        elif isinstance(self.padding, tuple):
            text += f" pad={self.padding[0]}x{self.padding[1]}"
        else:
            text += f" pad={self.padding}"
        return text + (" ceil" if self.ceil else "")

    def long_form(self) -> str:
        kernel = self.kh if self.kh == self.kw else f"{self.kh}x{self.kw}"
        padding = (f"[{self.padding[0]}, {self.padding[1]}]" if isinstance(self.padding, tuple)
                   else self.padding)
        text = f"kernel: {kernel}, stride: {self.stride}, padding: {padding}"
        return text + (", ceil: true" if self.ceil else "")


CONV_WINDOWS = [
    Window(1, 1), Window(1, 1), Window(3, 3), Window(3, 3), Window(1, 3), Window(3, 1),
    Window(5, 5), Window(3, 3, 1, 1), Window(1, 3, 1, (0, 1)), Window(1, 1, 1, "valid"),
    Window(3, 3, 1, "valid"), Window(1, 1, 2), Window(3, 3, 2), Window(3, 3, 2, "valid"),
    Window(2, 2, 2, "valid"), Window(3, 3, 2, 1),
]
POOL_WINDOWS = [
    Window(3, 3), Window(3, 3), Window(3, 3, 1, 1), Window(1, 3), Window(1, 1),
    Window(3, 3, 1, "valid"), Window(2, 2, 1, "valid"), Window(3, 3, 2), Window(3, 3, 2, "valid"),
    Window(2, 2, 2, "valid"), Window(3, 3, 2, "valid", ceil=True), Window(3, 3, 2, 1, ceil=True),
    Window(3, 3, 1, 1, ceil=True),
]
# The words of a conv unit after its filter count: BatchNorm or not, activation, bias.
CONV_ACTS = ["", "", "", " linear", " linear", " noact", " noact", " relu6", " silu", " tanh",
             " nobn", " bias", " nobn noact", " nobn bias", " sigmoid", " relu"]
POOL_THEN_1X1_ACTS = ["", " linear", " noact", " relu6", " silu", " nobn", " nobn noact",
                      " bias", " hardswish"]
SCALES = ["1.0", "1", "0.5", "0.17", "2"]


def fits(windows, size, target=None):
    """The windows that turn size into target (that keep it where target is None)."""
    want = size if target is None else target
    return [w for w in windows if w.side(size) == want]


def downsampled_sides(size):
    return sorted({w.side(size) for w in CONV_WINDOWS if w.stride == 2 and w.side(size)})


# --------------------------------------------------------------------------------------------
# The grammar. Every generator takes the input's channels c and side s, the side its output must
# have (`target`, None to keep s) and where given the channels it must have (`fout`), and
# returns (YAML node, output channels). A node is a string (a layer or a flow mapping, written
# as it is), a list (a YAML block sequence) or a dict (a block mapping).


class Context:
    """What a spec's generators share: fresh names (unique in the whole spec, so within every
    module), the block definitions, a cap on the number of layers (so that an example runs in
    well under 0.5 s) and, inside a block definition, the names that filter counts may be
    written with (`in`, the block's parameters) and their values."""

    def __init__(self, draw, layers: int):
        self.draw, self.left, self.n = draw, layers, 0
        self.blocks: dict = {}
        self.symbols: dict[str, int] = {}

    def name(self, prefix: str) -> str:
        self.n += 1
        return f"{prefix}{self.n}"

    def spend(self, n: int = 1) -> None:
        self.left -= n

    def count(self, f: int) -> str:
        """f as a number, or as an expression of `in` or a block parameter of that value."""
        ways = [str(f)]
        for sym, value in self.symbols.items():
            if value == f:
                ways += [sym, sym]
            if 2 * f == value:
                ways.append(f"{sym}//2")
            if f == 2 * value:
                ways.append(f"2*{sym}")
            if 0 < f - value <= 3:
                ways.append(f"{sym}+{f - value}")
            if 0 < value - f <= 3:
                ways.append(f"({sym} - {value - f})")
        return self.draw(st.sampled_from(ways))


def filters(ctx):
    return ctx.draw(st.integers(2, 6))


def conv_layer(ctx, c, s, target, fout=None):
    """A conv, depthwise conv or grouped conv."""
    draw = ctx.draw
    kind = draw(st.sampled_from(["conv", "conv", "conv", "dw", "group"]))
    window = draw(st.sampled_from(fits(CONV_WINDOWS, s, target)))
    act = draw(st.sampled_from(CONV_ACTS))
    alias = draw(st.integers(0, 3))
    ctx.spend()
    if kind == "dw" and (fout is None or fout % c == 0):
        mult = (fout // c) if fout is not None else draw(st.sampled_from([1, 1, 2]))
        count = "" if mult == 1 and draw(st.booleans()) else f" {ctx.count(mult * c)}"
        return f"dwconv {window.kh}x{window.kw}{count}{window.rest(alias)}{act}", mult * c
    f = fout if fout is not None else filters(ctx)
    if kind == "group" and c % 2 == 0 and f % 2 == 0:
        return window.conv(ctx.count(f), f" groups=2{act}", alias), f
    return window.conv(ctx.count(f), act, alias), f


def avgpool(ctx, window):
    """An average pool, compact (count_pad from the settings) or long form (its own)."""
    draw = ctx.draw
    if draw(st.booleans()):
        return f"avgpool {window.words(draw(st.integers(0, 3)))}"
    count_pad = draw(st.sampled_from(["", ", count_pad: true", ", count_pad: false"]))
    return f"{{type: avgpool, {window.long_form()}{count_pad}}}"


def layer(ctx, c, s, target=None, fout=None):
    """One layer: a conv (of fout filters where given) or a pool."""
    draw = ctx.draw
    if (fout is None or fout == c) and draw(st.integers(0, 3)) == 0:
        window = draw(st.sampled_from(fits(POOL_WINDOWS, s, target)))
        if draw(st.integers(0, 3)) == 0:
            return f"maxpool {window.words(draw(st.integers(0, 3)))}", c
        return avgpool(ctx, window), c
    return conv_layer(ctx, c, s, target, fout)


def unnamed_steps(ctx, c, s, target=None, fout=None, most=3):
    """A list of layers (an nn.Sequential), with the motifs that the passes look for: an
    average pool then a 1x1 conv, and a conv unit written as conv, bn and activation steps."""
    draw = ctx.draw
    n = draw(st.integers(1, most))
    steps = []
    reduce_at = draw(st.integers(0, n - 1)) if target not in (None, s) else -1
    for i in range(n):
        last = i == n - 1
        out = fout if last else None
        goal = target if i == reduce_at else None
        motif = draw(st.integers(0, 5))
        if motif <= 1:  # an average pool (changing the side where asked), then a 1x1 conv
            window = draw(st.sampled_from(fits(POOL_WINDOWS, s, goal)))
            f = out if out is not None else filters(ctx)
            steps += [avgpool(ctx, window),
                      f"conv 1x1 {ctx.count(f)}{draw(st.sampled_from(POOL_THEN_1X1_ACTS))}"]
            ctx.spend()
            s, c = window.side(s), f
        elif motif == 2 and not last:  # conv, bn, activation as separate steps
            f = filters(ctx)
            window = draw(st.sampled_from(fits(CONV_WINDOWS, s, goal)))
            steps += [window.conv(ctx.count(f), " nobn noact"), "bn",
                      draw(st.sampled_from(["relu", "relu6", "bn"]))]
            ctx.spend()
            s, c = window.side(s), f
        else:
            text, c = layer(ctx, c, s, goal, out)
            s = goal if goal is not None else s
            steps.append(text)
    return steps, c


def split(draw, total, n):
    """total channels as n positive parts."""
    cuts = sorted(draw(st.lists(st.integers(1, total - 1), min_size=n - 1, max_size=n - 1,
                                unique=True)))
    bounds = [0, *cuts, total]
    return [b - a for a, b in zip(bounds, bounds[1:])]


def concat(ctx, c, s, target=None, fout=None, depth=0):
    """A concat of 2 or 3 branches, each turning side s into target; fout channels in all
    where given (None where fout < 2)."""
    draw = ctx.draw
    n = draw(st.integers(2, 3))
    if fout is not None:
        if fout < 2:
            return None
        n = min(n, fout)
    parts = split(draw, fout, n) if fout is not None else [None] * n
    branches, total = {}, 0
    for part in parts:
        node, out = branch(ctx, c, s, target, part, depth)
        branches[ctx.name("b")] = node
        total += out
    return {"concat": branches}, total


def branch(ctx, c, s, target, fout, depth):
    """A concat branch: a layer, an unnamed list, a list of named steps (which may split again)
    or a block instance."""
    draw = ctx.draw
    form = draw(st.integers(0, 6 if depth == 0 and ctx.left > 0 else 4 if depth < 2 else 2))
    if form == 0 or ctx.left <= 0:
        return layer(ctx, c, s, target, fout)
    if form <= 2:
        return unnamed_steps(ctx, c, s, target, fout)
    if form <= 4 or (fout is not None):
        return named_steps(ctx, c, s, target, fout, depth + 1)
    make = residual_block if form == 5 else inception_block
    instances, out, _ = make(ctx, c, s, s if target is None else target)
    (instance,) = instances[0].values()
    return instance, out


def named_steps(ctx, c, s, target=None, fout=None, depth=0, most=3, concats=True):
    """A list of named steps: layers, unnamed groups, concats (which may split again)."""
    draw = ctx.draw
    n = draw(st.integers(1, most))
    steps = []
    reduce_at = draw(st.integers(0, n - 1)) if target not in (None, s) else -1
    for i in range(n):
        out = fout if i == n - 1 else None
        goal = target if i == reduce_at else None
        kind = draw(st.integers(0, 5 if concats and depth < 3 and ctx.left > 0 else 2))
        if kind == 1 and out is None:  # conv, bn and activation as modules of their own, as
            # torchvision's conv1, bn1, relu1: what fold_bn and fuse_act join
            f = filters(ctx)
            window = draw(st.sampled_from(fits(CONV_WINDOWS, s, goal)))
            extra = draw(st.sampled_from([" nobn noact", " nobn noact bias"]))
            steps += [{ctx.name("c"): window.conv(ctx.count(f), extra)}, {ctx.name("b"): "bn"},
                      {ctx.name("a"): draw(st.sampled_from(["relu", "relu", "relu6", "bn"]))}]
            ctx.spend()
            s, c = window.side(s), f
            continue
        made = concat(ctx, c, s, goal, out, depth) if kind >= 3 else None
        if made is None and kind == 2:
            group, ch = unnamed_steps(ctx, c, s, goal, out)
            made = ({ctx.name("m"): group}, ch)
        if made is None:
            text, ch = layer(ctx, c, s, goal, out)
            made = ({ctx.name("l"): text}, ch)
        steps.append(made[0])
        c = made[1]
        s = goal if goal is not None else s
    return steps, c


def reduced_side(draw, s):
    """A side that a stride-2 or valid window turns s into, or (more often) s itself."""
    if s < 6 or draw(st.integers(0, 2)) > 0:
        return s
    return draw(st.sampled_from(sorted({w.side(s) for w in CONV_WINDOWS
                                        if w.side(s) and w.side(s) >= 3})))


# --------------------------------------------------------------------------------------------
# Blocks. Each generator adds a definition to ctx.blocks and returns (its instances as steps
# of the caller, output channels, output side). The definition's filter counts may be written
# with `in` and its parameters, which are known here since each definition has one input shape.


class Scope:
    """ctx.symbols set to a block's names for the block."""

    def __init__(self, ctx, symbols):
        self.ctx, self.symbols = ctx, symbols

    def __enter__(self):
        self.saved, self.ctx.symbols = self.ctx.symbols, self.symbols

    def __exit__(self, *exc):
        self.ctx.symbols = self.saved


def residual_block(ctx, c, s, target=None):
    """A residual block: its branch one conv (or depthwise conv), a list (of one conv, or ending
    in a pool), named steps, or a concat with or without a projection after it; a scale and an
    activation, maybe parameters; an identity, projection or downsampling shortcut."""
    draw = ctx.draw
    name = ctx.name("Res")
    kind = draw(st.sampled_from(["identity", "identity", "project", "down"]))
    free = target is None  # whether this block chooses its output side
    if not free:
        kind = "down" if target != s else "project" if kind == "down" else kind
    out, shortcut = c, None
    target = s if target is None else target
    symbols = {"in": c}
    width = draw(st.sampled_from([None, None, 2, 4]))
    if width:
        symbols["w"] = width
    with Scope(ctx, symbols):
        if kind != "identity":
            out = draw(st.integers(2, 8))
            if kind == "down" and free:
                target = draw(st.sampled_from(downsampled_sides(s)))
            if draw(st.booleans()):
                shortcut, _ = named_steps(ctx, c, s, target, out, most=2, concats=False)
            else:
                steps, _ = unnamed_steps(ctx, c, s, target, out, most=2)
                shortcut = [{ctx.name("down"): steps if draw(st.booleans()) or len(steps) > 1
                             else steps[0]}]
        form = draw(st.sampled_from(["conv", "list", "named", "concat_proj", "concat_last",
                                     "list_of_one", "pool_after"]))
        last_act = draw(st.sampled_from([" linear", " linear", " noact", "", " nobn noact",
                                         " linear", " bias noact", " relu6"]))
        if form in ("conv", "list_of_one"):
            window = draw(st.sampled_from(fits(CONV_WINDOWS, s, target)))
            if form == "conv" and out == c and draw(st.integers(0, 3)) == 0:
                text = f"dwconv {window.kh}x{window.kw}{window.rest(0)}{last_act}"
            else:
                text = window.conv(ctx.count(out), last_act)
            layers = [{ctx.name("proj"): text if form == "conv" else [text]}]
            ctx.spend()
        elif form in ("list", "pool_after"):
            steps, _ = unnamed_steps(ctx, c, s, target, most=2)
            steps.append(f"conv 1x1 {ctx.count(out)}{last_act}")
            if form == "pool_after":
                steps.append(avgpool(ctx, draw(st.sampled_from(fits(POOL_WINDOWS, target)))))
            layers = [{ctx.name("body"): steps}]
            ctx.spend()
        elif form == "named":
            layers, _ = named_steps(ctx, c, s, target, depth=1, most=2)
            layers.append({ctx.name("proj"): f"conv 1x1 {ctx.count(out)}{last_act}"})
            ctx.spend()
        else:
            made = concat(ctx, c, s, target, out if form == "concat_last" else None, depth=1)
            layers = [made[0]]
            if form == "concat_proj":
                layers.append({ctx.name("proj"): f"conv 1x1 {ctx.count(out)}{last_act}"})
                ctx.spend()
    scale = draw(st.sampled_from([*SCALES, "sc", "sc"]))
    act = draw(st.sampled_from(["relu", "relu", "none", "none", "ac", "ac", "relu6"]))
    residual = {"scale": scale, "activation": act}
    if scale == "1.0" and draw(st.booleans()):
        del residual["scale"]
    if act == "relu" and draw(st.booleans()):
        del residual["activation"]
    if shortcut is not None:
        residual["shortcut"] = shortcut
    params = [p for p, used in (("sc", scale == "sc"), ("ac", act == "ac"), ("w", width))
              if used]
    definition = {}
    if params:
        definition["params"] = f"[{', '.join(params)}]"
    definition["residual"] = residual
    definition["layers"] = layers
    ctx.blocks[name] = definition

    def instance():
        args = []
        if "sc" in params:
            args.append(f"sc={draw(st.sampled_from(SCALES))}")
        if "ac" in params:
            args.append(f"ac={draw(st.sampled_from(['relu', 'none']))}")
        if width:
            args.append(f"w={width}")
        return f"{name}({', '.join(args)})" if args else name

    if kind != "identity" or draw(st.booleans()):
        return [{ctx.name("r"): instance()}], out, target
    if draw(st.booleans()):  # two instances, which may give the parameters different values
        return [{ctx.name("r"): [instance(), instance()]}], out, target
    return [{ctx.name("r"): f"2 x {instance()}"}], out, target


def inception_block(ctx, c, s, target=None):
    """A block of one concat (and maybe a 1x1 conv after it), instantiated once, or twice
    where it keeps its input's shape."""
    draw = ctx.draw
    name = ctx.name("Inc")
    if target is None:
        target = s if draw(st.booleans()) else reduced_side(draw, s)
    keep = target == s
    width = draw(st.sampled_from([None, 2, 3, 4]))
    with Scope(ctx, {"in": c, **({"w": width} if width else {})}):
        made = concat(ctx, c, s, target, c if keep else None, depth=1)
        layers, out = [made[0]], made[1]
        if draw(st.integers(0, 2)) == 0:
            layers.append({ctx.name("l"): f"conv 1x1 {ctx.count(out)}"
                                          f"{draw(st.sampled_from(CONV_ACTS))}"})
            ctx.spend()
    definition = {"params": "[w]"} if width else {}
    definition["layers"] = layers
    ctx.blocks[name] = definition
    instance = f"{name}(w={width})" if width else name
    if out == c and target == s and draw(st.booleans()):
        return [{ctx.name("i"): f"2 x {instance}"}], out, target
    return [{ctx.name("i"): instance}], out, target


@st.composite
def specs(draw):
    """A valid spec: a stem, then one to three steps of the kinds above, maybe a head."""
    ctx = Context(draw, draw(st.integers(6, 14)))
    size = draw(st.integers(8, 12))
    channels = draw(st.integers(2, 4))
    c = draw(st.integers(4, 8))
    settings_ = {"batchnorm": draw(st.sampled_from(["{eps: 0.001}", "{eps: 1e-5}"])),
                 "avgpool": f"{{count_pad: {draw(st.sampled_from(['true', 'false']))}}}"}
    if draw(st.integers(0, 3)) == 0:
        settings_["conv"] = "{layout: sequential}"
    layers = [{"stem": f"conv 3x3 {c}"}]
    s = size
    for _ in range(draw(st.integers(1, 3))):
        if ctx.left <= 0:
            break
        kind = draw(st.sampled_from(["concat", "concat", "group", "residual", "residual",
                                     "residual", "inception", "named"]))
        if kind in ("concat", "group", "named"):
            target = reduced_side(draw, s)
            if kind == "concat":
                step, c = concat(ctx, c, s, target)
            elif kind == "group":
                group, c = unnamed_steps(ctx, c, s, target)
                step = {ctx.name("m"): group}
            else:
                group, c = named_steps(ctx, c, s, target)
                step = {ctx.name("m"): group}
            steps, s = [step], target
        elif kind == "residual":
            steps, c, s = residual_block(ctx, c, s)
        else:
            steps, c, s = inception_block(ctx, c, s)
        layers += steps
    spec = {"name": "net", "input": f"{{channels: {channels}, size: {size}}}"}
    head = draw(st.booleans())
    if head:
        spec["num_classes"] = "5"
    spec["settings"] = settings_
    if ctx.blocks:
        spec["blocks"] = ctx.blocks
    spec["layers"] = layers
    if head:
        spec["head"] = [{"global_pool": "avgpool global"}, {"fc": "linear num_classes"}]
    return emit(spec)


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


@contextmanager
def inside(folder):
    """The current directory set to folder, for the block."""
    previous = os.getcwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(previous)


def sees_the_input(trained, shape) -> bool:
    """assert_equal_outputs' first check: whether the features of its two inputs differ (a
    rare spec's ReLUs zero them all for both, and such an example shows nothing)."""
    torch.manual_seed(1)
    x = torch.randn(2, *shape)
    with torch.no_grad():
        want = trained.forward_features(x)
    return bool((want[0] - want[1]).abs().max() > 100 * TOLERANCE * want.abs().max())


@pytest.mark.slow
@settings(max_examples=150, deadline=None, derandomize=True, database=None,
          report_multiple_bugs=False,  # shrink to one spec, the smallest of any failure
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                 HealthCheck.filter_too_much,
                                 HealthCheck.function_scoped_fixture])
@given(spec=specs())
def test_deploy_module_computes_what_the_trained_one_does(spec, tmp_path):
    """Small valid specs from a grammar of concats (flat, nested, with list branches), average
    pools before 1x1 convs, sibling convs, residual blocks (every branch form, scales,
    activations, shortcuts) and repeats: the deploy module's outputs are the trained module's."""
    note(spec)
    with tempfile.TemporaryDirectory(dir=tmp_path) as folder, inside(folder):
        Path("net.yaml").write_text(spec + "\n")
        network = archc.compile_spec("net.yaml")  # a relative path: tracebacks name the same
        # file every time, so that hypothesis sees the same failure when it replays one
        trained = trained_model(network)
        deploy = archc.build_model(network, deploy=True)
        deploy.load_trained(trained.state_dict())
        assume(sees_the_input(trained, network.input_shape))
        assert_equal_outputs(trained, deploy, network.input_shape)
