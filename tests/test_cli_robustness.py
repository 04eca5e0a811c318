"""archc under failure: interrupted or failing writes, closed or full standard output, stale
files that read back oddly, colliding outputs, odd paths, a failing `dot`, huge numbers."""

from __future__ import annotations

import errno
import io
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import archc.backends.graphviz as graphviz_backend
from archc.cli import main, shell_quote
from archc.output import OutputError, write_all

from .conftest import ROOT

ARCHC = ROOT / ".venv" / "bin" / "archc"
V4 = ROOT / "specs" / "inception_v4.yaml"
TINY = "name: tiny\ninput: {size: 8}\nlayers:\n  - conv: conv 3x3 8\n"


def tiny_spec(folder: Path, name: str = "spec.yaml", network: str = "tiny") -> Path:
    path = folder / name
    path.write_text(TINY.replace("tiny", network))
    return path


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def fail_replace(monkeypatch, n: int, error: BaseException) -> None:
    """Make the n-th call of os.replace raise `error` (the calls after it succeed)."""
    real, calls = os.replace, []

    def replace(*args, **kwargs):
        calls.append(args)
        if len(calls) == n:
            raise error
        return real(*args, **kwargs)

    monkeypatch.setattr(os, "replace", replace)


# ------------------------------------------------------------------ all-or-nothing output


@pytest.mark.parametrize("n", [2, 3])
@pytest.mark.parametrize("error", [OSError(errno.EIO, "Input/output error"), KeyboardInterrupt()],
                         ids=["oserror", "interrupt"])
def test_a_failing_rename_puts_back_the_files_already_replaced(tmp_path, monkeypatch, n, error):
    (tmp_path / "a.py").write_text("old a\n")
    (tmp_path / "b.py").write_text("old b\n")
    files = {tmp_path / "a.py": "new a\n", tmp_path / "b.py": "new b\n", tmp_path / "c.py": "c\n"}
    fail_replace(monkeypatch, n, error)
    with pytest.raises(OutputError if isinstance(error, OSError) else KeyboardInterrupt) as e:
        write_all(files)
    if isinstance(error, OSError):
        failed = list(files)[n - 1]
        assert str(e.value) == f"{failed}: error[E604]: cannot write: Input/output error"
    assert names(tmp_path) == ["a.py", "b.py"]  # no c.py, no .archc-* temporary or backup
    assert (tmp_path / "a.py").read_text() == "old a\n"
    assert (tmp_path / "b.py").read_text() == "old b\n"


def test_without_hard_links_the_old_files_are_put_back_too(tmp_path, monkeypatch):
    def no_link(*args, **kwargs):
        raise OSError(errno.EPERM, "Operation not permitted")  # as on FAT file systems

    monkeypatch.setattr(os, "link", no_link)
    (tmp_path / "a.py").write_text("old a\n")
    (tmp_path / "b.py").write_text("old b\n")
    fail_replace(monkeypatch, 2, OSError(errno.EIO, "Input/output error"))
    with pytest.raises(OutputError):
        write_all({tmp_path / "a.py": "new a\n", tmp_path / "b.py": "new b\n"})
    assert names(tmp_path) == ["a.py", "b.py"]
    assert (tmp_path / "a.py").read_text() == "old a\n"
    assert (tmp_path / "b.py").read_text() == "old b\n"


def test_a_successful_write_leaves_only_the_new_files(tmp_path):
    (tmp_path / "a.py").write_text("old a\n")
    write_all({tmp_path / "a.py": "new a\n", tmp_path / "b.png": b"\x89PNG"})
    assert names(tmp_path) == ["a.py", "b.png"]
    assert (tmp_path / "a.py").read_text() == "new a\n"


# ------------------------------------------------------------------------------ Ctrl-C


def test_ctrl_c_during_a_build_writes_nothing(tmp_path, monkeypatch, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "tiny.py").write_text("old\n")
    fail_replace(monkeypatch, 1, KeyboardInterrupt())
    assert main(["build", "-o", str(out), str(tiny_spec(tmp_path))]) == 130
    assert capsys.readouterr() == ("", "archc: interrupted; nothing was written\n")
    assert names(out) == ["tiny.py"]
    assert (out / "tiny.py").read_text() == "old\n"


def test_a_real_sigint_during_a_build(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "tiny.py").write_text("old\n")
    code = (
        "import os, signal, sys\n"
        # A shell without job control starts background jobs with SIGINT ignored.
        "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
        "from archc.cli import main, shell_quote\n"
        "real = os.replace\n"
        "def replace(*args):\n"
        "    os.replace = real\n"
        "    os.kill(os.getpid(), signal.SIGINT)\n"
        "    return real(*args)\n"
        "os.replace = replace\n"
        f"sys.exit(main(['build', '-o', {str(out)!r}, {str(tiny_spec(tmp_path))!r}]))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert (result.returncode, result.stdout) == (130, "")
    assert result.stderr == "archc: interrupted; nothing was written\n"
    assert names(out) == ["tiny.py"]
    assert (out / "tiny.py").read_text() == "old\n"


# -------------------------------------------------------------------- standard output


class FullStdout(io.StringIO):
    def write(self, text):
        raise OSError(errno.ENOSPC, "No space left on device")


@pytest.mark.parametrize("argv", [["check", str(V4)], ["schema"], ["--help"]])
def test_a_full_standard_output_is_one_error(monkeypatch, capsys, argv):
    monkeypatch.setattr(sys, "stdout", FullStdout())
    assert main(argv) == 1
    assert capsys.readouterr().err == \
        "error[E609]: standard output cannot be written: No space left on device\n"


def test_a_closed_standard_output_is_one_error(monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdout", None)  # what Python makes of `archc ... >&-`
    assert main(["check", str(V4)]) == 1
    assert capsys.readouterr().err == \
        "error[E609]: standard output cannot be written: Bad file descriptor\n"


@pytest.fixture
def archc_script():
    if not ARCHC.exists():
        pytest.skip("no console script in .venv")
    return ARCHC


def test_dev_full(archc_script):
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full here")
    with open("/dev/full", "w") as full:
        result = subprocess.run([archc_script, "check", V4], stdout=full, stderr=subprocess.PIPE,
                                text=True)
    assert result.returncode == 1
    assert result.stderr == \
        "error[E609]: standard output cannot be written: No space left on device\n"


def test_a_pipe_closed_early_is_not_a_traceback(archc_script):
    process = subprocess.Popen([archc_script, "check", "--json", "--layers", V4],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    process.stdout.close()
    stderr = process.stderr.read().decode()
    assert process.wait() == 1
    assert stderr == ""  # no traceback, no "Exception ignored ... BrokenPipeError"


# ------------------------------------------------------------------------- build --check


@pytest.fixture
def stale_copy(tmp_path, capsys):
    """A function that puts `data` where `build --check -o tmp_path` looks for V4's module; it
    takes the fresh module's bytes."""
    assert main(["build", "-o", str(tmp_path), str(V4)]) == 0
    capsys.readouterr()
    target = tmp_path / "inception_v4.py"
    fresh = target.read_bytes()

    def put(change) -> Path:
        target.write_bytes(change(fresh))
        return target
    return put


def test_check_sees_crlf_line_endings(stale_copy, tmp_path, capsys):
    target = stale_copy(lambda fresh: fresh.replace(b"\n", b"\r\n"))
    assert main(["build", "--check", "-o", str(tmp_path), str(V4)]) == 1
    out, err = capsys.readouterr()
    assert out == ""  # a diff of lines that look the same would not help
    assert err == (f"{target}: error[E608]: out of date: CRLF line endings: run "
                   f"`archc build -o {tmp_path} {V4}`\n")


def test_check_of_a_file_that_is_not_utf8_is_a_diff(stale_copy, tmp_path, capsys):
    target = stale_copy(lambda fresh: b"# caf\xe9\n" + fresh)
    assert main(["build", "--check", "-o", str(tmp_path), str(V4)]) == 1
    out, err = capsys.readouterr()
    assert "-# caf\ufffd\n" in out
    assert err.startswith(f"{target}: error[E608]: out of date: run ")


def test_check_of_a_file_that_cannot_be_read(tmp_path, capsys):
    (tmp_path / "inception_v4.py").mkdir()
    assert main(["build", "--check", "-o", str(tmp_path), str(V4)]) == 1
    assert capsys.readouterr().err.startswith(
        f"{tmp_path}/inception_v4.py: error[E608]: cannot be read (is a folder, not a "
        "generated module): run ")


# ------------------------------------------------------------------- two specs, one file


@pytest.mark.parametrize("argv", [["build"], ["render", "--format", "dot"]],
                         ids=["build", "render"])
def test_two_specs_writing_one_file_are_refused(tmp_path, monkeypatch, capsys, argv):
    monkeypatch.chdir(tmp_path)
    tiny_spec(tmp_path, "a.yaml")
    tiny_spec(tmp_path, "b.yaml")
    Path("out").mkdir()
    assert main([*argv, "-o", "out", "a.yaml", "b.yaml"]) == 1
    target = "out/tiny.py" if argv == ["build"] else "out/tiny-overview.dot"
    assert capsys.readouterr().err == \
        f"b.yaml: error[E605]: a.yaml also writes {target} (both networks are named `tiny`)\n"
    assert names(tmp_path / "out") == []


# ------------------------------------------------------------------------- odd paths


def test_the_suggested_command_is_shell_quoted(tmp_path, capsys):
    spec = tiny_spec(tmp_path, "it's a spec.yaml")
    out = tmp_path / "out dir"
    out.mkdir()
    assert main(["build", "--check", "-o", str(out), str(spec)]) == 1
    err = capsys.readouterr().err
    assert err.endswith(f"run `archc build -o '{out}' '{tmp_path}/it'\"'\"'s a spec.yaml'`\n")


def test_paths_with_a_line_break_stay_on_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    tiny_spec(tmp_path, "a\nb.yaml")
    Path("new\nout").mkdir()
    assert main(["build", "-o", "new\nout", "a\nb.yaml"]) == 0
    assert main(["build", "--check", "-o", "no\nsuch", "a\nb.yaml"]) == 1
    assert main(["build", "-o", "no\nsuch", "a\nb.yaml"]) == 1
    assert main(["check", "a\nb.yaml"]) == 0
    out, err = capsys.readouterr()
    assert "wrote new\\nout/tiny.py\n" in out
    assert "tiny (a\\nb.yaml): input" in out
    assert err.splitlines() == [
        "no\\nsuch/tiny.py: error[E608]: missing: run `archc build -o $'no\\nsuch' $'a\\nb.yaml'`",
        "no\\nsuch: error[E601]: output folder does not exist",
    ]


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
@pytest.mark.parametrize("word", ["plain.yaml", "it's a spec.yaml", "a\nb.yaml", "tab\there",
                                  "back\\slash'\r", "caf\u00e9\u2028x", "\x01"])
def test_suggested_commands_read_back_as_the_same_words(word):
    quoted = shell_quote(word)
    assert quoted.isprintable()
    echoed = subprocess.run(["bash", "-c", f"printf '%s' {quoted}"], capture_output=True,
                            check=True).stdout
    assert echoed == word.encode()


@pytest.mark.parametrize("argv, argument", [(["check", ""], "SPEC"),
                                            (["build", "-o", "", str(V4)], "-o/--output")])
def test_an_empty_path_is_a_usage_mistake(capsys, argv, argument):
    with pytest.raises(SystemExit) as raised:
        main(argv)
    assert raised.value.code == 2
    assert capsys.readouterr().err.endswith(f"error: argument {argument}: must not be empty\n")


# ------------------------------------------------------------------------------ dot


@pytest.fixture
def fake_dot(tmp_path, monkeypatch):
    """A function that puts a `dot` running `script` first on the PATH."""
    if shutil.which("sh") is None:
        pytest.skip("no sh")

    def install(script: str) -> None:
        folder = tmp_path / "bin"
        folder.mkdir()
        (folder / "dot").write_text(f"#!/bin/sh\n{script}\n")
        (folder / "dot").chmod(0o755)
        monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")
    return install


@pytest.mark.parametrize("script, reason", [
    ("echo 'Error: out of memory' >&2; exit 1", "exit status 1: Error: out of memory"),
    ("kill -SEGV $$", f"killed by signal {signal.SIGSEGV.value}"),
    ("exec sleep 10", "no result after 0.2 s"),
], ids=["exit", "crash", "timeout"])
def test_a_failing_dot_is_one_error_and_nothing_is_written(tmp_path, monkeypatch, capsys,
                                                            fake_dot, script, reason):
    fake_dot(script)
    monkeypatch.setattr(graphviz_backend, "DOT_TIMEOUT_S", 0.2)
    out = tmp_path / "figures"
    out.mkdir()
    spec = tiny_spec(tmp_path)
    assert main(["render", "-o", str(out), "--format", "dot", "--format", "svg", str(spec)]) == 1
    assert capsys.readouterr().err == \
        f"{out}/tiny-overview.svg: error[E610]: graphviz dot failed: {reason}\n"
    assert names(out) == []
