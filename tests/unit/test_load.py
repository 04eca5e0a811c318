"""The loader keeps a position on every node and refuses what safe YAML should not do."""

import math

import pytest

from archc.errors import SpecError
from archc.spec.load import MAX_NODES, Mapping, Sequence, Text, load_text


def test_every_node_has_its_position():
    data = load_text("a:\n  b: [1, 'x']\n  c: conv 3x3 8\n", "f.yaml")
    assert isinstance(data, Mapping) and isinstance(data["a"]["b"], Sequence)
    assert str(data.pos) == "f.yaml:1:1"
    assert str(data["a"].key_pos["c"]) == "f.yaml:3:3"
    assert str(data["a"].value_pos["c"]) == "f.yaml:3:6"
    assert [str(p) for p in data["a"]["b"].item_pos] == ["f.yaml:2:7", "f.yaml:2:10"]
    assert str(data["a"]["c"].pos) == "f.yaml:3:6"


def error_of(text):
    with pytest.raises(SpecError) as raised:
        load_text(text, "f.yaml")
    (diagnostic,) = raised.value.diagnostics
    return str(diagnostic)


def test_duplicate_keys_name_both_places():
    assert error_of("a: 1\nb: 2\na: 3\n") == \
        "f.yaml:3:1: error[E112]: duplicate key `a` (first at line 1)"


def test_alias_bomb_is_bounded():
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    message = error_of("\n".join(lines) + "\n")
    assert f"expands to more than {MAX_NODES} nodes" in message


def test_self_referencing_alias_is_bounded():
    assert error_of("a: &x [*x]\n") == \
        "f.yaml:1:4: error[E114]: an alias refers to a node that contains it"


def test_unsafe_tags_are_refused():
    assert "tag 'tag:yaml.org,2002:python/object/apply:os.system' is not supported" in \
        error_of("a: !!python/object/apply:os.system [echo hi]\n")


def test_several_documents_are_refused():
    assert error_of("a: 1\n---\nb: 2\n") == ("f.yaml:2:1: error[E107]: YAML syntax: more than one "
                                             "YAML document: a spec is a single document")


def test_non_utf8_is_located():
    assert error_of(b"a: 1\nb: \xff\n") == "f.yaml:2:4: error[E105]: not UTF-8 text (byte 0xff)"


def value_of(text):
    return load_text(f"a: {text}\n", "f.yaml")["a"]


# Plain scalars are read by YAML 1.2's core schema, not by YAML 1.1 (PyYAML's default).
@pytest.mark.parametrize(("text", "expected"), [
    ("0", 0), ("7", 7), ("-1", -1), ("+5", 5), ("-0", 0), ("010", 10), ("007", 7),
    ("1_000", 1000), ("1_000_000", 1_000_000), ("0x1F", 31), ("0x1f", 31), ("0xFF_FF", 65535),
    ("0o17", 15), ("0o10", 8), (str(10**30), 10**30),
])
def test_integers(text, expected):
    value = value_of(text)
    assert type(value) is int and value == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("1e-5", 1e-5), ("1E5", 1e5), ("1e5", 1e5), ("1.5", 1.5), (".5", 0.5), ("1.", 1.0),
    ("-2.5e-3", -2.5e-3), ("+1.5", 1.5), ("1_000.5", 1000.5), ("1.e5", 1e5), ("0.001", 0.001),
    ("1e400", math.inf),
    (".inf", math.inf), (".Inf", math.inf), (".INF", math.inf), ("+.inf", math.inf),
    ("-.inf", -math.inf), ("-.Inf", -math.inf), ("-.INF", -math.inf),
])
def test_floats(text, expected):
    value = value_of(text)
    assert type(value) is float and value == expected


@pytest.mark.parametrize("text", [".nan", ".NaN", ".NAN"])
def test_not_a_number(text):
    value = value_of(text)
    assert type(value) is float and math.isnan(value)


@pytest.mark.parametrize(("text", "expected"), [
    ("true", True), ("True", True), ("TRUE", True),
    ("false", False), ("False", False), ("FALSE", False),
    ("~", None), ("null", None), ("Null", None), ("NULL", None), ("", None),
])
def test_booleans_and_null(text, expected):
    assert value_of(text) is expected


@pytest.mark.parametrize("text", [
    # YAML 1.1 booleans, sexagesimal numbers, binary, timestamps and `=`
    "yes", "no", "on", "off", "y", "n", "Yes", "NO", "On", "OFF", "tRUE", "nULL",
    "1:30", "-1:30", "190:20:30.15", "0b101", "2001-12-14", "2001-12-14 21:59:43.10", "=",
    # near misses of numbers
    "1_", "_1", "1__0", "1_.5", "0X1F", "-0x1F", "0o8", "0x", "1e", "e5", ".", "1.5.2", ".Nan",
    "inf", "nan", "3x3", "1e5x",
])
def test_other_plain_scalars_are_strings(text):
    value = value_of(text)
    assert type(value) is Text and value == text


@pytest.mark.parametrize("text", ["'1e-5'", '"010"', "'true'", "'~'", "'0x1F'", "!!str 5"])
def test_quoted_or_tagged_numbers_stay_strings(text):
    assert type(value_of(text)) is Text


def test_numbers_as_people_write_them():
    data = load_text("eps: 1e-5\nsize: 010\n", "f.yaml")
    assert data == {"eps": 1e-5, "size": 10}
    assert str(data.value_pos["eps"]) == "f.yaml:1:6"


def test_core_schema_keys_keep_their_text():
    assert list(load_text("yes: 1\n1e-5: 2\n010: 3\ntrue: 4\n", "f.yaml")) == \
        ["yes", "1e-5", "010", "true"]


@pytest.mark.parametrize(("text", "expected"), [
    ("!!int 0x10", 16), ("!!int 010", 10), ("!!float 5", 5.0), ("!!float .inf", math.inf),
    ("!!bool TRUE", True),
])
def test_explicit_core_tags(text, expected):
    value = value_of(text)
    assert type(value) is type(expected) and value == expected


@pytest.mark.parametrize(("text", "message"), [
    ("!!int abc", "a value tagged !!int must be a whole number, got 'abc'"),
    ("!!int 1:30", "a value tagged !!int must be a whole number, got '1:30'"),
    ("!!float x", "a value tagged !!float must be a number, got 'x'"),
    ("!!bool yes", "a value tagged !!bool must be true or false, got 'yes'"),
    ("!!bool", "a value tagged !!bool must be true or false, got ''"),
])
def test_explicit_tag_that_does_not_fit(text, message):
    assert error_of(f"a: {text}\n") == f"f.yaml:1:4: error[E106]: YAML syntax: {message}"


@pytest.mark.parametrize("text", ["9" * 4301, "-" + "9" * 4301, "0x" + "f" * 4000,
                                  "!!int " + "9" * 4301])
def test_integer_too_large_to_read(text):
    assert error_of(f"a: {text}\n") == "f.yaml:1:4: error[E204]: a number too large to read"


def test_largest_readable_integer():
    assert value_of("9" * 4300) == 10**4300 - 1
