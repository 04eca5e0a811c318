"""Channel shuffle (archc/ops/shuffle.py): the generated model is a hand-written ShuffleNet-style
module's, the compact and long forms agree, a number of groups that does not divide the channels
is refused where it is written, and archc diff sees that the channels after it changed."""

from __future__ import annotations

import pytest

from archc import compile_spec
from archc.cli import main
from archc.diff import CARRIED, MEANING, compare
from archc.ir.graph import fingerprint

SPEC = """\
name: shuffled
input: {size: 8}
num_classes: 4
layers:
  - stem: conv 3x3 16
  - shuffle: SHUFFLE
  - conv: conv 1x1 16 groups=4
  - pool: avgpool global
head:
  - fc: linear num_classes
"""


def write(tmp_path, shuffle="shuffle 4", name="net.yaml"):
    path = tmp_path / name
    path.write_text(SPEC.replace("SHUFFLE", shuffle) if shuffle else
                    SPEC.replace("  - shuffle: SHUFFLE\n", ""), encoding="utf-8")
    return path


def test_the_model_is_a_hand_written_channel_shuffle(tmp_path):
    torch = pytest.importorskip("torch")
    from torch import nn

    import archc

    from .conftest import randomise_batchnorm

    class Unit(nn.Module):
        def __init__(self, cin, cout, kernel, groups=1):
            super().__init__()
            self.conv = nn.Conv2d(cin, cout, kernel, padding=kernel // 2, groups=groups,
                                  bias=False)
            self.bn = nn.BatchNorm2d(cout, eps=0.001)

        def forward(self, x):
            return torch.relu(self.bn(self.conv(x)))

    class Reference(nn.Module):  # torchvision's shufflenetv2.channel_shuffle, written out
        def __init__(self):
            super().__init__()
            self.stem, self.conv = Unit(3, 16, 3), Unit(16, 16, 1, groups=4)
            self.fc = nn.Linear(16, 4)

        def forward(self, x):
            x = self.stem(x)
            b, c, h, w = x.shape
            x = x.view(b, 4, c // 4, h, w).transpose(1, 2).reshape(b, c, h, w)
            return self.fc(self.conv(x).mean((2, 3)))

    torch.manual_seed(0)
    model = archc.build_model(str(write(tmp_path))).eval()
    randomise_batchnorm(model)
    reference = Reference().eval()
    reference.load_state_dict(model.state_dict(), strict=True)
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        out = model(x)
        assert not torch.allclose(out, model(torch.randn(2, 3, 8, 8)))  # it reads the input
        torch.testing.assert_close(out, reference(x), rtol=0, atol=1e-6)
        # without the shuffle the grouped conv reads other channels: the test can tell
        plain = archc.build_model(str(write(tmp_path, None, "plain.yaml"))).eval()
        plain.load_state_dict(model.state_dict(), strict=True)
        assert not torch.allclose(plain(x), out)
        deploy = archc.build_model(str(write(tmp_path)), deploy=True)
        deploy.load_trained(model.state_dict())
        torch.testing.assert_close(deploy(x), out, rtol=1e-4, atol=1e-5)


def test_compact_and_long_form_agree(tmp_path):
    compact = compile_spec(str(write(tmp_path)))
    long = compile_spec(str(write(tmp_path, "{type: shuffle, groups: 4}", "long.yaml")))
    assert fingerprint(compact) == fingerprint(long)


@pytest.mark.parametrize("shuffle, error", [
    ("shuffle 3", "net.yaml:6:14: error[E509]: shuffle 3: 16 channels do not divide into 3 "
                  "groups (layers[1].shuffle)"),
    ("shuffle", "net.yaml:6:14: error[E205]: `shuffle`: write shuffle with its number of "
                "groups, e.g. shuffle 2 (layers[1].shuffle)"),
    ("shuffle 0", "net.yaml:6:14: error[E204]: `shuffle 0`: groups must be a whole number from "
                  "1 to 65536 or an expression of parameters, got 0 (layers[1].shuffle)"),
])
def test_a_bad_shuffle_is_refused_where_it_is_written(tmp_path, capsys, monkeypatch, shuffle,
                                                      error):
    monkeypatch.chdir(tmp_path)
    write(tmp_path, shuffle)
    assert main(["check", "net.yaml"]) == 1
    assert capsys.readouterr().err.splitlines() == [error]


def test_diff_sees_the_channels_after_a_shuffle_change(tmp_path):
    plain = compile_spec(str(write(tmp_path, None, "plain.yaml")))
    shuffled = compile_spec(str(write(tmp_path)))
    status = {change.name: change.status for change in compare(plain, shuffled).changes}
    assert status["stem.conv.weight"] == CARRIED
    assert status["conv.conv.weight"] == MEANING and status["fc.weight"] == MEANING
    # a changed layer before the shuffle changes what the layers after it read
    wider = tmp_path / "wide.yaml"
    wider.write_text(write(tmp_path).read_text().replace("conv 3x3 16", "conv 5x5 16"))
    status = {change.name: change.status
              for change in compare(shuffled, compile_spec(str(wider))).changes}
    assert status["conv.conv.weight"] == MEANING
    same = {change.status for change in compare(shuffled, shuffled).changes}
    assert same == {CARRIED}


def test_its_figure_box(tmp_path):
    pytest.importorskip("graphviz")
    from archc.backends.graphviz import figures

    overview = figures(compile_spec(str(write(tmp_path))))["overview"].source
    assert 'label="Channel shuffle (4 groups)"' in overview
