"""What the language accepts as a scale's name, and the hints of its errors: an expression
written with spaces in a compact layer, a mistyped word after a conv's filters, and an unknown
activation (with the close one, and only the parameters that could name an activation)."""

from __future__ import annotations

import pytest

from archc.compiler import compile_spec
from archc.errors import SpecError
from archc.spec.compact import compact_to_long
from archc.spec.words import close_word

SPEC = """\
name: net
input: {size: 16}
num_classes: 10
layers:
  - stem: conv 3x3 16
  - pool: avgpool global
head:
  - fc: linear num_classes
"""


def errors(path, overrides=()) -> list[str]:
    with pytest.raises(SpecError) as e:
        compile_spec(str(path), list(overrides))
    return [str(d) for d in e.value.diagnostics]


# ------------------------------------------------------------------------ names of scales


@pytest.mark.parametrize("name", ["half", "train", "float", "cuda", "type", "class", "n", "x",
                                  "_", "__init__", "relu", "num_classes", "ResNet18"])
def test_a_scale_may_have_any_identifier_as_its_name(tmp_path, name):
    """A scale's name is a key of `scales` and `--scale`'s value, never a name in generated
    code: an nn.Module attribute (`half`), a keyword or a builtin names a scale as well."""
    spec = tmp_path / "net.yaml"
    spec.write_text(SPEC)
    network = compile_spec(str(spec), [f"scales={{{name}: {{width: 0.5}}}}", f"scale={name}"])
    assert network.shapes.body["stem"] == (8, 16, 16)  # 16 filters at width 0.5


@pytest.mark.parametrize("name, message", [
    ("1x", "`1x` is not a valid name: use letters, digits and _, not starting with a digit"),
    ("a-b", "`a-b` is not a valid name: use letters, digits and _, not starting with a digit"),
    ("s" * 101, f"`{'s' * 20}...` is a name of 101 characters: archc's bound is 100"),
])
def test_a_scale_name_that_is_not_an_identifier_is_refused(tmp_path, name, message):
    spec = tmp_path / "net.yaml"
    spec.write_text(SPEC)
    assert errors(spec, [f"scales={{'{name}': {{width: 0.5}}}}"]) == [
        f"--set scales={{'{name}': {{width: 0.5}}}}: error[E209]: {message} (scales.{name})"]
    assert errors(spec, [f"scale='{name}'"]) == [
        f"--set scale='{name}': error[E209]: {message} (scale)"]


# -------------------------------------------------------- expressions with spaces, compact form

SPACES = "an expression in a compact layer has no spaces, or is in parentheses"


@pytest.mark.parametrize("text, message", [
    ("conv 1x1 in // 2 linear", f"`in // 2`: {SPACES}: `in//2` or `(in // 2)`"),
    ("conv 1x1 in //2", f"`in //2`: {SPACES}: `in//2` or `(in // 2)`"),
    ("conv 1x1 in// 2 /2 V", f"`in// 2`: {SPACES}: `in//2` or `(in // 2)`"),
    ("conv 1x1 4 * w", f"`4 * w`: {SPACES}: `4*w` or `(4 * w)`"),
    ("conv 1x1 k + n + 2", f"`k + n + 2`: {SPACES}: `k+n+2` or `(k + n + 2)`"),
    ("dwconv 3x3 2 * in", f"`2 * in`: {SPACES}: `2*in` or `(2 * in)`"),
    ("conv 1x1 w groups=g // 2", f"`groups=g // 2`: {SPACES}: `groups=g//2` or "
                                 "`groups=(g // 2)`"),
    ("conv 3x3 w /s * 2", f"`/s * 2`: {SPACES}: `/s*2` or `/(s * 2)`"),
    ("conv 3x3 w / 2", f"`w / 2`: {SPACES}: `w/2` or `(w / 2)`; a stride is written `/2`"),
    ("linear num_classes - 1", f"`num_classes - 1`: {SPACES}: `num_classes-1` or "
                               "`(num_classes - 1)`"),
    ("maxpool 3x3 / 2", "`/ 2`: a stride is written without a space, `/2`"),
])
def test_an_expression_with_spaces_says_how_to_write_it(text, message):
    with pytest.raises(ValueError) as e:
        compact_to_long(text)
    assert str(e.value) == f"`{text}`: {message}"


@pytest.mark.parametrize("text", ["conv 1x1 (k + n) /2", "conv 3x3 w /2 V", "conv 1x1 4*w",
                                  "SE(squeeze=in // 16)", "2 x Block(a=1 + 2)",
                                  "conv 1x1 in//2 pad=1", "avgpool adaptive 7x7"])
def test_expressions_without_spaces_or_in_parentheses_read(text):
    compact_to_long(text)


# ---------------------------------------------------------------------------- close words


@pytest.mark.parametrize("word, close", [
    ("relu7", "relu6"), ("Relu", "relu"), ("ReLU6", "relu6"), ("reul", "relu"),
    ("sigmod", "sigmoid"), ("leakyrelu", "leaky_relu"), ("hard_swish", "hardswish"),
    ("nbn", "nobn"), ("noac", "noact"), ("v", "V"),
    ("X", None), ("swish", None), ("gelu_tanh", None), ("softplus", None),
])
def test_close_word(word, close):
    words = ["V", "valid", "same", "linear", "bn", "nobn", "noact", "bias", "nobias", "relu",
             "relu6", "silu", "gelu", "sigmoid", "tanh", "hardswish", "hardsigmoid",
             "leaky_relu", "mish", "none"]
    assert close_word(word, words) == close


@pytest.mark.parametrize("text, hint", [
    ("conv 3x3 8 relu7", "did you mean `relu6`? "),
    ("conv 3x3 8 /2 V nobn Sigmoid", "did you mean `sigmoid`? "),
    ("conv 3x3 8 group=2", "did you mean `groups=2`? "),
    ("conv 3x3 8 /2 X", ""),
])
def test_a_mistyped_word_after_the_filters_gets_the_close_one(text, hint):
    with pytest.raises(ValueError) as e:
        compact_to_long(text)
    assert f"unexpected `{text.split()[-1]}` ({hint}allowed after the filters: /S, V" in \
        str(e.value)


def test_a_mistyped_word_after_a_pool_kernel_gets_the_close_one():
    with pytest.raises(ValueError) as e:
        compact_to_long("maxpool 3x3 /2 cell")
    assert str(e.value) == ("`maxpool 3x3 /2 cell`: unexpected `cell` (did you mean `ceil`? "
                            "allowed after the kernel: /S, V, valid, same, ceil, pad=)")


# -------------------------------------------------------------------- unknown activations

USE = ("use relu, relu6, silu, gelu, sigmoid, tanh, hardswish, hardsigmoid, leaky_relu, mish, "
       "none or a parameter")


def test_an_unknown_activation_outside_blocks_lists_no_parameter(tmp_path):
    """num_classes is a number: outside blocks no parameter names an activation."""
    spec = tmp_path / "net.yaml"
    spec.write_text(SPEC.replace("conv 3x3 16", "conv 3x3 16 act=relu7"))
    assert errors(spec) == [
        f"{spec}:5:11: error[E410]: unknown activation `relu7` (did you mean `relu6`? {USE}; "
        "parameters here: none) (layers[0].stem.activation)"]


def test_an_unknown_activation_in_a_block_lists_its_parameters(tmp_path):
    spec = tmp_path / "net.yaml"
    spec.write_text(SPEC.replace(
        "layers:\n", "blocks:\n  B:\n    params: [w, act]\n    layers:\n"
                     "      - c: {type: conv, kernel: 1, filters: w, activation: silo}\n"
                     "      - d: {type: conv, kernel: 1, filters: w, activation: acts}\n"
                     "layers:\n  - b: B(w=8, act=relu)\n", 1))
    assert errors(spec) == [
        f"{spec}:8:60: error[E410]: unknown activation `silo` (did you mean `silu`? {USE}; "
        "parameters here: `w`, `act`) (blocks.B.layers[0].c.activation)",
        f"{spec}:9:60: error[E410]: unknown activation `acts` (did you mean `act`? {USE}; "
        "parameters here: `w`, `act`) (blocks.B.layers[1].d.activation)"]
