"""docs/errors.md is checked against the catalogue and against archc itself.

- every code of `CATALOGUE` has exactly one section, in the catalogue's order, headed
  `## CODE: SUMMARY` with the catalogue's summary, and no section names another code;
- every section has one example: a ```yaml block (a spec) or a ```sh block (a command) whose first
  line is `# example: CODE`, followed by a ```text block with what archc prints on stderr;
- every example, run in a temporary folder, prints exactly those lines and exits with status 1,
  and every line carries its section's code.

A spec example is written to `spec.yaml` and checked with `archc check spec.yaml`. A ```yaml
block whose first line is `# file: NAME` is written to NAME beside it first (for includes, and for
the specs the commands of sh examples use). An sh example runs its one `archc ...` line; its other
lines show how to get into the situation, which `SITUATIONS` below sets up for the test.
"""

from __future__ import annotations

import contextlib
import os
import re
import resource
import shlex
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from archc.cli import main
from archc.errors import CATALOGUE

DOC = Path(__file__).resolve().parent.parent / "docs" / "errors.md"
TEXT = DOC.read_text(encoding="utf-8")

_HEADING = re.compile(r"^## (.*)$")
_CODE_HEADING = re.compile(r"^(E\d+)\b:? ?(.*)$")
_EXAMPLE = re.compile(r"^# example: (\S+)\s*$")
_FILE = re.compile(r"^# file: (\S+)\s*$")
_ERROR_CODE = re.compile(r"error\[(E\d{3})\]")


@dataclass
class Fence:
    lang: str
    body: str
    start: int  # line of the opening fence, from 1
    end: int  # line of the closing fence

    @property
    def first_line(self) -> str:
        return self.body.split("\n", 1)[0].strip()


@dataclass
class Section:
    heading: str  # the heading's text, without `## `
    line: int
    lines: list[str] = field(default_factory=list)
    fences: list[Fence] = field(default_factory=list)

    @property
    def code(self) -> str | None:
        m = _CODE_HEADING.match(self.heading)
        return m[1] if m else None


def _sections(text: str) -> list[Section]:
    """The part before the first heading (heading ""), then one Section per `## ` heading, each
    with its fenced blocks."""
    sections = [Section("", 0)]
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if m := _HEADING.match(line):
            sections.append(Section(m[1].strip(), i + 1))
        elif m := re.fullmatch(r"```(\w*)\s*", line):
            start, body = i + 1, []
            i += 1
            while i < len(lines) and lines[i].rstrip() != "```":
                body.append(lines[i])
                i += 1
            sections[-1].fences.append(Fence(m[1], "\n".join(body) + "\n", start, i + 1))
        sections[-1].lines.append(line)
        i += 1
    return sections


SECTIONS = _sections(TEXT)
CODE_SECTIONS = [s for s in SECTIONS if s.code]


@dataclass
class Example:
    name: str  # the code, or another word for an example outside the code sections
    section: Section
    fence: Fence  # the yaml (a spec) or sh (a command) block
    expected: Fence | None  # the text block right after it
    files: dict[str, str]  # `# file:` blocks of the same section, by name


def _examples(section: Section) -> list[Example]:
    files = {m[1]: f.body for f in section.fences
             if f.lang == "yaml" and (m := _FILE.match(f.first_line))}
    out = []
    for i, fence in enumerate(section.fences):
        if m := _EXAMPLE.match(fence.first_line):
            after = section.fences[i + 1] if i + 1 < len(section.fences) else None
            out.append(Example(m[1], section, fence, after, files))
    return out


EXAMPLES = [example for section in SECTIONS for example in _examples(section)]


# ------------------------------------------------------------------------- the doc's structure


def test_one_section_per_code_in_catalogue_order():
    codes = [s.code for s in CODE_SECTIONS]
    assert codes == list(CATALOGUE), "sections must be the catalogue's codes, once each, in order"
    for section in CODE_SECTIONS:
        want = f"{section.code}: {CATALOGUE[section.code]}"
        assert section.heading == want, f"line {section.line}: the heading should be `## {want}`"


def test_no_section_for_an_unknown_code():
    for section in SECTIONS:
        if re.match(r"E\d", section.heading):
            assert section.code in CATALOGUE, f"line {section.line}: `{section.heading}`"


@pytest.mark.parametrize("section", CODE_SECTIONS, ids=[s.code for s in CODE_SECTIONS])
def test_every_section_has_one_example(section: Section):
    examples = _examples(section)
    assert [e.name for e in examples] == [section.code], \
        f"line {section.line}: `## {section.heading}` needs one `# example: {section.code}` block"
    example = examples[0]
    assert example.fence.lang in ("yaml", "sh"), f"line {example.fence.start}"
    explanation = [line for line in section.lines[1:] if line.strip()
                   and not line.startswith("```")][:1]
    assert explanation, f"line {section.line}: say what the error means before the example"


def test_examples_are_unique():
    names = [e.name for e in EXAMPLES]
    assert len(names) == len(set(names)), names


# ---------------------------------------------------------------------------------- situations
# What the sh examples describe, set up in the temporary folder (the current directory). Each is
# a context manager, so that what it changes is undone.


@contextlib.contextmanager
def _read_only_folder(tmp: Path, monkeypatch):
    """E603: `generated` that archc may not write into. Root writes through `chmod a-w`, but not
    into an immutable folder (`chattr +i`, which needs CAP_LINUX_IMMUTABLE and ext4, xfs or
    btrfs)."""
    folder = tmp / "generated"
    folder.mkdir()
    if os.geteuid() != 0:
        folder.chmod(0o555)
        try:
            yield
        finally:
            folder.chmod(0o755)
        return
    chattr = shutil.which("chattr")
    if chattr is None:
        pytest.skip("running as root, whom `chmod a-w` does not stop, and `chattr` (to make the "
                    "folder immutable, which root respects) is not installed")
    made = subprocess.run([chattr, "+i", str(folder)], capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip("running as root, whom `chmod a-w` does not stop, and the folder cannot be "
                    f"made immutable here: {made.stderr.strip()}")
    try:
        yield
    finally:
        subprocess.run([chattr, "-i", str(folder)], check=True)


@contextlib.contextmanager
def _file_size_limit(tmp: Path, monkeypatch):
    """E604: `ulimit -f 1`. Python ignores SIGXFSZ, so a write past the limit fails with EFBIG
    ("File too large") instead of killing the process."""
    (tmp / "generated").mkdir()
    if signal.getsignal(signal.SIGXFSZ) != signal.SIG_IGN:
        pytest.skip("SIGXFSZ is not ignored in this process: a write past the limit would kill it")
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    limit = 1024 if hard == resource.RLIM_INFINITY else min(1024, hard)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))


@contextlib.contextmanager
def _without_dot(tmp: Path, monkeypatch):
    """E606: a PATH on which there is no `dot` (archc looks it up with shutil.which, which reads
    os.environ, so changing it in this process is enough)."""
    empty = tmp / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    yield


@contextlib.contextmanager
def _fifo(tmp: Path, monkeypatch):
    """E115: `mkfifo spec.yaml`. archc must refuse it without opening it: opening a FIFO to read
    waits for a writer, so a regression hangs this test rather than failing it."""
    os.mkfifo(tmp / "spec.yaml")
    yield


@contextlib.contextmanager
def _include_chain(tmp: Path, monkeypatch):
    """E307: b1.yaml includes b2.yaml, which includes b3.yaml, ... up to b120.yaml (the spec,
    written from the section's `# file: spec.yaml` block, includes b1.yaml)."""
    for i in range(1, 121):
        (tmp / f"b{i}.yaml").write_text(f"include: [b{i + 1}.yaml]\n", encoding="utf-8")
    yield


@contextlib.contextmanager
def _full_stdout(tmp: Path, monkeypatch):
    """E609: `exec > /dev/full`: standard output on a device that is always full."""
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full here")
    with open("/dev/full", "w") as full:
        monkeypatch.setattr(sys, "stdout", full)
        yield


@contextlib.contextmanager
def _failing_dot(tmp: Path, monkeypatch):
    """E610: a `dot` first on the PATH that fails as the example's does (archc looks `dot` up
    on os.environ's PATH)."""
    folder = tmp / "bin"
    folder.mkdir()
    (folder / "dot").write_text('#!/bin/sh\necho "Error: dot crashed" >&2\nexit 1\n')
    (folder / "dot").chmod(0o755)
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")
    yield


def _saved(what: str):
    """E701, E702: a torch.save file holding `what` (a Python expression), as tiny.pth."""
    @contextlib.contextmanager
    def situation(tmp: Path, monkeypatch):
        torch = pytest.importorskip("torch")
        torch.save(eval(what, {"torch": torch}), tmp / "tiny.pth")
        yield
    return situation


@contextlib.contextmanager
def _without_torch(tmp: Path, monkeypatch):
    """E703: `import torch` fails as it does where torch is not installed."""
    monkeypatch.setitem(sys.modules, "torch", None)
    monkeypatch.delitem(sys.modules, "archc.weights", raising=False)
    yield


def _image_folder(broken: bool = False):
    """E802, E805: data/, a small folder of three classes of images (tests/shapes.py); with
    broken, one file is not an image."""
    @contextlib.contextmanager
    def situation(tmp: Path, monkeypatch):
        pytest.importorskip("torchvision")
        from .shapes import make_folder

        make_folder(tmp / "data", train=2, val=1, size=8)
        if broken:
            (tmp / "data" / "train" / "disc" / "000.png").write_bytes(b"not a png\n")
        yield
    return situation


@contextlib.contextmanager
def _run_of_another_spec(tmp: Path, monkeypatch):
    """E804: run/, a run of other.yaml, which has a wider conv than spec.yaml."""
    pytest.importorskip("torch")
    spec = (tmp / "spec.yaml").read_text(encoding="utf-8")
    (tmp / "other.yaml").write_text(spec.replace("conv 3x3 8", "conv 3x3 16"), encoding="utf-8")
    assert main(["train", "other.yaml", "--synthetic", "--out", "run", "--epochs", "1",
                 "--steps", "1", "--no-progress"]) == 0
    yield


@contextlib.contextmanager
def _linked_output(tmp: Path, monkeypatch):
    """E611: generated/tiny.py, a symbolic link to the spec."""
    (tmp / "generated").mkdir()
    (tmp / "generated" / "tiny.py").symlink_to("../spec.yaml")
    yield


def _write(name: str, data: bytes | str | None = None, folder: bool = False):
    @contextlib.contextmanager
    def situation(tmp: Path, monkeypatch):
        path = tmp / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if folder:
            path.mkdir()
        elif isinstance(data, bytes):
            path.write_bytes(data)
        else:
            path.write_text(data, encoding="utf-8")
        yield
    return situation


SITUATIONS = {
    "E102": _write("spec.yaml", folder=True),
    "E103": _write("spec.yaml", "name: tiny\n"),  # a file, read as if it were a folder
    "E104": _write("spec.yaml", b"# padding\n" * 500_000),  # 5,000,000 bytes
    "E105": _write("spec.yaml", b"name: caf\xe9\n"),
    "E108": _write("spec.yaml", b""),
    "E115": _fifo,
    "E116": _write("spec.yaml", "sizes: [" + "8, " * 20000 + "8]\n"),  # 20,002 nodes
    "E307": _include_chain,
    "E602": _write("generated", "notes\n"),
    "E603": _read_only_folder,
    "E604": _file_size_limit,
    "E606": _without_dot,
    "E608": _write("generated/tiny.py", "# an older version\n"),
    "E609": _full_stdout,
    "E610": _failing_dot,
    "E611": _linked_output,
    "E701": _saved("torch.nn.Conv2d(3, 8, 3)"),
    "E702": _saved("{'weight': torch.zeros(8, 3, 3, 3)}"),
    "E703": _without_torch,
    "E802": _image_folder(),
    "E804": _run_of_another_spec,
    "E805": _image_folder(broken=True),
}


def test_every_situation_has_its_example():
    sh = {e.name for e in EXAMPLES if e.fence.lang == "sh"}
    assert set(SITUATIONS) <= sh


# ------------------------------------------------------------------------------ the examples


def _command(example: Example) -> list[str]:
    """The arguments of an example's command: the spec, or the sh block's one `archc` line."""
    if example.fence.lang == "yaml":
        return ["check", "spec.yaml"]
    commands = [shlex.split(line, comments=True) for line in example.fence.body.splitlines()
                if line.startswith("archc ")]
    assert len(commands) == 1, f"line {example.fence.start}: an sh example runs one `archc` line"
    return commands[0][1:]


def _expected(example: Example) -> list[str]:
    after = example.expected
    assert after is not None and after.lang == "text", \
        f"line {example.fence.start}: an example is followed by a ```text block of its output"
    between = TEXT.splitlines()[example.fence.end:after.start - 1]
    assert not any(line.strip() for line in between), \
        f"line {after.start}: the output comes right after its example"
    lines = after.body.rstrip("\n").split("\n")
    assert all(lines), f"line {after.start}: an empty output block"
    return lines


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.name for e in EXAMPLES])
def test_example_lines_carry_the_section_code(example: Example):
    if example.section.code is None:
        return  # an example in the introduction may show several codes
    lines = _expected(example)
    for line in lines:
        codes = _ERROR_CODE.findall(line)
        assert codes == [example.section.code], \
            f"{example.name}: `{line}` should carry error[{example.section.code}]"


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.name for e in EXAMPLES])
def test_example_gives_the_shown_output(example: Example, tmp_path, monkeypatch, capsys):
    expected = _expected(example)
    args = _command(example)
    monkeypatch.chdir(tmp_path)
    for name, body in example.files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(body, encoding="utf-8")
    if example.fence.lang == "yaml":
        (tmp_path / "spec.yaml").write_text(example.fence.body, encoding="utf-8")
    situation = SITUATIONS.get(example.name)
    with situation(tmp_path, monkeypatch) if situation else contextlib.nullcontext():
        try:
            status = main(args)
        except SystemExit as e:  # argparse: the example's command line is wrong
            status = e.code
    _, err = capsys.readouterr()
    err = err.replace(f"{tmp_path}{os.sep}", "").replace(str(tmp_path), ".")
    assert err.splitlines() == expected
    assert status == 1
