"""docs/spec-language.md is checked against archc itself.

- every ```yaml block whose first line is `# complete spec` passes `archc check` (and every block
  that looks like a network spec, with top-level `name:` and `layers:`, carries that mark,
  `# bad spec`, or `# the file PATH`);
- a ```yaml block whose first line is `# the file PATH` is that file of the repository, whole
  (the variants under specs/variants/, which their own tests check);
- every row of a table with the columns `compact` and `long form` gives the same layer both ways;
- every ```yaml block marked `# bad spec` gives exactly the errors of the ```text block after it,
  with the doc's file name `bad.yaml` replaced by the path of the temporary file;
- a ```text block that starts like a report of `archc check` (`NAME (FILE.yaml): input ...`) is
  exactly what `archc check FILE.yaml` prints for the last complete spec before it.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml
from pydantic import TypeAdapter

from archc.cli import main
from archc.spec.load import load_text
from archc.spec.models import Layer, parse_compact

DOC = Path(__file__).resolve().parents[2] / "docs" / "spec-language.md"
TEXT = DOC.read_text(encoding="utf-8")

COMPLETE = "# complete spec"
BAD = "# bad spec"
THE_FILE = re.compile(r"# the file (\S+)")
ROOT = Path(__file__).resolve().parents[2]
BAD_NAME = "bad.yaml"  # the file name the doc's error messages show


def _fences(text: str) -> list[tuple[str, str, int]]:
    """(language, body, line of the opening fence) for every fenced block, in order."""
    out, lines, i = [], text.splitlines(), 0
    while i < len(lines):
        m = re.fullmatch(r"```(\w*)\s*", lines[i])
        if m:
            start, body = i + 1, []
            i += 1
            while i < len(lines) and lines[i].rstrip() != "```":
                body.append(lines[i])
                i += 1
            out.append((m[1], "\n".join(body) + "\n", start))
        i += 1
    return out


def _first_line(body: str) -> str:
    return body.split("\n", 1)[0].strip()


def _looks_like_spec(body: str) -> bool:
    return bool(re.search(r"^name:", body, re.MULTILINE)
                and re.search(r"^layers:", body, re.MULTILINE))


def _tables(text: str) -> list[tuple[list[str], list[list[str]], int]]:
    """(header cells, rows of cells, line of the header) for every markdown table."""
    def cells(line: str) -> list[str]:
        return [c.strip() for c in line.strip().strip("|").split("|")]

    out, lines, i = [], text.splitlines(), 0
    while i < len(lines) - 1:
        if lines[i].startswith("|") and re.fullmatch(r"\|(\s*:?-+:?\s*\|)+\s*", lines[i + 1]):
            header, start, rows = cells(lines[i]), i + 1, []
            i += 2
            while i < len(lines) and lines[i].startswith("|"):
                rows.append(cells(lines[i]))
                i += 1
            out.append(([h.lower() for h in header], rows, start))
        else:
            i += 1
    return out


FENCES = _fences(TEXT)

COMPLETE_SPECS = [(body, line) for lang, body, line in FENCES
                  if lang == "yaml" and _first_line(body) == COMPLETE]

BAD_SPECS = []
for n, (lang, body, line) in enumerate(FENCES):
    if lang == "yaml" and _first_line(body) == BAD:
        following = FENCES[n + 1] if n + 1 < len(FENCES) else ("", "", line)
        assert following[0] == "text", \
            f"{DOC}:{line}: a `{BAD}` block must be followed by a ```text block of its errors"
        BAD_SPECS.append((body, following[1].strip().splitlines(), line))


REPORTS = []
for lang, body, line in FENCES:
    m = re.match(r"\w+ \(([\w.-]+\.yaml)\): input ", body) if lang == "text" else None
    if m:
        specs = [(b, ln) for b, ln in COMPLETE_SPECS if ln < line]
        assert specs, f"{DOC}:{line}: a report with no complete spec before it"
        REPORTS.append((specs[-1][0], m[1], body, line))


def _code(cell: str, where: str) -> str:
    m = re.fullmatch(r"`([^`]+)`", cell)
    assert m, f"{where}: expected a cell written in backticks, got {cell!r}"
    return m[1]


PAIRS = []
for header, rows, line in _tables(TEXT):
    if "compact" in header and "long form" in header:
        c, lf = header.index("compact"), header.index("long form")
        for k, row in enumerate(rows):
            where = f"{DOC}:{line + 2 + k}"
            PAIRS.append((_code(row[c], where), _code(row[lf], where), where))


def _archc(*args: str, cwd: Path, capsys, monkeypatch) -> subprocess.CompletedProcess:
    """`archc ARGS` run in `cwd`, in this process (tests/unit/test_cli.py runs the console
    script itself): its exit status and what it printed."""
    capsys.readouterr()
    with monkeypatch.context() as m:
        m.chdir(cwd)
        status = main(list(args))
    out, err = capsys.readouterr()
    return subprocess.CompletedProcess(["archc", *args], status, out, err)


def test_the_doc_has_examples_of_every_kind():
    assert len(COMPLETE_SPECS) >= 2
    assert len(BAD_SPECS) >= 1
    assert len(PAIRS) >= 15
    assert len(REPORTS) >= 1


def test_every_network_spec_in_the_doc_is_marked():
    for lang, body, line in FENCES:
        if lang == "yaml" and _looks_like_spec(body):
            assert _first_line(body) in (COMPLETE, BAD) or THE_FILE.fullmatch(_first_line(body)), \
                f"{DOC}:{line}: a network spec; start it with `{COMPLETE}` (or `{BAD}`)"
    for body, line in COMPLETE_SPECS:
        assert _looks_like_spec(body), f"{DOC}:{line}: `{COMPLETE}` needs top-level name and layers"


def test_a_file_shown_whole_is_the_repositorys():
    shown = [(m[1], body.split("\n", 1)[1], line) for lang, body, line in FENCES
             if lang == "yaml" and (m := THE_FILE.fullmatch(_first_line(body)))]
    assert shown, "the variants section shows a variant"
    for path, body, line in shown:
        assert (ROOT / path).read_text(encoding="utf-8") == body, f"{DOC}:{line}: not {path}"


@pytest.mark.parametrize("body,line", COMPLETE_SPECS,
                         ids=[f"line{line}" for _, line in COMPLETE_SPECS])
def test_complete_spec_checks(tmp_path, capsys, monkeypatch, body, line):
    path = tmp_path / "spec.yaml"
    path.write_text(body, encoding="utf-8")
    result = _archc("check", str(path), cwd=tmp_path, capsys=capsys, monkeypatch=monkeypatch)
    assert result.returncode == 0, f"{DOC}:{line}: archc check failed:\n{result.stderr}"
    assert result.stderr == ""


@pytest.mark.parametrize("spec,name,report,line", REPORTS,
                         ids=[f"line{r[3]}" for r in REPORTS])
def test_report_shown_is_what_check_prints(tmp_path, capsys, monkeypatch, spec, name, report,
                                           line):
    (tmp_path / name).write_text(spec, encoding="utf-8")
    result = _archc("check", name, cwd=tmp_path, capsys=capsys, monkeypatch=monkeypatch)
    assert result.returncode == 0, result.stderr
    assert result.stdout.rstrip("\n") == report.rstrip("\n"), f"{DOC}:{line}"


@pytest.mark.parametrize("compact,long,where", PAIRS, ids=[p[0] for p in PAIRS])
def test_compact_and_long_form_agree(compact, long, where):
    from_compact = parse_compact(compact)
    plain = json.loads(json.dumps(load_text(long, where)))  # read as specs are (1e-6 a float)
    from_long = TypeAdapter(Layer).validate_python(plain)
    assert from_compact == from_long, f"{where}: `{compact}` and `{long}` differ"


@pytest.mark.parametrize("body,expected,line", BAD_SPECS,
                         ids=[f"line{line}" for _, _, line in BAD_SPECS])
def test_bad_spec_gives_the_errors_shown(tmp_path, capsys, monkeypatch, body, expected, line):
    path = tmp_path / BAD_NAME
    path.write_text(body, encoding="utf-8")
    result = _archc("check", str(path), cwd=tmp_path, capsys=capsys, monkeypatch=monkeypatch)
    assert result.returncode == 1
    want = [e.replace(BAD_NAME, str(path), 1) if e.startswith(BAD_NAME) else e for e in expected]
    assert result.stderr.splitlines() == want, f"{DOC}:{line}"


def test_every_layer_kind_has_a_row_in_the_forms_table():
    """A new op kind's docs section starts with its row: its compact and long forms, checked
    above to agree."""
    import typing

    from archc.spec.models import LAYER_MODELS

    kinds = {kind for model in LAYER_MODELS
             for kind in typing.get_args(model.model_fields["type"].annotation)}
    assert {"conv", "shuffle", "adaptive_avgpool", "block"} <= kinds
    documented = {yaml.safe_load(long)["type"] for _, long, _ in PAIRS}
    activations = {"relu6", "relu", "silu", "gelu", "sigmoid", "tanh", "hardswish",
                   "hardsigmoid", "mish", "leaky_relu"}  # one row stands for the table
    assert kinds - activations - documented == set()
