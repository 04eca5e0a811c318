"""Hostile and unusual input reaches its bound before it costs anything, and every position is
counted the same way whatever the file's line breaks."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from archc import files
from archc.backends.torch import render
from archc.compiler import compile_spec
from archc.errors import SpecError
from archc.limits import MAX_INCLUDES
from archc.spec.load import MAX_BYTES, MAX_NODES, MAX_TOKENS, load_file, load_text

ROOT = Path(__file__).resolve().parent.parent
SPEC = "name: tiny\ninput: {channels: 3, size: 32}\nlayers:\n  - stem: conv 3x3 8\n"


def errors_of(path) -> list[str]:
    with pytest.raises(SpecError) as raised:
        compile_spec(str(path))
    return [str(d) for d in raised.value.diagnostics]


def check_in_a_subprocess(path, cwd) -> subprocess.CompletedProcess:
    """`archc check`, in a process of its own: a regression here would hang or fill memory."""
    return subprocess.run([sys.executable, "-m", "archc.cli", "check", str(path)], cwd=cwd,
                          capture_output=True, text=True, timeout=60)


# ------------------------------------------------------------- paths checked before they are read


def test_a_fifo_is_not_opened(tmp_path):
    os.mkfifo(tmp_path / "spec.yaml")  # opening it to read would wait for a writer
    result = check_in_a_subprocess("spec.yaml", tmp_path)
    assert result.stderr == "spec.yaml: error[E115]: is a FIFO (named pipe), not a spec file\n"
    assert result.returncode == 1


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="no /dev/zero")
def test_a_device_is_not_read():
    result = check_in_a_subprocess("/dev/zero", ROOT)
    assert result.stderr == "/dev/zero: error[E115]: is a character device, not a spec file\n"


def test_a_huge_sparse_file_is_refused_by_its_size(tmp_path):
    with open(tmp_path / "spec.yaml", "wb") as f:
        f.truncate(4 * 2**30)  # 4 GiB of zeros, which take no disk space
    started = time.perf_counter()
    result = check_in_a_subprocess("spec.yaml", tmp_path)
    assert result.stderr == "spec.yaml: error[E104]: file is larger than 1 MiB\n"
    assert time.perf_counter() - started < 10


def test_at_most_one_byte_more_than_the_bound_is_read(tmp_path, monkeypatch):
    """A file that grows after its size was checked: pretend the check saw a small file."""
    path = tmp_path / "spec.yaml"
    path.write_bytes(b"# " + b"x" * (2 * MAX_BYTES))
    monkeypatch.setattr(files, "checked_size", lambda status, limit, what: 0)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SpecError) as raised:
        load_file(path.name)
    assert str(raised.value) == "spec.yaml: error[E104]: file is larger than 1 MiB"


def include(tmp_path, *names: str) -> Path:
    spec = tmp_path / "spec.yaml"
    spec.write_text(f"include: {json.dumps(list(names))}\n" + SPEC, encoding="utf-8")
    return spec


def test_an_included_fifo_is_not_opened(tmp_path, monkeypatch):
    os.mkfifo(tmp_path / "blocks.yaml")
    include(tmp_path, "blocks.yaml")
    result = check_in_a_subprocess("spec.yaml", tmp_path)
    assert result.stderr == ("spec.yaml:1:11: error[E115]: included `blocks.yaml` is a FIFO "
                             "(named pipe), not a spec file (include)\n")


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="no /dev/zero")
def test_an_included_device_is_not_read(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert errors_of(include(tmp_path, "/dev/zero")) == [
        f"{tmp_path}/spec.yaml:1:11: error[E115]: included `/dev/zero` is a character device, "
        "not a spec file (include)"]


def test_an_included_sparse_file_is_refused_by_its_size(tmp_path, monkeypatch):
    with open(tmp_path / "blocks.yaml", "wb") as f:
        f.truncate(4 * 2**30)
    monkeypatch.chdir(tmp_path)
    assert errors_of(include(tmp_path, "blocks.yaml")) == \
        [f"{tmp_path}/blocks.yaml: error[E104]: file is larger than 1 MiB"]


def test_a_path_with_a_line_break_stays_on_one_line(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    spec = include(tmp_path, "a\nb.yaml")
    assert errors_of(spec) == [
        f"{tmp_path}/spec.yaml:1:11: error[E301]: included file `a\\nb.yaml` not found (looked "
        f"for {tmp_path}/a\\nb.yaml) (include)"]
    os.mkfifo(tmp_path / "a\nb.yaml")
    result = check_in_a_subprocess("spec.yaml", tmp_path)
    assert result.stderr == ("spec.yaml:1:11: error[E115]: included `a\\nb.yaml` is a FIFO "
                             "(named pipe), not a spec file (include)\n")


# ------------------------------------------------------------------------------ include bounds


def test_a_long_chain_of_includes_stops_at_the_bound(tmp_path, monkeypatch):
    (tmp_path / "a0.yaml").write_text("include: [a1.yaml]\n" + SPEC, encoding="utf-8")
    for i in range(1, 1200):
        (tmp_path / f"a{i}.yaml").write_text(f"include: [a{i + 1}.yaml]\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    started = time.perf_counter()
    assert errors_of("a0.yaml") == [
        f"a{MAX_INCLUDES}.yaml:1:11: error[E307]: more than {MAX_INCLUDES} included files "
        f"(a0.yaml -> a1.yaml -> a2.yaml -> ... -> a{MAX_INCLUDES}.yaml -> "
        f"a{MAX_INCLUDES + 1}.yaml) (include)"]
    assert time.perf_counter() - started < 5


def test_many_includes_of_one_file_stop_at_the_bound(tmp_path, monkeypatch):
    names = [f"b{i}.yaml" for i in range(MAX_INCLUDES + 5)]
    for name in names:
        (tmp_path / name).write_text("blocks: {}\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    spec = include(tmp_path, *names)
    column = len('include: ["') + sum(len(f'"{name}", ') for name in names[:MAX_INCLUDES])
    assert errors_of(spec.name) == [
        f"spec.yaml:1:{column}: error[E307]: more than {MAX_INCLUDES} included files "
        f"(spec.yaml -> b{MAX_INCLUDES}.yaml) (include)"]


def test_the_bytes_of_all_includes_are_bounded(tmp_path, monkeypatch):
    for name in ("b1.yaml", "b2.yaml"):
        (tmp_path / name).write_bytes(b"# " + b"x" * (MAX_BYTES // 2) + b"\nblocks: {}\n")
    monkeypatch.chdir(tmp_path)
    assert errors_of(include(tmp_path, "b1.yaml", "b2.yaml").name) == [
        "spec.yaml:1:22: error[E307]: the spec and its includes are larger than 1 MiB in all "
        "(spec.yaml -> b2.yaml) (include)"]


def test_includes_that_reach_a_file_twice_read_it_once(tmp_path, monkeypatch):
    (tmp_path / "common.yaml").write_text(
        "blocks:\n  Stem:\n    layers:\n      - conv: conv 3x3 8\n", encoding="utf-8")
    (tmp_path / "b.yaml").write_text("include: [common.yaml]\n", encoding="utf-8")
    spec = tmp_path / "spec.yaml"
    spec.write_text("include: [b.yaml, common.yaml]\n"
                    + SPEC.replace("conv 3x3 8", "Stem"), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    network = compile_spec("spec.yaml")
    assert network is not None


# ------------------------------------------------------------------------- YAML's own bounds


def error_of(text) -> str:
    with pytest.raises(SpecError) as raised:
        load_text(text, "f.yaml")
    (diagnostic,) = raised.value.diagnostics
    return str(diagnostic)


def test_too_many_nodes_is_located_where_the_bound_is_passed():
    column = len("a: [") + 3 * (MAX_NODES - 3) + 1  # the mapping, `a` and the list are 3 nodes
    assert error_of("a: [" + "0, " * MAX_NODES + "]\n") == \
        f"f.yaml:1:{column}: error[E116]: the document has more than {MAX_NODES} nodes"


def test_aliases_count_as_nodes():
    assert "more than 20000 nodes" in error_of("a: &a x\nb: [" + "*a, " * MAX_NODES + "]\n")


def test_tokens_that_make_no_nodes_are_bounded():
    assert error_of("a: 1\n" + "...\n" * MAX_TOKENS) == \
        f"f.yaml:{MAX_TOKENS - 5}:1: error[E116]: the document has more than {MAX_TOKENS} " \
        "YAML tokens"


def test_nesting_far_beyond_the_parser_is_too_deep():
    assert error_of("name: " + "[" * 100_000) == \
        "f.yaml:1:107: error[E114]: nested more than 100 levels deep"
    assert error_of("a:\n" + "".join(" " * i + f"k{i}:\n" for i in range(1, 200))) == \
        "f.yaml:101:101: error[E114]: nested more than 100 levels deep"


def test_an_alias_bomb_is_still_an_alias_bomb():
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 6)]
    assert error_of("\n".join(lines) + "\n") == \
        f"f.yaml:5:5: error[E113]: this expands to more than {MAX_NODES} nodes through " \
        "anchors and aliases"


def test_an_escape_beyond_unicode_is_a_syntax_error():
    assert error_of('a: 1\nb: "x\\U00110000"\n') == \
        "f.yaml:2:6: error[E106]: YAML syntax: an escape for a character beyond U+10FFFF"
    assert error_of('b: "\\UFFFFFFFF"\n') == \
        "f.yaml:1:5: error[E106]: YAML syntax: an escape for a character beyond U+10FFFF"


def test_long_names_in_messages_are_cut():
    assert len(error_of("a: !" + "x" * 10_000 + " 1\n")) < 200
    assert len(error_of(f"? {'k' * 5000}\n: 1\n? {'k' * 5000}\n: 2\n")) < 200


# ------------------------------------------------------------------------------------ positions

# A valid spec and one with errors on lines 5 and 6; line 2 is a comment where NEL, LS or PS go.
GOOD = ("name: tiny\n"
        "# a comment, HERE in it\n"
        "input: {channels: 3, size: 32}\n"
        "layers:\n"
        "  - stem: conv 3x3 16 /2\n"
        "  - mixed: {type: conv, kernel: 3x3, filters: 8}\n"
        "  - pool: avgpool global\n")
BAD = GOOD.replace("/2\n", "/2 X\n").replace("mixed: {", "{")


def variants(text: str) -> dict[str, str]:
    return {
        "CRLF": text.replace("\n", "\r\n"),
        "CR": text.replace("\n", "\r"),
        "BOM": "\ufeff" + text,
        **{f"U+{ord(c):04X}": text.replace("HERE", c) for c in "\x85\u2028\u2029"},
        "CR, BOM and LS": "\ufeff" + text.replace("HERE", "\u2028").replace("\n", "\r"),
    }


def write(path: Path, text: str) -> Path:
    path.write_bytes(text.encode("utf-8"))
    return path


@pytest.mark.parametrize("variant", variants(GOOD))
def test_errors_are_where_they_are_with_newlines(variant, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    expected = errors_of(write(Path("spec.yaml"), BAD))
    assert [line.split(": error")[0] for line in expected] == ["spec.yaml:5:11", "spec.yaml:6:5"]
    assert errors_of(write(Path("spec.yaml"), variants(BAD)[variant])) == expected


@pytest.mark.parametrize("variant", variants(GOOD))
def test_generated_code_names_the_lines_it_comes_from(variant, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    lines = re.findall(r"# spec\.yaml:(\d+)", render(compile_spec(str(write(Path("spec.yaml"),
                                                                          GOOD)))))
    assert lines and set(lines) >= {"5", "6", "7"}
    code = render(compile_spec(str(write(Path("spec.yaml"), variants(GOOD)[variant]))))
    assert re.findall(r"# spec\.yaml:(\d+)", code) == lines


@pytest.mark.parametrize("char", ["\x85", "\u2028", "\u2029"])
def test_nel_ls_and_ps_are_ordinary_characters(char):
    data = load_text(f"# a comment {char} still\na: x{char}y\nb: 'x{char}y'\nc: |\n  x{char}y\n",
                     "f.yaml")
    assert data == {"a": f"x{char}y", "b": f"x{char}y", "c": f"x{char}y\n"}
    assert str(data.value_pos["c"]) == "f.yaml:4:4"
    assert error_of(f'a: "\\{char}"\n') == \
        f"f.yaml:1:6: error[E106]: YAML syntax: found unknown escape character {char!r}"


def test_positions_of_reader_and_decoding_errors():
    assert error_of("\ufeffa: 1\r\n\u2028b: é\x07\n") == \
        "f.yaml:2:6: error[E106]: YAML syntax: character U+0007 is not allowed"
    assert error_of("\ufeffa: 1\r\n\u2028b: é\x07\n".encode()) == \
        "f.yaml:2:6: error[E106]: YAML syntax: character U+0007 is not allowed"
    assert error_of("\ufeffa: 1\r\u2028b: é".encode() + b"\xff") == \
        "f.yaml:2:6: error[E105]: not UTF-8 text (byte 0xff)"
