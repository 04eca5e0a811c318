"""The loader keeps a position on every node and refuses what safe YAML should not do."""

import pytest

from archc.errors import SpecError
from archc.spec.load import MAX_NODES, Mapping, Sequence, load_text


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
