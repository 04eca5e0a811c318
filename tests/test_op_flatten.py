"""Flatten (archc/ops/flatten.py): the linear layer after it reads C x H x W features, as a
hand-written module's does; archc diff follows the channels through it; a flat input is refused
where the flatten is written."""

from __future__ import annotations

import pytest

from archc import compile_spec
from archc.cli import main
from archc.diff import CARRIED, MEANING, SHAPE, compare

SPEC = """\
name: flat
input: {size: 12}
num_classes: 5
layers:
  - stem: conv 3x3 8 /2
  - pool: avgpool adaptive 3x2
head:
  - flatten: flatten
  - fc: linear num_classes
"""


def write(tmp_path, text=SPEC, name="net.yaml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_the_linear_layer_reads_every_position(tmp_path):
    torch = pytest.importorskip("torch")
    import archc

    model = archc.build_model(str(write(tmp_path))).eval()
    assert model.fc.in_features == 8 * 3 * 2
    x = torch.randn(2, 3, 12, 12)
    with torch.no_grad():
        features = torch.nn.functional.adaptive_avg_pool2d(model.stem(x), (3, 2))
        want = features.reshape(2, -1) @ model.fc.weight.T + model.fc.bias
        torch.testing.assert_close(model(x), want)


def test_diff_follows_the_channels_through_it(tmp_path):
    base = compile_spec(str(write(tmp_path)))
    wider = compile_spec(str(write(tmp_path, SPEC.replace("conv 3x3 8 /2", "conv 3x3 16 /2"),
                                   "wide.yaml")))
    status = {c.name: c.status for c in compare(base, wider).changes}
    assert status["fc.weight"] == SHAPE  # 48 features before, 96 after
    other = compile_spec(str(write(tmp_path, SPEC.replace("conv 3x3 8 /2", "conv 5x5 8 /2"),
                                   "other.yaml")))
    status = {c.name: c.status for c in compare(base, other).changes}
    assert status["fc.weight"] == MEANING and status["fc.bias"] == MEANING
    assert {c.status for c in compare(base, base).changes} == {CARRIED}


def test_a_flat_input_is_refused(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path, SPEC.replace("  - pool: avgpool adaptive 3x2\n", "  - pool: avgpool global\n"))
    assert main(["check", "net.yaml"]) == 1
    assert capsys.readouterr().err.splitlines() == [
        "net.yaml:8:14: error[E504]: flatten needs a C x H x W input, gets the flat 8 "
        "(head[0].flatten)"]
