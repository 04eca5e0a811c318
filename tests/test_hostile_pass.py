"""A hostile-input pass over every command and the Python API, as an attacker and as a confused
user would try them: odd file kinds and paths, NUL and other characters where a path is read,
names that collide with what the generated modules define, values at and past the bounds,
checkpoints that hold what a state_dict does not, and arguments of the wrong kind.

Each case asserts what docs/errors.md promises: exit status 1 with one located line naming the
code (2 for a usage mistake), never a traceback, and nothing written. (archc train's own inputs
and the deploy modules' from_trained have tests of their own.)"""

from __future__ import annotations

import os
import re
import resource
import struct
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

import archc
from archc.cli import main
from archc.errors import SpecError

ROOT = Path(__file__).resolve().parent.parent
GOOGLENET = ROOT / "specs" / "googlenet.yaml"

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


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def cli(capsys, *argv) -> tuple[int, str, str]:
    """Runs archc in this process: (exit status, stdout, stderr), never a traceback."""
    status = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return status, out, err


def one_error(err: str, code: str, where: str = "") -> str:
    """The one line of stderr, which names the code (and starts with `where`)."""
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert f"error[{code}]" in lines[0], err
    assert lines[0].startswith(where), err
    return lines[0]


def usage_mistake(capsys, *argv) -> str:
    """A mistake on the command line: argparse's exit status 2 and its message."""
    with pytest.raises(SystemExit) as exited:
        main([str(a) for a in argv])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err


def tree(folder: Path) -> dict[str, bytes | str]:
    """Every entry under folder, with a file's bytes: what "nothing written" compares."""
    out: dict[str, bytes | str] = {}
    for path in sorted(folder.rglob("*")):
        name = str(path.relative_to(folder))
        if path.is_symlink():
            out[name] = f"-> {os.readlink(path)}"
        elif path.is_file():
            out[name] = path.read_bytes()
        else:
            out[name] = "folder" if path.is_dir() else "special"
    return out


# ------------------------------------------------------------------ paths a spec writes


@pytest.mark.parametrize("line, code, where", [
    ('extends: "tiny\\0.yaml"\nname: x\n', "E308", "spec.yaml:1:10: "),
    ('include: ["common\\0.yaml"]\n' + TINY, "E301", "spec.yaml:1:11: "),
], ids=["extends", "include"])
def test_a_nul_in_a_path_a_spec_writes_is_a_located_error(tmp_path, spec, capsys, line, code,
                                                          where):
    """No file's name holds a NUL; os.stat raised ValueError, a traceback."""
    bad = write(tmp_path / "spec.yaml", line)
    status, _, err = cli(capsys, "check", bad)
    assert status == 1
    message = one_error(err, code, str(tmp_path / where))
    assert "\\x00" in message and "\0" not in message


def test_reading_a_path_with_a_nul_says_no_such_file():
    from archc.files import Unreadable, file_size

    with pytest.raises(Unreadable) as refused:
        file_size("a\0b.yaml", 100, "a spec file")
    assert refused.value.code == "E101"


def test_a_spec_that_extends_itself_under_another_spelling(tmp_path, capsys):
    bad = write(tmp_path / "self.yaml", "extends: ./././self.yaml\nname: x\n")
    status, _, err = cli(capsys, "check", bad)
    assert status == 1
    one_error(err, "E308", f"{bad}:1:10: ")
    assert "extends cycle" in err


def test_a_spec_may_extend_an_absolute_path(tmp_path, spec, capsys):
    (tmp_path / "sub").mkdir()
    variant = write(tmp_path / "sub" / "v.yaml", f"extends: {spec}\nname: tiny_v\n")
    status, out, err = cli(capsys, "check", variant)
    assert (status, err) == (0, "")
    assert out.startswith("tiny_v (")


@pytest.mark.parametrize("kind", ["checkpoint", "binary"])
def test_including_a_file_that_is_not_text_names_the_file(tmp_path, spec, capsys, kind):
    other = tmp_path / f"other.{'pth' if kind == 'checkpoint' else 'bin'}"
    other.write_bytes(b"PK\x03\x04\x80\x81" + bytes(range(256)) if kind == "checkpoint"
                      else bytes(range(128, 256)))
    including = write(tmp_path / "inc.yaml", f"include: [{other.name}]\n" + TINY)
    status, _, err = cli(capsys, "check", including)
    assert status == 1
    one_error(err, "E105", f"{other}:1:")


@pytest.mark.parametrize("kind, code", [
    ("dangling link", "E101"), ("link loop", "E103"), ("through a file", "E103"),
    ("name too long", "E103"), ("folder", "E102")])
def test_spec_paths_of_every_odd_kind(tmp_path, spec, capsys, kind, code):
    path = tmp_path / "x.yaml"
    if kind == "dangling link":
        path.symlink_to(tmp_path / "nowhere.yaml")
    elif kind == "link loop":
        (tmp_path / "y.yaml").symlink_to(path)
        path.symlink_to(tmp_path / "y.yaml")
    elif kind == "through a file":
        path = spec / "x.yaml"
    elif kind == "name too long":
        path = tmp_path / ("a" * 300 + ".yaml")
    else:
        path.mkdir()
    status, _, err = cli(capsys, "check", path)
    assert status == 1
    one_error(err, code, f"{path}: ")


# ------------------------------------------------------------------ names that collide


@pytest.mark.parametrize("helper", ["ACTIVATIONS", "CUDNN", "ONEDNN", "PACKED"])
def test_a_network_whose_class_would_replace_a_helper_is_refused(tmp_path, capsys, helper):
    """`a_c_t_i_v_a_t_i_o_n_s` became `class ACTIVATIONS`, which replaced the activation
    table: the generated module failed as it built its first conv unit."""
    name = "_".join(helper.lower())
    bad = write(tmp_path / "net.yaml", TINY.replace("name: tiny", f"name: {name}"))
    status, _, err = cli(capsys, "check", bad)
    assert status == 1
    assert f"its class would be `{helper}`" in one_error(err, "E209", f"{bad}:1:7: ")


def test_a_block_named_like_the_deploy_class_is_refused(tmp_path, capsys):
    """A block `TinyDeploy` in network `tiny` was replaced by the deploy module's network
    class, which then built itself forever (a RecursionError)."""
    bad = write(tmp_path / "net.yaml", TINY.replace(
        "layers:\n", "blocks:\n  TinyDeploy:\n    layers:\n      - c: conv 1x1 8\nlayers:\n")
        .replace("  - pool:", "  - b: TinyDeploy\n  - pool:"))
    out = tmp_path / "out"
    out.mkdir()
    for command in (["check"], ["build", "--deploy", "-o", out], ["build", "-o", out]):
        status, _, err = cli(capsys, *command, bad)
        assert status == 1
        assert "in its deploy module" in one_error(err, "E209", f"{bad}:")
    assert tree(out) == {}


# ------------------------------------------------------------------ --set and --scale


@pytest.mark.parametrize("value, code", [
    ("num_classes=0", "E204"), ("num_classes=1048577", "E204"), ("num_classes=.nan", "E203"),
    ("num_classes=1e400", "E203"), ("input.size=8193", "E204"), ("input.std=0", "E204"),
    ("input.channels=65537", "E204"), ("layers.conv=conv 65x65 8", "E214"),
    ("layers.conv=conv 3x3 65537", "E204"), ("layers.conv=conv 3x3 8 /65", "E204"),
    ("layers.conv=conv 3x3 8 pad=65", "E204"), ("layers.conv=conv 3x3 8 groups=0", "E204"),
    ("layers.conv=conv 3x3 (8//0)", "E506"), ("name=class", "E209"), ("name=$(rm -rf)", "E209"),
    ("num_classes=!!python/object:os.system x", "E109"), ("num_classes=&a [*a]", "E114"),
    ('num_classes="\\ud800"', "E106"), ("num_classes={", "E106"), ("layers=[]", "E210"),
    ("layers.nothing=1", "E309"), ("scales.s={width: 1e308}", "E204"), ("scale=nope", "E412"),
    ("__class__=1", "E202"), ("include=[/dev/zero]", "E115"), ("blocks=3", "E203"),
])
def test_every_kind_of_set_value_is_one_located_error(spec, capsys, value, code):
    status, out, err = cli(capsys, "check", spec, "--set", value)
    assert (status, out) == (1, "")
    where = "" if code in ("E506", "E115") else f"--set {value}"
    one_error(err, code, where)


@pytest.mark.parametrize("value", ["extends=x", "=1", "a..b=1", "num_classes", "name=a\nb",
                                   "name=a\u202eb"])
def test_set_values_that_are_not_one_key_value_are_usage_mistakes(spec, capsys, value):
    assert "argument --set" in usage_mistake(capsys, "check", spec, "--set", value)


def test_a_long_set_value_is_cut_in_the_message(spec, capsys):
    """The position of a --set value is `--set TEXT`: TEXT of 100,000 characters made a line
    of 100,000 characters."""
    status, _, err = cli(capsys, "check", spec, "--set", "name=" + "a" * 100_000)
    assert status == 1
    assert len(one_error(err, "E209", "--set name=aaaa")) < 600


def test_a_set_include_is_relative_to_the_current_folder(tmp_path, spec, capsys, monkeypatch):
    """It was read relative to the "folder" of `--set include=[lib`: the file looked for was
    `--set include=[lib/lib/b.yaml`."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "lib").mkdir()
    write(tmp_path / "lib" / "b.yaml", "blocks:\n  B:\n    layers:\n      - c: conv 1x1 8\n")
    status, out, err = cli(capsys, "check", spec, "--set", "include=[lib/b.yaml]",
                           "--set", "layers.conv=B")
    assert (status, err) == (0, "")
    assert "conv   B" in out
    status, _, err = cli(capsys, "check", spec, "--set", "include=[lib/nope.yaml]")
    assert status == 1
    assert "(looked for lib/nope.yaml)" in one_error(err, "E301", "--set include=[lib/nope")


@pytest.mark.parametrize("command", ["check", "build", "render", "train"])
def test_an_empty_scale_is_a_usage_mistake(spec, capsys, command):
    """`--scale $SCALE` with SCALE unset built the unscaled network without a word."""
    err = usage_mistake(capsys, command, spec, "--scale", "")
    assert "argument --scale: must not be empty" in err


def test_an_unknown_scale_is_located_at_the_option(spec, capsys):
    status, _, err = cli(capsys, "check", spec, "--scale", "huge")
    assert status == 1
    one_error(err, "E412", "--scale huge: ")  # as written, not as the --set it stands for
    status, _, err = cli(capsys, "check", spec, "--set", "scale=huge")
    assert status == 1
    one_error(err, "E412", "--set scale=huge: ")


# ------------------------------------------------------------------ numbers and expressions


BLOCK = """\
name: tiny
input: {size: 8}
num_classes: 3
blocks:
  B:
    params: [s]
    layers:
      - c: conv 1x1 8
    residual: {scale: SCALE}
layers:
  - conv: conv 3x3 8
  - b: B(s=ARG)
  - pool: avgpool global
head:
  - fc: linear num_classes
"""


@pytest.mark.parametrize("scale, arg, code, line", [
    ("s * s", "1e200", "E508", 12), ("s / 3 * s", "1e300", "E508", 12),
    ("s * s * s * s", "100000", "E506", 9), ("s // (s - s)", "1", "E506", 9),
])
def test_a_refused_argument_is_reported_once(tmp_path, capsys, scale, arg, code, line):
    """An argument past the bound was reported, and then each formula using it again: "the
    residual scale `s * s` has no value: `s` is None, not a number"."""
    bad = write(tmp_path / "b.yaml", BLOCK.replace("SCALE", scale).replace("ARG", arg))
    status, _, err = cli(capsys, "check", bad)
    assert status == 1
    assert "None" not in one_error(err, code, f"{bad}:{line}:")


# ------------------------------------------------------------------ build, render: outputs


def test_build_check_reads_no_fifo_device_or_huge_file(tmp_path, spec):
    """build --check read the file in the way whole: a FIFO hung, a link to /dev/zero or a
    10 GiB sparse file ran out of memory (a MemoryError traceback)."""
    folders = {}
    for kind in ("fifo", "device", "huge"):
        folder = folders[kind] = tmp_path / kind
        folder.mkdir()
        target = folder / "tiny.py"
        if kind == "fifo":
            os.mkfifo(target)
        elif kind == "device":
            target.symlink_to("/dev/zero")
        else:
            with open(target, "wb") as f:
                f.truncate(10 * 2**30)

    def limited():  # a regression fails, and does not take the machine's memory
        resource.setrlimit(resource.RLIMIT_AS, (2 * 2**30, 2 * 2**30))

    states = {"fifo": "cannot be read (is a FIFO (named pipe), not a generated module)",
              "device": "cannot be read (is a character device, not a generated module)",
              "huge": "out of date (file is larger than "}
    for kind, folder in folders.items():
        done = subprocess.run([sys.executable, "-m", "archc", "build", "--check", "-o",
                               str(folder), str(spec)], capture_output=True, text=True,
                              timeout=30, preexec_fn=limited, cwd=ROOT)
        assert done.returncode == 1, done.stderr
        assert done.stdout == ""  # no diff of what was not read
        one_error(done.stderr, "E608", f"{folder / 'tiny.py'}: error[E608]: {states[kind]}")


@pytest.mark.parametrize("output, code", [("/dev/null", "E602"), ("tiny.yaml", "E602"),
                                          ("missing/deeper", "E601"), ("/proc", "E604")])
def test_output_folders_that_cannot_be(tmp_path, spec, capsys, monkeypatch, output, code):
    if output == "/proc" and not os.path.isdir("/proc/self"):
        pytest.skip("no /proc here")
    monkeypatch.chdir(tmp_path)
    before = tree(tmp_path)
    for command in (["build"], ["render", "--format", "dot"]):
        status, out, err = cli(capsys, *command, "tiny.yaml", "-o", output)
        assert (status, out) == (1, "")
        one_error(err, code)
    assert tree(tmp_path) == before


def test_an_output_through_a_linked_folder_that_is_the_spec(tmp_path, capsys):
    """The spec `real/tiny.py` built into `link/`, a link to `real`: the output is the spec."""
    (tmp_path / "real").mkdir()
    source = write(tmp_path / "real" / "tiny.py", TINY)
    (tmp_path / "link").symlink_to(tmp_path / "real")
    status, _, err = cli(capsys, "build", source, "-o", tmp_path / "link")
    assert status == 1
    one_error(err, "E611", f"{tmp_path / 'link' / 'tiny.py'}: error[E611]: is the input")
    assert source.read_text(encoding="utf-8") == TINY


@pytest.mark.parametrize("block", ["", "../../x", "stem\n"])
def test_render_of_a_block_that_is_not_there(tmp_path, spec, capsys, block):
    out = tmp_path / "out"
    out.mkdir()
    status, _, err = cli(capsys, "render", spec, "--block", block, "--format", "dot", "-o", out)
    assert status == 1
    one_error(err, "E607", f"{spec}: ")
    assert tree(out) == {}


@pytest.mark.parametrize("argv", [["schema", "-o", "x.json"], ["schema", "extra"],
                                  ["schema", "--json"]])
def test_schema_takes_no_arguments(tmp_path, capsys, monkeypatch, argv):
    monkeypatch.chdir(tmp_path)
    assert "unrecognized arguments" in usage_mistake(capsys, *argv)
    assert tree(tmp_path) == {}


# ------------------------------------------------------------------ diff


def test_diff_prints_odd_spec_paths_on_one_line(tmp_path, capsys):
    """`A: tiny (PATH)` printed the path raw: a line break, or U+202E reversing the line."""
    odd = write(tmp_path / "ev\u202eil\nname.yaml", TINY)
    status, out, err = cli(capsys, "diff", odd, odd)
    assert (status, err) == (0, "")
    first, second = out.splitlines()[:2]
    assert first == f"A: tiny ({tmp_path}/ev\\u202eil\\nname.yaml)"
    assert second.startswith("B: tiny (") and "\u202e" not in out


def test_diff_of_unrelated_networks_carries_nothing(spec, capsys):
    status, out, err = cli(capsys, "diff", spec, GOOGLENET)
    assert (status, err) == (0, "")
    assert "state_dict: 8 tensors in A, 344 in B" in out
    summary = out.split("state_dict: ")[1].splitlines()[1:]
    assert [line.split()[0] for line in summary] == ["shape", "new", "gone"]  # none carried


# ------------------------------------------------------------------ migrate: checkpoints


@pytest.fixture
def weights(spec):
    pytest.importorskip("torch")
    return archc.build_model(str(spec)).state_dict()


def migrate(capsys, tmp_path, spec, checkpoint) -> tuple[int, str]:
    """archc migrate of a checkpoint of tiny into tiny: (exit status, stderr); no file is
    written and no warning is shown."""
    before = tree(tmp_path)
    with warnings.catch_warnings(record=True) as shown:
        warnings.simplefilter("always")
        status, _, err = cli(capsys, "migrate", checkpoint, "--from", spec, "--to", spec,
                             "-o", tmp_path / "out.pth")
    assert [str(w.message) for w in shown] == []
    if status:
        assert tree(tmp_path) == before
    return status, err


@pytest.mark.parametrize("change, message", [
    ("sparse", "fc.weight is a sparse_coo tensor, not a dense one"),
    ("quantized", "fc.weight is torch.qint8, not floating point"),
    ("superscripts", "2 are not in its model (fc.\u00b2, fc.\u00b3)"),
    ("digits", "2 are not in its model (fc.1111111111"),
    ("empty name", "1 is not in its model ('')"),
    ("tuple names", "8 of its 8 entries are not a tensor under a name (`('conv.conv.weight',)`"),
    ("wrapped list", "1 of its 1 entries is not a tensor under a name (`'state_dict'`)"),
    ("meta", "conv.conv.weight holds no data (a meta tensor)"),
    ("complex", "conv.conv.weight is torch.complex64, not floating point"),
])
def test_checkpoints_that_are_not_a_state_dict(tmp_path, spec, weights, capsys, change,
                                               message):
    """Sparse and quantized tensors made torch print warnings beside archc's line (and a sparse
    one failed as it was copied); names that look like numbers but are not (superscripts, or
    too many digits for int()) were a ValueError traceback in the name patterns."""
    import torch

    state = dict(weights)
    zero = torch.zeros(1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch's own, as the test makes a quantized tensor
        if change == "sparse":
            state["fc.weight"] = state["fc.weight"].to_sparse()
        elif change == "quantized":
            state["fc.weight"] = torch.quantize_per_tensor(state["fc.weight"], 0.1, 0,
                                                           torch.qint8)
        elif change == "superscripts":
            state.update({"fc.\u00b2": zero, "fc.\u00b3": zero})
        elif change == "digits":
            state.update({"fc." + "1" * 5000: zero, "fc." + "1" * 4999 + "2": zero})
        elif change == "empty name":
            state[""] = zero
        elif change == "tuple names":
            state = {(name,): tensor for name, tensor in state.items()}
        elif change == "wrapped list":
            state = {"state_dict": [1]}
        elif change == "meta":
            state = {name: tensor.to("meta") for name, tensor in state.items()}
        else:
            state = {name: tensor.to(torch.complex64) if tensor.is_floating_point() else tensor
                     for name, tensor in state.items()}
        torch.save(state, tmp_path / "in.pth")
    status, err = migrate(capsys, tmp_path, spec, tmp_path / "in.pth")
    assert status == 1
    assert message in one_error(err, "E702", f"{tmp_path / 'in.pth'}: error[E702]: ")


def _safetensors(header: bytes, length: int | None = None, data: bytes = b"") -> bytes:
    return struct.pack("<Q", len(header) if length is None else length) + header + data


@pytest.mark.parametrize("content", [
    _safetensors(b"{}", length=2**62), _safetensors(b"{not json"), b"",
    _safetensors(b'{"fc.weight": {"dtype": "F32", "shape": [100000, 100000, 100000], '
                 b'"data_offsets": [0, 4]}}', data=b"\0" * 4),
], ids=["huge header", "not json", "empty", "lying shape"])
def test_damaged_safetensors_files(tmp_path, spec, weights, capsys, content):
    path = tmp_path / "in.safetensors"
    path.write_bytes(content)
    status, err = migrate(capsys, tmp_path, spec, path)
    assert status == 1
    assert "not a safetensors file" in one_error(err, "E701", f"{path}: ")


def test_a_safetensors_file_of_integers(tmp_path, spec, weights, capsys):
    import torch
    from safetensors.torch import save_file

    path = tmp_path / "in.safetensors"
    save_file({name: tensor.to(torch.int32) for name, tensor in weights.items()}, path)
    status, err = migrate(capsys, tmp_path, spec, path)
    assert status == 1
    assert "conv.conv.weight is torch.int32, not floating point" in one_error(err, "E702")


def test_a_checkpoint_of_another_kind_of_file(tmp_path, spec, weights, capsys):
    status, err = migrate(capsys, tmp_path, spec, spec)  # the spec itself as the checkpoint
    assert status == 1
    one_error(err, "E701", f"{spec}: ")


def test_migrate_between_unrelated_networks_is_refused_in_one_line(tmp_path, spec, weights,
                                                                   capsys):
    import torch

    torch.save(weights, tmp_path / "in.pth")
    before = tree(tmp_path)
    status, _, err = cli(capsys, "migrate", tmp_path / "in.pth", "--from", GOOGLENET, "--to",
                         spec, "-o", tmp_path / "out.pth")
    assert status == 1
    assert one_error(err, "E702").endswith("it is a state_dict of tiny already")
    assert tree(tmp_path) == before


# ------------------------------------------------------------------ plot


METRICS = ("epoch,lr,train_loss,train_top1,val_loss,val_top1,val_top5,images_per_s,seconds\n"
           "1,0.1,2.0,0.1,2.1,0.1,0.5,100,10\n")


def test_plot_of_a_metrics_link_to_its_output(tmp_path, capsys, monkeypatch):
    """run/metrics.csv, a link to curves.png: plot -o curves.png would replace its input."""
    pytest.importorskip("matplotlib")
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "curves.png", METRICS)
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "metrics.csv").symlink_to("../curves.png")
    status, _, err = cli(capsys, "plot", "run", "-o", "curves.png")
    assert status == 1
    one_error(err, "E611", "curves.png: error[E611]: is the input (run/metrics.csv)")
    assert (tmp_path / "curves.png").read_text(encoding="utf-8") == METRICS


@pytest.mark.parametrize("kind", ["link to another file", "a file, not a folder"])
def test_plot_of_a_run_that_is_not_one(tmp_path, spec, capsys, kind):
    pytest.importorskip("matplotlib")
    run = tmp_path / "run"
    if kind == "link to another file":
        run.mkdir()
        (run / "metrics.csv").symlink_to(spec)
    else:
        run = spec
    status, _, err = cli(capsys, "plot", run, "-o", tmp_path / "c.png")
    assert status == 1
    one_error(err, "E808", f"{run}")
    assert not (tmp_path / "c.png").exists()


# ------------------------------------------------------------------ the Python API


class BytesPath:
    def __fspath__(self):
        return b"tiny.yaml"


@pytest.mark.parametrize("path, error, message", [
    (None, TypeError, "takes a spec path (str or os.PathLike), a spec's data (a mapping) or "
                      "text=YAML, not NoneType"),
    (b"tiny.yaml", TypeError, "not bytes"),
    (3, TypeError, "not int"),  # os.stat(3) would have looked at file descriptor 3
    (BytesPath(), TypeError, "takes a str spec path, not bytes"),
    ("", ValueError, "non-empty and without NUL"),
    ("tiny\0.yaml", ValueError, "non-empty and without NUL"),
])
def test_compile_spec_refuses_what_is_not_a_spec_path(spec, monkeypatch, path, error, message):
    """None, 3 and b"tiny.yaml" were a SpecError `None: error[E101]: no such file`, although
    tiny.yaml was there."""
    monkeypatch.chdir(spec.parent)
    with pytest.raises(error, match=re.escape(message)):
        archc.compile_spec(path)
    assert archc.compile_spec(Path("tiny.yaml")).name == "tiny"


@pytest.mark.parametrize("overrides", ["num_classes=4", None, [3], [b"num_classes=4"]])
def test_compile_spec_overrides_are_a_list_of_texts(spec, overrides):
    """A str was read a character at a time: "`n` is not KEY=VALUE"."""
    with pytest.raises(TypeError, match="takes overrides as a list of KEY=VALUE texts"):
        archc.compile_spec(str(spec), overrides)
    assert archc.compile_spec(str(spec), ("num_classes=4",)).num_classes == 4


@pytest.mark.parametrize("files", [["tiny.yaml"], {"tiny.yaml": b"x"}, {"tiny.yaml": None},
                                   {3: TINY}])
def test_compile_spec_files_are_texts_by_name(spec, files):
    """Each was an AttributeError from deep inside the loader."""
    with pytest.raises(TypeError, match="takes as files a dict of spec texts"):
        archc.compile_spec("tiny.yaml", files=files)


@pytest.mark.parametrize("value, error", [(0, ValueError), (-1, ValueError), (3.0, TypeError),
                                          ("3", TypeError), (True, TypeError)])
def test_build_model_num_classes(spec, value, error):
    with pytest.raises(error, match="num_classes"):
        archc.build_model(str(spec), num_classes=value)


@pytest.mark.parametrize("seed, error", [("1", TypeError), (1.5, TypeError), (None, TypeError),
                                         (True, TypeError), (-1, ValueError),
                                         (2**63, ValueError), (2**70, ValueError)])
def test_transfer_seeds_are_those_migrate_takes(spec, weights, seed, error):
    """"1" and 1.5 were taken, -1 too (--seed refuses it), 2**70 was "Overflow when unpacking
    long long"."""
    with pytest.raises(error, match="seed"):
        archc.transfer(weights, str(spec), source=str(spec), seed=seed)


def test_transfer_takes_an_integer_scalar_seed(spec, weights):
    import torch

    moved = archc.transfer(weights, str(spec), source=str(spec), seed=torch.tensor(7))
    assert set(moved.state_dict) == set(weights)


@pytest.mark.parametrize("wrap", [str, Path])
def test_transfer_of_a_checkpoint_path_says_to_read_it(tmp_path, spec, weights, wrap):
    from archc.weights import TransferError

    with pytest.raises(TransferError, match=r"is a path \(\w+\), not a state_dict: read it "
                                            r"first \(archc\.weights\.read_checkpoint"):
        archc.transfer(wrap(tmp_path / "tiny.pth"), str(spec), source=str(spec))


@pytest.mark.parametrize("target", [None, b"tiny.yaml", BytesPath()])
def test_transfer_targets_of_the_wrong_kind(spec, weights, target):
    with pytest.raises(TypeError):
        archc.transfer(weights, target, source=str(spec))


def test_a_spec_error_from_the_api_is_one_located_line_per_problem(tmp_path):
    bad = write(tmp_path / "bad.yaml", TINY.replace("conv 3x3 8", "conv 3x3 8 /2 X")
                .replace("num_classes: 3", "num_classes: 3\nchanels: 2"))
    with pytest.raises(SpecError) as caught:
        archc.compile_spec(bad)
    lines = str(caught.value).splitlines()
    assert [line.split(": ")[1] for line in lines] == ["error[E202]", "error[E205]"]
    assert all(line.startswith(f"{bad}:") for line in lines)
