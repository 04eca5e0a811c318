"""`archc build`: generated/ is fresh, deterministic, standalone, lint-clean, written atomically."""

import ast
import hashlib
import os
import shutil
import subprocess
import sys

import pytest

from archc.cli import main

from ..conftest import NETWORK_SPECS, ROOT

GENERATED = ROOT / "generated"
SPEC_ARGS = [str(p.relative_to(ROOT)) for p in NETWORK_SPECS]


def test_committed_generated_code_is_fresh(chdir_root, capsys):
    assert main(["build", "--check", *SPEC_ARGS]) == 0, capsys.readouterr().out


def test_generated_code_is_the_same_from_any_working_folder(tmp_path, monkeypatch, capsys):
    """Paths in generated files are relative to the repository's root, not to the working
    folder: a check from elsewhere, with the specs' absolute or relative paths, sees no
    change (it used to report 144 changed lines)."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    variant = ROOT / "specs" / "variants" / "inception_resnet_v2_v4_reduction.yaml"
    for spec in (ROOT / "specs" / "inception_v4.yaml", variant):
        assert main(["build", "--check", "-o", str(GENERATED), str(spec)]) == 0, \
            capsys.readouterr().out
        relative = os.path.relpath(spec, elsewhere)
        assert main(["build", "--check", "-o", str(GENERATED), relative]) == 0
    header = (GENERATED / "inception_v4.py").read_text(encoding="utf-8")
    assert "\n    specs/inception_v4.yaml\n" in header  # relative to the root, as committed


def test_check_fails_with_a_diff_when_stale(chdir_root, tmp_path, capsys):
    shutil.copy(GENERATED / "inception_v4.py", tmp_path / "inception_v4.py")
    with open(tmp_path / "inception_v4.py", "a") as f:
        f.write("# edited by hand\n")
    assert main(["build", "--check", "-o", str(tmp_path), "specs/inception_v4.yaml"]) == 1
    out, err = capsys.readouterr()
    assert "-# edited by hand" in out
    assert f"{tmp_path}/inception_v4.py: error[E608]: out of date" in err


@pytest.mark.parametrize("spec", NETWORK_SPECS, ids=lambda p: p.stem)
def test_generated_module_imports_only_torch(spec):
    tree = ast.parse((GENERATED / f"{spec.stem}.py").read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add(node.module)
    assert "torch" in imported and {name.split(".")[0] for name in imported} == {"torch"}


@pytest.mark.parametrize("spec", NETWORK_SPECS, ids=lambda p: p.stem)
def test_header_names_every_source_and_its_sha256(spec):
    text = (GENERATED / f"{spec.stem}.py").read_text()
    included = [ROOT / "specs/common/reduction_a.yaml"] if "reduction_a" in spec.read_text() else []
    for source in (spec, *included):
        digest = hashlib.sha256(source.read_bytes()).hexdigest()
        assert f"    {source.relative_to(ROOT)}\n        {digest}\n" in text


def test_each_layer_names_its_spec_line():
    spec_lines = (ROOT / "specs/inception_resnet_v2.yaml").read_text().splitlines()
    code_lines = (GENERATED / "inception_resnet_v2.py").read_text().splitlines()
    for attribute, spec_text in [("conv2d_1a", "conv2d_1a: conv 3x3 32 /2 V"),
                                 ("repeat_1", "repeat_1: 20 x Block17"),
                                 ("classif", "classif: linear num_classes")]:
        line = next(i for i, text in enumerate(spec_lines, 1) if spec_text in text)
        at = next(i for i, text in enumerate(code_lines) if f"self.{attribute} = " in text)
        # the comment ends the line, or stands on the line above when the line would be too long
        comment = f"# specs/inception_resnet_v2.yaml:{line}"
        assert code_lines[at].endswith(comment) or code_lines[at - 1].strip() == comment


def test_generated_code_is_ruff_clean():
    """Under ruff's defaults and the stricter rules this project uses."""
    ruff = shutil.which("ruff", path=os.path.dirname(sys.executable))
    if ruff is None:
        pytest.skip("ruff is not installed")
    for args in (["--isolated"],
                 ["--isolated", "--select", "E,F,W,I,UP,B", "--line-length", "100"]):
        result = subprocess.run([ruff, "check", *args, str(GENERATED)], capture_output=True,
                                text=True)
        assert result.returncode == 0, result.stdout


def test_nothing_is_written_when_a_spec_fails(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\ninput: {size: 8}\nlayers:\n  - c: conv 3x3 x\n")
    out = tmp_path / "out"
    out.mkdir()
    assert main(["build", "-o", str(out), str(NETWORK_SPECS[0]), str(bad)]) == 1
    assert list(out.iterdir()) == []
    assert "unknown parameter `x`" in capsys.readouterr().err


def test_missing_output_folder_is_a_clear_error(tmp_path, capsys):
    assert main(["build", "-o", str(tmp_path / "nope"), str(NETWORK_SPECS[0])]) == 1
    assert capsys.readouterr().err == \
        f"{tmp_path / 'nope'}: error[E601]: output folder does not exist\n"


def fail_writing_file(monkeypatch, n: int) -> None:
    """Make the n-th file opened for writing fail as a full disk would."""
    real_fdopen = os.fdopen
    opened = []

    def fdopen(fd, *args, **kwargs):
        opened.append(fd)
        if len(opened) == n:
            os.close(fd)
            raise OSError(28, "No space left on device")
        return real_fdopen(fd, *args, **kwargs)

    monkeypatch.setattr(os, "fdopen", fdopen)


def test_a_build_failing_halfway_leaves_the_folder_as_it_was(tmp_path, monkeypatch, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "inception_v4.py").write_text("old\n")
    fail_writing_file(monkeypatch, 2)
    assert main(["build", "-o", str(out), *SPEC_ARGS]) == 1
    assert "error[E604]: cannot write: No space left on device" in capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == ["inception_v4.py"]  # no temporary files
    assert (out / "inception_v4.py").read_text() == "old\n"


def test_a_render_failing_halfway_leaves_the_folder_as_it_was(tmp_path, monkeypatch, capsys):
    out = tmp_path / "figures"
    out.mkdir()
    fail_writing_file(monkeypatch, 5)
    assert main(["render", "--format", "dot", "-o", str(out), *SPEC_ARGS]) == 1
    assert "error[E604]: cannot write: No space left on device" in capsys.readouterr().err
    assert list(out.iterdir()) == []


@pytest.fixture
def read_only_folder(tmp_path):
    """A folder nobody can write into, root included (tests may run as root, where permission
    bits do not stop writes): an immutable folder."""
    folder = tmp_path / "read-only"
    folder.mkdir()
    made = subprocess.run(["chattr", "+i", str(folder)], capture_output=True)
    if made.returncode != 0:
        pytest.skip(f"cannot make an immutable folder here: {made.stderr.decode().strip()}")
    yield folder
    subprocess.run(["chattr", "-i", str(folder)], check=True)


def test_a_read_only_output_folder_is_a_clear_error(read_only_folder, capsys):
    assert main(["build", "-o", str(read_only_folder), str(NETWORK_SPECS[0])]) == 1
    assert capsys.readouterr().err == \
        f"{read_only_folder}: error[E603]: output folder is not writable\n"
    assert list(read_only_folder.iterdir()) == []


def test_a_folder_in_the_way_of_an_output_file_is_a_clear_error(tmp_path, capsys):
    (tmp_path / "inception_v4.py").mkdir()
    assert main(["build", "-o", str(tmp_path), str(ROOT / "specs/inception_v4.yaml")]) == 1
    assert capsys.readouterr().err == \
        f"{tmp_path}/inception_v4.py: error[E604]: cannot write: a folder is in the way\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["inception_v4.py"]


def test_check_names_the_command_that_fixes_it(chdir_root, tmp_path, capsys):
    assert main(["build", "--check", "-o", str(tmp_path), "specs/inception_v4.yaml"]) == 1
    assert capsys.readouterr().err == (
        f"{tmp_path}/inception_v4.py: error[E608]: missing: run "
        f"`archc build -o {tmp_path} specs/inception_v4.yaml`\n")
