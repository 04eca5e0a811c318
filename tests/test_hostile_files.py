"""Hostile files and paths: a checkpoint's record of its spec never reaches the disk, no command
replaces its own input or anything but a regular file, and the messages say how a file came to
be read."""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

import pytest

from archc import compile_spec
from archc.cli import main
from archc.errors import SpecError

TINY = """\
name: tiny
input: {size: 8}
num_classes: 3
layers:
  - conv: conv 3x3 8
  - pool: avgpool global
head:
  - fc: linear num_classes
"""


@pytest.fixture
def spec(tmp_path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY, encoding="utf-8")
    return path


def _files(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*")}


# ------------------------------------------------------------- a checkpoint's spec record


@pytest.fixture
def run(spec, tmp_path) -> Path:
    pytest.importorskip("torch")
    out = tmp_path / "run"
    assert main(["train", str(spec), "--synthetic", "--epochs", "1", "--steps", "1",
                 "--batch-size", "2", "--no-progress", "--out", str(out)]) == 0
    return out


def _tampered(run: Path, change) -> Path:
    import torch

    checkpoint = torch.load(run / "checkpoint.pt", weights_only=True)
    change(checkpoint)
    torch.save(checkpoint, run / "checkpoint.pt")
    return run / "checkpoint.pt"


@pytest.mark.parametrize("command", ["init-from", "resume"])
def test_a_checkpoint_cannot_make_archc_write_its_spec_files_anywhere(run, spec, tmp_path,
                                                                      monkeypatch, capsys,
                                                                      command):
    # The old code wrote each recorded name under a temporary folder: `../escaped.yaml` lands
    # beside that folder (in `temp`), an absolute name where it says.
    temp = tmp_path / "temp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    target = tmp_path / "absolute.yaml"

    def hostile(checkpoint):
        record = checkpoint["spec"]
        record["files"]["../escaped.yaml"] = "written: outside\n"
        record["files"][str(target)] = "written: anywhere\n"
        checkpoint["fingerprint"] = "another network"  # so that --resume reads the record
    checkpoint = _tampered(run, hostile)
    before = _files(tmp_path)
    if command == "resume":
        args = ["train", str(spec), "--resume", "--out", str(run)]
    else:
        args = ["train", str(spec), "--synthetic", "--init-from", str(checkpoint), "--out",
                str(tmp_path / "second")]
    assert main([*args, "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert f"{checkpoint}: error[E803]: a damaged checkpoint: its spec record names" in err
    assert "outside its folder" in err and len(err.splitlines()) == 1
    assert _files(tmp_path) == before
    assert not target.exists() and not (temp / "escaped.yaml").exists()


def test_a_recorded_spec_reaches_only_the_recorded_files(run, spec, tmp_path, capsys):
    """A recorded spec that extends or includes a file outside the record is compiled from the
    record alone: the file on the disk is not read."""
    outside = tmp_path / "base.yaml"
    outside.write_text(TINY, encoding="utf-8")

    def hostile(checkpoint):
        record = checkpoint["spec"]
        record["files"][record["root"]] = "extends: ../base.yaml\nname: other\n"
    checkpoint = _tampered(run, hostile)
    assert main(["train", str(spec), "--synthetic", "--init-from", str(checkpoint), "--out",
                 str(tmp_path / "second"), "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "error[E803]: a damaged checkpoint: the spec it records does not compile" in err
    assert "E308" in err and "no such file" in err


@pytest.mark.parametrize("record", [None, "spec.yaml", {"path": "x", "root": "a.yaml"},
                                    {"path": "x", "root": "a.yaml", "files": {"b.yaml": "x"}},
                                    {"path": "x", "root": "a.yaml", "files": {"a.yaml": 3}},
                                    {"path": "x", "root": "", "files": {"": "name: x\n"}}])
def test_a_damaged_spec_record_is_refused(run, spec, tmp_path, capsys, record):
    def damage(checkpoint):
        checkpoint["spec"] = record
    checkpoint = _tampered(run, damage)
    assert main(["train", str(spec), "--synthetic", "--init-from", str(checkpoint), "--out",
                 str(tmp_path / "second"), "--no-progress"]) == 1
    assert f"{checkpoint}: error[E803]: a damaged checkpoint: its spec record" in \
        capsys.readouterr().err


def test_compile_spec_from_texts_in_memory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a file of the same name on the disk is not read
    Path("base.yaml").write_text("this: is not read\n", encoding="utf-8")
    files = {"base.yaml": TINY, "variants/wide.yaml":
             "extends: ../base.yaml\nname: wide\nlayers: {conv: {filters: 16}}\n"}
    network = compile_spec("variants/wide.yaml", files=files)
    assert network.name == "wide"
    assert [path for path, _ in network.sources] == ["variants/wide.yaml", "base.yaml"]
    with pytest.raises(SpecError) as e:
        compile_spec("variants/wide.yaml",
                     files={"variants/wide.yaml": files["variants/wide.yaml"]})
    assert "E308" in str(e.value) and "no such file" in str(e.value)


# --------------------------------------------------------------------------------- writers


@pytest.mark.parametrize("command", ["build", "render"])
def test_no_output_replaces_a_spec_it_was_made_from(spec, tmp_path, capsys, command):
    out = tmp_path / "out"
    out.mkdir()
    name = "tiny.py" if command == "build" else "tiny-overview.dot"
    os.link(spec, out / name)  # the same file under the output's name
    args = ["build", str(spec), "-o", str(out)] if command == "build" else \
        ["render", str(spec), "-o", str(out), "--format", "dot"]
    assert main(args) == 1
    assert f"{out / name}: error[E611]: is the input ({spec})" in capsys.readouterr().err
    assert spec.read_text(encoding="utf-8") == TINY


@pytest.mark.parametrize("kind", ["symlink", "fifo", "device"])
def test_no_output_replaces_a_link_a_fifo_or_a_device(spec, tmp_path, capsys, kind):
    out = tmp_path / "out"
    out.mkdir()
    target = out / "tiny.py"
    if kind == "symlink":
        target.symlink_to(spec)
    elif kind == "fifo":
        os.mkfifo(target)
    else:  # a node of /dev/null's device: the test must not risk /dev/null itself
        try:
            os.mknod(target, stat.S_IFCHR | 0o666, os.makedev(1, 3))
        except PermissionError:
            pytest.skip("making a device node needs root")
    before = os.lstat(target)
    args = ["build", str(spec), "-o", str(out)]
    if kind == "device":  # a device as the output file, which migrate takes by its name
        torch = pytest.importorskip("torch")
        import archc

        checkpoint = tmp_path / "tiny.pth"
        torch.save(archc.build_model(str(spec)).state_dict(), checkpoint)
        args = ["migrate", "--from", str(spec), "--to", str(spec), str(checkpoint), "-o",
                str(target)]
    assert main(args) == 1
    kinds = {"symlink": "a symbolic link", "fifo": "a FIFO", "device": "a character device"}
    assert f"{target}: error[E611]: is {kinds[kind]}" in capsys.readouterr().err
    after = os.lstat(target)
    assert (after.st_mode, after.st_ino, after.st_rdev) == \
        (before.st_mode, before.st_ino, before.st_rdev)


def test_migrate_does_not_replace_its_checkpoint(spec, tmp_path, capsys):
    torch = pytest.importorskip("torch")
    import archc

    checkpoint = tmp_path / "tiny.pth"
    torch.save(archc.build_model(str(spec)).state_dict(), checkpoint)
    before = checkpoint.read_bytes()
    same = tmp_path / "sub" / ".." / "tiny.pth"  # the same file under another name
    (tmp_path / "sub").mkdir()
    for output in (checkpoint, same):
        assert main(["migrate", "--from", str(spec), "--to", str(spec), str(checkpoint),
                     "-o", str(output)]) == 1
        assert "error[E611]: is the input" in capsys.readouterr().err
    assert checkpoint.read_bytes() == before


def test_plot_does_not_replace_its_metrics(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    run = tmp_path / "run"
    run.mkdir()
    text = ("epoch,lr,train_loss,train_top1,val_loss,val_top1,val_top5,images_per_s,seconds\n"
            "1,0.045,2.3,0.1,,,,10,1\n")
    (run / "metrics.csv").write_text(text, encoding="utf-8")
    os.link(run / "metrics.csv", tmp_path / "curves.png")  # one file under two names
    assert main(["plot", str(run), "-o", str(tmp_path / "curves.png")]) == 1
    assert "error[E611]: is the input" in capsys.readouterr().err
    assert (run / "metrics.csv").read_text(encoding="utf-8") == text


# -------------------------------------------------------------------------------- messages


def test_a_base_spec_that_cannot_be_read_names_the_extends_line(tmp_path, capsys):
    variant = tmp_path / "variant.yaml"
    variant.write_text("# a variant\nextends: notes.txt\nname: x\n", encoding="utf-8")
    (tmp_path / "notes.txt").write_text("just a line of text\n", encoding="utf-8")
    assert main(["check", str(variant)]) == 1
    err = capsys.readouterr().err.splitlines()
    assert f"{tmp_path / 'notes.txt'}:1:1: error[E213]: a spec file is a mapping" in err[0]
    assert err[1] == (f"{variant}:2:10: error[E308]: the base spec `notes.txt` cannot be read "
                      f"(see the errors in {tmp_path / 'notes.txt'}) (extends)")


@pytest.mark.parametrize("value", ["num_classes=3\nname: evil", "num_classes=3\rname: evil",
                                   "num_classes=3\x00"])
def test_a_set_value_of_several_lines_is_a_usage_error(spec, capsys, value):
    with pytest.raises(SystemExit) as e:
        main(["check", str(spec), "--set", value])
    assert e.value.code == 2
    assert "is not one line of KEY=VALUE" in capsys.readouterr().err


def test_a_shape_error_under_a_scale_says_the_scale(tmp_path, capsys):
    spec = tmp_path / "grouped.yaml"
    spec.write_text("""\
name: grouped
input: {size: 8}
scales:
  thin: {width: 0.5, divisor: 4}
layers:
  - stem: conv 3x3 24
  - grouped: conv 3x3 24 groups=8
""", encoding="utf-8")
    assert main(["check", str(spec)]) == 0  # 24 channels in 8 groups of 3
    capsys.readouterr()
    assert main(["check", str(spec), "--scale", "thin"]) == 1  # 12 channels in 8 groups
    err = capsys.readouterr().err
    assert "error[E509]" in err and "(with scale `thin`: width 0.5, depth 1)" in err


def test_a_checkpoint_larger_than_the_free_memory_is_not_read(spec, tmp_path, capsys,
                                                              monkeypatch):
    pytest.importorskip("torch")
    from archc import weights

    checkpoint = tmp_path / "huge.pth"
    with open(checkpoint, "wb") as f:  # sparse: costs no disk
        f.truncate(3 * 2**30)
    monkeypatch.setattr(weights, "free_memory", lambda: 2 * 2**30)
    monkeypatch.setattr(weights.torch, "load", lambda *a, **k: pytest.fail("it was read"))
    assert main(["migrate", "--from", str(spec), "--to", str(spec), str(checkpoint), "-o",
                 str(tmp_path / "out.pth")]) == 1
    assert capsys.readouterr().err == (f"{checkpoint}: error[E104]: the file is 3.0 GiB, more "
                                       "than the 2.0 GiB of memory free to read it into\n")
    monkeypatch.setattr(weights, "free_memory", lambda: None)  # the system does not say
    with open(checkpoint, "wb") as f:
        f.truncate(65 * 2**30)
    assert main(["migrate", "--from", str(spec), "--to", str(spec), str(checkpoint), "-o",
                 str(tmp_path / "out.pth")]) == 1
    assert f"{checkpoint}: error[E104]: file is larger than 64 GiB" in capsys.readouterr().err
    assert not (tmp_path / "out.pth").exists()
