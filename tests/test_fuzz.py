"""Property-based fuzzing of the compiler front end and its backends.

Each case takes a valid spec (one of the bundled networks, or a small spec written here so that
cases are fast), applies one to three structural mutations to it or to the file it includes
(lines deleted, duplicated or swapped; numbers, values, layer kinds, keys, names, repeat counts
and block arguments replaced; the text truncated; stray YAML characters inserted), and checks
that `archc.compile_spec`

- either returns a network, whose PyTorch source then compiles and imports only torch and whose
  graphviz figures all render to dot source,
- or raises SpecError whose every diagnostic has a message and a position inside one of the
  spec files involved,

and never lets another exception escape, within 2 s per case. The cases are derandomized, so CI
runs the same ones every time; a failure shrinks to a small mutation of a seed.

The inputs this fuzzing found crashing archc are kept as regression tests at the end of the file
(and as fixtures with their exact errors under tests/fixtures/bad/).
"""

from __future__ import annotations

import ast
import builtins
import os
import re
import signal
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import archc
from archc.backends.graphviz import figures
from archc.backends.torch import render
from archc.errors import SpecError

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"
INCLUDE = "common/reduction_a.yaml"
INCLUDE_TEXT = (SPECS / INCLUDE).read_text(encoding="utf-8")

# A small network with a residual block, a parameterised block, a long-form layer and a named
# group; no include, so that a case compiles in a few milliseconds.
TINY_RESIDUAL = """\
name: tiny_res
input: {channels: 3, size: 17}
num_classes: 10

settings:
  batchnorm: {eps: 0.001, momentum: 0.1}
  avgpool: {count_pad: true}

blocks:
  Res:
    title: Residual
    params: [scale, act]
    residual: {scale: scale, activation: act}
    layers:
      - concat:
          branch0: conv 1x1 8
          branch1: [conv 1x1 8, conv 3x3 8]
      - conv2d: conv 1x1 16 linear

  Down:
    params: [c]
    layers:
      - concat:
          conv: conv 3x3 c /2 V
          pool: maxpool 3x3 /2 V
          avg: [avgpool 3x3 /2 V, {type: conv, kernel: 1x1, filters: c}]

layers:
  - stem: conv 3x3 16
  - repeat: 2 x Res(scale=0.1, act=relu)
  - last: Res(scale=1.0, act=none)
  - down: Down(c=8)
  - mixed:
      - conv_a: conv 1x1 8
      - conv_b: {type: conv, kernel: 3, filters: 8, stride: 2, padding: valid}

head:
  - pool: avgpool global
  - drop: dropout 0.2
  - fc: linear num_classes
"""

# A small network that includes Reduction-A, nests blocks (a parameter passed on), splits a
# branch in two and writes its head in long forms.
TINY_REDUCTION = """\
name: tiny_red
include: [common/reduction_a.yaml]
input: {size: [19, 21]}
num_classes: 5

blocks:
  Inner:
    params: [c]
    layers:
      - conv: conv 1x1 c
  Fixed:
    residual: {scale: 0.3, activation: none}
    layers:
      - conv: conv 1x1 12 linear
  Outer:
    params: [c, scale]
    residual: {scale: scale}
    layers:
      - concat:
          branch0: Inner(c=c)
          branch2: Fixed
          branch1:
            - branch1_0: conv 1x1 4
            - concat:
                branch1_1a: conv 1x3 4
                branch1_1b: conv 3x1 4
      - proj: {type: conv, kernel: 1, filters: 12, linear: true}

layers:
  - features:
      - conv 3x3 12 V
      - 2 x Outer(c=4, scale=0.2)
      - ReductionA(k=4, l=4, m=6, n=6)
  - conv_last: conv 1x1 16

head:
  - global_pool: {type: global_avgpool}
  - head_drop: {type: dropout, p: 0.5}
  - classifier: {type: linear, features: num_classes}
"""

# Residuals by a condition, repeat counts of a block's parameters, a block that is an
# nn.Sequential.
TINY_STAGE = """\
name: tiny_stage
input: {size: 12}
num_classes: 3
drop_path_rate: 0.1

blocks:
  Basic:
    params: [width, stride]
    defaults: {stride: 1}
    residual:
      shortcut:
        when: stride != 1 or in != width
        layers:
          - downsample: [conv 1x1 width /stride nobn noact, bn]
    layers:
      - conv1: conv 3x3 width /stride
      - conv2: conv 3x3 width noact
  Inverted:
    params: [c, s]
    defaults: {s: 1}
    residual: {when: s == 1 and in == c, activation: none}
    layers:
      - conv: [conv 1x1 2*in relu6, conv 1x1 c /s noact]
      - drop: drop_path
  Stage:
    params: [width, depth, stride]
    defaults: {stride: 1}
    layers:
      - blocks:
          - Basic(width=width, stride=stride)
          - (depth - 1) x Basic(width=width)
      - tail: depth x Inverted(c=width)
  Stem:
    layers:
      - conv 3x3 4 nobn noact
      - bn
      - relu

layers:
  - stem: Stem
  - layer1: Stage(width=4, depth=2)
  - layer2: Stage(width=8, depth=1, stride=2)

head:
  - pool: avgpool global
  - fc: linear num_classes
"""

SEEDS = {
    "tiny_residual": TINY_RESIDUAL,
    "tiny_reduction": TINY_REDUCTION,
    "tiny_stage": TINY_STAGE,
    "inception_v4": (SPECS / "inception_v4.yaml").read_text(encoding="utf-8"),
    "inception_resnet_v1": (SPECS / "inception_resnet_v1.yaml").read_text(encoding="utf-8"),
    "inception_resnet_v2": (SPECS / "inception_resnet_v2.yaml").read_text(encoding="utf-8"),
}

# --------------------------------------------------------------------------------------------
# Mutations. Each takes hypothesis' `data` and a text and returns the mutated text; the choices
# are drawn from `data`, so that a failing case shrinks.

# The lists include the inputs that once crashed archc (see the tests at the end): integers
# of more than 4300 digits and beyond float range, 1e400 in compact strings, NUL and other
# control characters, a "\ud800" escape, a name ending in a newline, scalar documents, network
# names whose class is a keyword or a generated helper.
HUGE_DIGITS = "9" * 300
NUMBERS = ["0", "-1", "1", "2", "7", "1.5", "1e9", str(10**30), HUGE_DIGITS, "9" * 400,
           "9" * 5000, "-0", ".5", "0.0", "1_000", "0x10", "0o7", ".inf", "-.inf", ".nan", "1e400",
           "3x3", "65537", "1000", "1001"]
VALUES = ["[1]", "{a: 1}", "[]", "{}", "'a string'", '""', "null", "~", "true", "false", "-1",
          "x", "relu", "none", "conv 3x3 8", "[conv 1x1 8, conv 3x3 8]", "!!binary aGk=",
          "&anchor 1", "*anchor", "|\n  text", "|\n  two\n  lines", "|-\n  text", "0.1", ".inf",
          ".nan", HUGE_DIGITS, "9" * 400, "1e400", r"'\N{x}'", "'\"\"\"'", r'"\\"', r'"a\nb"',
          r'"\ud800"', "'{{ x }}'", "'é'"]
DOCUMENTS = ["[1]", "{a: 1}", "[]", "{}", "'a string'", '""', "[conv 1x1 8, conv 3x3 8]",
             "{name: x}", "null", "~", "5", "true", "0.1", "x"]
KINDS = ["conv", "maxpool", "avgpool", "linear", "dropout", "global", "block", "concat", "Conv",
         "conv2d", "zzqx", "", "relu", "none", "num_classes", "x"]
KEY_NEAR_MISSES = {
    "filters": ["filter", "Filters"], "layers": ["layer", "Layers"], "params": ["param"],
    "blocks": ["block"], "include": ["includes"], "input": ["inputs"], "channels": ["chanels"],
    "size": ["sizes"], "head": ["heads"], "residual": ["residuals"], "scale": ["scales"],
    "activation": ["activations"], "kernel": ["kernels"], "type": ["typ"], "args": ["arg"],
    "settings": ["setting"], "batchnorm": ["batch_norm"], "num_classes": ["numclasses"],
    "concat": ["concats", "Concat"], "title": ["titel"], "padding": ["pad"], "stride": ["strides"],
    "features": ["feature"], "count_pad": ["countpad"], "name": ["names"], "p": ["q"],
    "linear": ["lin"], "momentum": ["moment"], "eps": ["epsilon"], "repeat": ["repeats"],
}
IDENTIFIERS = ["class", "lambda", "match", "_", "None", "True", "def", "import", "self", "type",
               "forward", "torch", "nn", "F", "super", "training", "relu", "none", "concat",
               "num_classes", "in_channels", "__init__", "__x", "1abc", "a-b", "a b", "a.b",
               "é", "ñame", "x" * 300, "A", "conv", "ReductionA", "Block35", "stem", "k", "c",
               "scale", "blocks", "layers", "a:b", "'quoted'", "x#y", "0", "none_", "True_",
               "global_avg_pool", "conv_bn_re_l_u"]
JUNK = ["\t", ":", ": ", "'", '"', "[", "]", "{", "}", ",", "&a ", "*a", "!", "!!str ", "%",
        "@", "`", "- ", "\n", "#", "|", ">", "\\", "?", "\ufeff", "\r", "\u2028", "\udcff",
        "\x00", "\x01", "\x7f", "x", " ", "  ", "<<: ", "---\n", "...\n", "=", "(", ")", "/"]
REPEATS = ["0", "-1", "1", "999", "1000", "1001", "100000", str(10**30), "1.5", "x"]
ARG_VALUES = ["-1", "0", "1", "relu", "none", "1.5", "num_classes", "k", "c", "scale", "x", "",
              "1e9", "1e400", "-1e400", str(10**30), "(", ")", "k=1", "true", "null", "[1]",
              "0.0", "-0.5", "2"]
INCLUDES = ["[spec.yaml]", "[../spec.yaml]", "[common/reduction_a.yaml, common/reduction_a.yaml]",
            "[common/../common/reduction_a.yaml, common/reduction_a.yaml]", "[reduction_a.yaml]",
            "[common]", "[.]", "[missing.yaml]", "[/dev/null]", "['']", "[]",
            "common/reduction_a.yaml", "[[common/reduction_a.yaml]]", "[{a: 1}]", "[1]", "null",
            "{}"]

_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_KEY = re.compile(r"([A-Za-z_]\w*)(?=:(?:\s|$))")
_KIND = re.compile(r"\b(conv|maxpool|avgpool|linear|dropout|global_avgpool|global)\b")
_BLOCK_DEF = re.compile(r"^  ([A-Za-z_]\w*):\s*(?:#.*)?$", re.M)
_IDENT = re.compile(r"[A-Za-z_]\w*")
_VALUE = re.compile(r"(?<=:)[ \t]+([^\s#][^#\n]*?)[ \t]*(?=#|$)", re.M)
_ITEM = re.compile(r"^[ \t]*-[ \t]+([^\s#][^#\n]*?)[ \t]*(?=#|$)", re.M)
_REPEAT = re.compile(r"(\d+)(?= x )")
_ARG = re.compile(r"([A-Za-z_]\w*)=([^,)\s]*)")


def _code_matches(pattern: re.Pattern, text: str, group: int = 0) -> list[tuple[int, int]]:
    """The spans of `pattern` outside comments (the specs have no `#` in values)."""
    spans = []
    for m in pattern.finditer(text):
        start = m.start(group)
        line_start = text.rfind("\n", 0, start) + 1
        if "#" not in text[line_start:start]:
            spans.append((start, m.end(group)))
    return spans


def _replace_span(data, text: str, spans, choices) -> str:
    if not spans:
        return text
    start, end = data.draw(st.sampled_from(spans))
    new = data.draw(st.sampled_from(choices))
    return text[:start] + new + text[end:]


def delete_lines(data, text):
    lines = text.splitlines(keepends=True)
    if not lines:
        return text
    i = data.draw(st.integers(0, len(lines) - 1))
    n = data.draw(st.integers(1, 4))
    return "".join(lines[:i] + lines[i + n:])


def duplicate_line(data, text):
    lines = text.splitlines(keepends=True)
    if not lines:
        return text
    i = data.draw(st.integers(0, len(lines) - 1))
    j = data.draw(st.integers(0, len(lines)))
    line = lines[i] if lines[i].endswith("\n") else lines[i] + "\n"
    return "".join(lines[:j] + [line] + lines[j:])


def swap_lines(data, text):
    lines = text.splitlines(keepends=True)
    if len(lines) < 2:
        return text
    if not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    i = data.draw(st.integers(0, len(lines) - 1))
    j = data.draw(st.integers(0, len(lines) - 1))
    lines[i], lines[j] = lines[j], lines[i]
    return "".join(lines)


def change_number(data, text):
    return _replace_span(data, text, _code_matches(_NUMBER, text), NUMBERS)


def retype_value(data, text):
    if data.draw(st.integers(0, 15)) == 0:  # the whole document
        return data.draw(st.sampled_from(DOCUMENTS))
    spans = _code_matches(_VALUE, text, 1) + _code_matches(_ITEM, text, 1)
    return _replace_span(data, text, spans, VALUES)


def swap_kind(data, text):
    blocks = sorted(set(_BLOCK_DEF.findall(text)) | {"ReductionA"})
    return _replace_span(data, text, _code_matches(_KIND, text), KINDS + blocks)


def rename_key(data, text):
    spans = _code_matches(_KEY, text)
    if not spans:
        return text
    start, end = data.draw(st.sampled_from(spans))
    key = text[start:end]
    near = KEY_NEAR_MISSES.get(key, []) + [key[:-1], key + "s", key.upper(), key + "_"]
    new = data.draw(st.sampled_from(near + ["class", "lambda", "match", "_", "def", "None"]))
    return text[:start] + new + text[end:]


def rename_identifier(data, text):
    """Any name (a key, a block reference, an argument, a value) to another or an invalid one."""
    spans = [s for s in _code_matches(_IDENT, text) if text[s[0]:s[1]] not in ("x", "V")]
    return _replace_span(data, text, spans, IDENTIFIERS)


def truncate(data, text):
    return text[:data.draw(st.integers(0, len(text)))]


def insert_junk(data, text):
    i = data.draw(st.integers(0, len(text)))
    return text[:i] + data.draw(st.sampled_from(JUNK)) + text[i:]


def change_repeat(data, text):
    return _replace_span(data, text, _code_matches(_REPEAT, text, 1), REPEATS)


def replace_argument(data, text):
    spans = _code_matches(_ARG, text)
    if not spans:
        return text
    start, end = data.draw(st.sampled_from(spans))
    m = _ARG.fullmatch(text, start, end)
    how = data.draw(st.sampled_from(["value", "name", "delete", "twice"]))
    if how == "value":
        new = f"{m[1]}={data.draw(st.sampled_from(ARG_VALUES))}"
    elif how == "name":
        new = f"{data.draw(st.sampled_from(IDENTIFIERS))}={m[2]}"
    elif how == "delete":
        new = ""
    else:
        new = f"{m[0]}, {m[0]}"
    return text[:start] + new + text[end:]


def change_include(data, text):
    """Point an include elsewhere (itself, a folder, a missing file, the including spec, the
    same file twice), or add an include to a file that has none."""
    target = data.draw(st.sampled_from(INCLUDES))
    m = re.search(r"^include:.*$", text, re.M)
    if m is None:
        return f"include: {target}\n" + text
    return text[:m.start()] + f"include: {target}" + text[m.end():]


MUTATIONS = [delete_lines, duplicate_line, swap_lines, change_number, retype_value, swap_kind,
             rename_key, rename_identifier, truncate, insert_junk, change_repeat,
             replace_argument, change_include]

# --------------------------------------------------------------------------------------------
# The property.


class _Hang(BaseException):
    """Raised by the alarm: a BaseException, so that no `except Exception` in archc hides it."""


@contextmanager
def _hang_guard(seconds: int = 20):
    """Fail with a traceback instead of hanging CI if a case never ends (the 2 s deadline is
    hypothesis', checked only once a case returns)."""
    if not hasattr(signal, "SIGALRM") or threading.current_thread() is not threading.main_thread():
        yield
        return

    def alarm(signum, frame):
        raise _Hang(f"a case ran for more than {seconds} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _write(path: str, text: str) -> None:
    # surrogateescape: a mutation may insert "\udcff", which becomes the invalid UTF-8 byte 0xff.
    Path(path).write_bytes(text.encode("utf-8", "surrogateescape"))


def check_spec(files: dict[str, str], spec: str):
    """Write `files` (relative path -> text) into a fresh folder, compile `spec` from there and
    check the outcome: a network whose backends work (returned), or located diagnostics (None
    returned)."""
    with tempfile.TemporaryDirectory(prefix="archc_fuzz_") as tmp:
        texts = {}
        for rel, text in files.items():
            path = os.path.normpath(os.path.join(tmp, rel))
            os.makedirs(os.path.dirname(path), exist_ok=True)
            _write(path, text)
            texts[path] = text
        spec_path = os.path.join(tmp, spec)
        try:
            with _hang_guard():
                network = archc.compile_spec(spec_path)
        except SpecError as e:
            check_diagnostics(e, texts)
            return None
        check_backends(network)
        return network


def check_diagnostics(error: SpecError, texts: dict[str, str]) -> None:
    assert error.diagnostics, "SpecError without diagnostics"
    for d in error.diagnostics:
        assert isinstance(d.message, str) and d.message.strip(), f"empty message: {d!r}"
        assert d.pos is not None, f"diagnostic without a position: {d!r}"
        assert d.pos.file in texts, f"position in a file not involved: {d!r} (files: {list(texts)})"
        text = texts[d.pos.file]
        n_lines = len(text.splitlines())
        if d.pos.line == 0:
            # Only an error about the file as a whole (it cannot be read) has no line; every file
            # of these cases exists and is readable.
            assert not os.path.isfile(d.pos.file), f"line 0 for a readable file: {d!r}"
        else:
            assert 1 <= d.pos.line <= n_lines + 1, f"line outside the file ({n_lines} lines): {d!r}"
            assert d.pos.col >= 1, f"column < 1: {d!r}"


def check_backends(network) -> None:
    source = render(network)
    assert isinstance(source, str)
    tree = ast.parse(compile(source, "<gen>", "exec", flags=ast.PyCF_ONLY_AST))
    compile(source, "<gen>", "exec")
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                assert alias.name.split(".")[0] == "torch", f"generated code imports {alias.name}"
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0 and (node.module or "").split(".")[0] == "torch", \
                f"generated code imports from {node.module}"
    classes = [node.name for node in tree.body if isinstance(node, ast.ClassDef)]
    twice = sorted({name for name in classes if classes.count(name) > 1})
    assert not twice, f"generated code defines classes twice (one shadows the other): {twice}"
    undefined = _undefined_names(tree)
    assert not undefined, f"generated code uses undefined names: {sorted(undefined)}"
    drawn = figures(network)
    assert isinstance(drawn, dict) and drawn
    for name, figure in drawn.items():
        assert isinstance(figure.source, str) and figure.source, name


def _undefined_names(tree: ast.AST) -> set[str]:
    """Names the generated module reads but binds nowhere (`inf` for an infinite argument, say).
    A name bound anywhere counts as bound, so each name reported is a NameError wherever used."""
    bound = set(dir(builtins))
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            bound.add(node.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound.update(alias.asname or alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
    return {node.id for node in ast.walk(tree)
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)} - bound


@st.composite
def mutated_case(draw, seed: str):
    """(files, spec): a seed's text and its include, one to three mutations applied to them."""
    spec_text = SEEDS[seed]
    include_text = INCLUDE_TEXT
    has_include = INCLUDE in spec_text
    data = _Draw(draw)
    for _ in range(draw(st.integers(1, 3))):
        mutation = draw(st.sampled_from(MUTATIONS))
        # Now and then the included file is mutated instead.
        if has_include and draw(st.integers(0, 5)) == 0:
            include_text = mutation(data, include_text)
        else:
            spec_text = mutation(data, spec_text)
    files = {"spec.yaml": spec_text}
    if has_include:
        files[INCLUDE] = include_text
    return files, "spec.yaml"


class _Draw:
    """Gives the mutations the `data.draw` interface inside a composite strategy."""

    def __init__(self, draw):
        self.draw = draw


FUZZ = dict(deadline=2000, derandomize=True, database=None, print_blob=False,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                   HealthCheck.filter_too_much])


@pytest.mark.parametrize("seed", list(SEEDS))
def test_seeds_compile(seed):
    """The unmutated seeds compile and their backends work (else the fuzzing proves little)."""
    files = {"spec.yaml": SEEDS[seed]}
    if INCLUDE in SEEDS[seed]:
        files[INCLUDE] = INCLUDE_TEXT
    assert check_spec(files, "spec.yaml") is not None


@pytest.mark.slow
@settings(max_examples=600, **FUZZ)
@given(mutated_case("tiny_residual"))
def test_fuzz_tiny_residual(case):
    check_spec(*case)


@pytest.mark.slow
@settings(max_examples=500, **FUZZ)
@given(mutated_case("tiny_reduction"))
def test_fuzz_tiny_reduction(case):
    check_spec(*case)


@pytest.mark.slow
@settings(max_examples=500, **FUZZ)
@given(mutated_case("tiny_stage"))
def test_fuzz_tiny_stage(case):
    check_spec(*case)


@pytest.mark.slow
@settings(max_examples=350, **FUZZ)
@given(mutated_case("inception_v4"))
def test_fuzz_inception_v4(case):
    check_spec(*case)


@pytest.mark.slow
@settings(max_examples=300, **FUZZ)
@given(mutated_case("inception_resnet_v1"))
def test_fuzz_inception_resnet_v1(case):
    check_spec(*case)


@pytest.mark.slow
@settings(max_examples=350, **FUZZ)
@given(mutated_case("inception_resnet_v2"))
def test_fuzz_inception_resnet_v2(case):
    check_spec(*case)


# --------------------------------------------------------------------------------------------
# Inputs that crashed archc when the fuzzing above (or probing the same property by hand) found
# them, each reduced to a small spec: each must now compile or fail with located errors.

_TINY_BLOCK = """\
name: tiny
input: {size: 17}
blocks:
  Res:
    params: [scale]
    residual: {scale: scale}
    layers:
      - conv2d: conv 1x1 8 linear
layers:
  - stem: conv 3x3 8
  - res: Res(scale=0.5)
"""


def test_once_crashed_base_compiles():
    """The spec the block crashes below are made from compiles."""
    assert check_spec({"spec.yaml": _TINY_BLOCK}, "spec.yaml") is not None
    fixed_scale = _TINY_BLOCK.replace("    params: [scale]\n", "").replace(
        "{scale: scale}", "{scale: 0.5}").replace("Res(scale=0.5)", "Res")
    assert check_spec({"spec.yaml": fixed_scale}, "spec.yaml") is not None


def test_once_crashed_integer_over_4300_digits():
    spec = ("name: tiny\ninput: {channels: 3, size: %s}\nlayers:\n  - stem: conv 3x3 8\n"
            % ("9" * 4301))
    check_spec({"spec.yaml": spec}, "spec.yaml")


def test_once_crashed_nul_character():
    spec = "name: tiny\ninput: {channels: 3, size: 17}\nlayers:\n  - stem: conv 3x3 8\x00\n"
    check_spec({"spec.yaml": spec}, "spec.yaml")


@pytest.mark.parametrize("document", ["null\n", "5\n", "true\n", "# only a comment\n---\n"])
def test_once_crashed_scalar_document_has_no_position(document):
    check_spec({"spec.yaml": document}, "spec.yaml")


def test_once_crashed_scalar_included_file_has_no_position():
    spec = ("name: tiny\ninclude: [common/lib.yaml]\ninput: {size: 17}\n"
            "layers:\n  - stem: conv 3x3 8\n")
    check_spec({"spec.yaml": spec, "common/lib.yaml": "null\n"}, "spec.yaml")


def test_once_crashed_residual_scale_huge_integer():
    spec = _TINY_BLOCK.replace("    params: [scale]\n", "").replace(
        "{scale: scale}", "{scale: %s}" % ("9" * 400)).replace("Res(scale=0.5)", "Res")
    check_spec({"spec.yaml": spec}, "spec.yaml")


def test_once_crashed_lone_surrogate_in_layer():
    spec = 'name: tiny\ninput: {size: 17}\nlayers:\n  - stem: "\\ud800"\n'
    check_spec({"spec.yaml": spec}, "spec.yaml")


def test_once_crashed_infinite_block_argument():
    check_spec({"spec.yaml": _TINY_BLOCK.replace("scale=0.5", "scale=1e400")}, "spec.yaml")


@pytest.mark.parametrize("where", ["network", "layer", "block"])
def test_once_crashed_name_with_trailing_newline(where):
    spec = {
        "network": _TINY_BLOCK.replace("name: tiny", 'name: "tiny\\n"'),
        "layer": _TINY_BLOCK.replace("- stem:", '- "stem\\n":'),
        "block": _TINY_BLOCK.replace("  Res:", '  "Res\\n":').replace(
            "Res(scale=0.5)", '{type: block, block: "Res\\n", args: {scale: 0.5}}'),
    }[where]
    check_spec({"spec.yaml": spec}, "spec.yaml")


@pytest.mark.parametrize("name", ["'true'", "none_", "false_", "True_"])
def test_once_crashed_network_class_is_a_keyword(name):
    check_spec({"spec.yaml": _TINY_BLOCK.replace("name: tiny", f"name: {name}")}, "spec.yaml")


@pytest.mark.parametrize("name", ["global_avg_pool", "conv_bn_re_l_u"])
def test_once_crashed_network_class_shadows_a_helper(name):
    spec = (_TINY_BLOCK.replace("name: tiny", f"name: {name}")
            .replace("conv2d: conv 1x1 8 linear", "conv2d: conv 1x1 8")
            + "head:\n  - pool: avgpool global\n  - fc: linear num_classes\n")
    check_spec({"spec.yaml": spec}, "spec.yaml")
