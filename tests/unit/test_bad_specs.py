"""Bad specs: each fixture under tests/fixtures/bad/ must fail `archc check` with exactly the
errors written at its top, at exactly the places written there, and never with a traceback.

A fixture lists its expected diagnostics in comment lines, one per error, in the order archc
prints them (by file, line, column):

    # expect: LINE:COL: error[CODE]: MESSAGE (KEY.PATH)

The path of the fixture, as passed on the command line, is prefixed to each line. An error located
in another file (an included one) names that file relative to the fixture's folder:

    # expect: include/cycle_b.yaml:3:11: error[CODE]: MESSAGE (KEY.PATH)

and `{dir}` in a line stands for the fixture folder as archc prints it (tests/fixtures/bad).
Files under tests/fixtures/bad/include/ are helpers included by fixtures, not cases themselves.
"""

from __future__ import annotations

import re
import subprocess
import sys
import traceback
from pathlib import Path

import pytest

from archc.cli import main

ROOT = Path(__file__).resolve().parents[2]
BAD = ROOT / "tests" / "fixtures" / "bad"
BAD_REL = BAD.relative_to(ROOT).as_posix()  # how paths print: relative to the repository root
CASES = sorted(BAD.glob("*.yaml"))

_EXPECT = re.compile(r"^# expect: (.*)$")
_POSITIONED = re.compile(r"^\d+:\d+: error\[E\d{3}\]: ")


def expected_lines(path: Path) -> list[str]:
    """The `# expect:` lines of a fixture's leading comments, as archc prints them."""
    rel = f"{BAD_REL}/{path.name}"
    lines = []
    # Bytes, so that a fixture of invalid UTF-8 can still state its expectation in its first line.
    for raw in path.read_bytes().splitlines():
        text = raw.decode("utf-8", errors="replace")
        if not text.startswith("#"):
            break
        if m := _EXPECT.match(text):
            line = m[1].replace("{dir}", BAD_REL)
            lines.append(f"{rel}:{line}" if _POSITIONED.match(line) else f"{BAD_REL}/{line}")
    return lines


def run_check(capsys, path: str) -> tuple[int, str, str]:
    try:
        status = main(["check", path])
    except SystemExit as e:  # argparse
        status = e.code
    except Exception:  # noqa: BLE001 - a crash is the failure this test exists to find
        pytest.fail(f"archc check {path} raised:\n{traceback.format_exc()}")
    out, err = capsys.readouterr()
    return status, out, err


def test_there_are_enough_cases():
    assert len(CASES) >= 25


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_bad_spec(path: Path, capsys, monkeypatch):
    expected = expected_lines(path)
    assert expected, f"{path.name} has no `# expect:` line"
    monkeypatch.chdir(ROOT)
    status, out, err = run_check(capsys, f"{BAD_REL}/{path.name}")
    assert "Traceback" not in err
    assert out.strip() == "", "a failed check prints no table"
    assert err.splitlines() == expected
    assert status == 1


# Cases that cannot carry their expectation in a comment, made in tmp_path: the file's bytes
# (None: no file at all; "dir": a directory) and what archc prints after the path.
GENERATED = {
    "zero_bytes": (b"", ":1:1: error[E108]: the file is empty"),
    "only_whitespace": (b"  \n\n   \n", ":1:1: error[E108]: the file is empty"),
    "bom_then_bad_byte": (b"\xef\xbb\xbfname: tiny\n\xff\n",
                          ":2:1: error[E105]: not UTF-8 text (byte 0xff)"),
    "nested_beyond_the_parser": (b"name: " + b"[" * 20000 + b"]" * 20000 + b"\n",
                                 ":1:107: error[E114]: nested more than 100 levels deep"),
    "larger_than_1_mib": (b"# " + b"x" * (1024 * 1024) + b"\n",
                          ": error[E104]: file is larger than 1 MiB"),
    "no_such_file": (None, ": error[E101]: no such file"),
    "a_directory": ("dir", ": error[E102]: is a folder, not a spec file"),
}


@pytest.mark.parametrize("name", GENERATED)
def test_generated_bad_spec(name, tmp_path, capsys, monkeypatch):
    data, message = GENERATED[name]
    path = tmp_path / f"{name}.yaml"
    if data == "dir":
        path.mkdir()
    elif data is not None:
        path.write_bytes(data)
    monkeypatch.chdir(tmp_path)
    status, out, err = run_check(capsys, path.name)
    assert "Traceback" not in err
    assert out.strip() == ""
    assert err.splitlines() == [f"{path.name}{message}"]
    assert status == 1


def test_every_case_in_one_run_of_the_command():
    """The real command line on every fixture not marked as an archc bug, in one run: each
    file's errors, in the order the files were given."""
    result = subprocess.run(
        [sys.executable, "-m", "archc.cli", "check", *(f"{BAD_REL}/{p.name}" for p in CASES)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert "Traceback" not in result.stderr
    assert result.stdout.strip() == ""
    assert result.stderr.splitlines() == [line for p in CASES for line in expected_lines(p)]
    assert result.returncode == 1
