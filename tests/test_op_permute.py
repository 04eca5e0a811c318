"""Permute (archc/ops/permute.py) and the channels-last layout: between `permute nhwc` and
`permute nchw`, linear, layernorm and activations act on the channels at every position, as a
hand-written ConvNeXt-style module computes them; a conv, a pool, a concat, a residual add, a
block call or a graph's end on a channels-last tensor is refused where it is written, and a
linear on a C x H x W tensor stays E505."""

from __future__ import annotations

import pytest

from archc import compile_spec
from archc.cli import main
from archc.ir.graph import fingerprint

SPEC = """\
name: pointwise
input: {size: 8}
num_classes: 4
layers:
  - stem: conv 3x3 16 nobn noact bias
  - mlp:
      - permute nhwc
      - layernorm eps=1e-6
      - linear 32
      - gelu
      - linear 16
      - permute nchw
  - pool: avgpool global
head:
  - fc: linear num_classes
"""


def write(tmp_path, text=SPEC, name="net.yaml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_the_model_is_a_hand_written_channels_last_mlp(tmp_path):
    torch = pytest.importorskip("torch")
    from torch import nn

    import archc

    class Reference(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Conv2d(3, 16, 3, padding=1)
            self.norm, self.fc1, self.fc2 = nn.LayerNorm(16, eps=1e-6), nn.Linear(16, 32), \
                nn.Linear(32, 16)
            self.fc = nn.Linear(16, 4)

        def forward(self, x):
            x = self.stem(x).permute(0, 2, 3, 1)
            x = self.fc2(nn.functional.gelu(self.fc1(self.norm(x)))).permute(0, 3, 1, 2)
            return self.fc(x.mean((2, 3)))

    torch.manual_seed(0)
    model = archc.build_model(str(write(tmp_path))).eval()
    assert [type(m).__name__ for m in model.mlp] == ["Permute", "LayerNorm", "Linear", "GELU",
                                                    "Linear", "Permute"]
    with torch.no_grad():
        model.mlp[1].weight.uniform_(0.5, 1.5)
        model.mlp[1].bias.normal_(0, 0.1)
    reference = Reference().eval()
    state = {k.replace("mlp.1.", "norm.").replace("mlp.2.", "fc1.").replace("mlp.4.", "fc2."): v
             for k, v in model.state_dict().items()}
    reference.load_state_dict(state, strict=True)
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        out = model(x)
        assert not torch.allclose(out[0], out[1])  # it reads the input
        torch.testing.assert_close(out, reference(x), rtol=0, atol=1e-6)
        # the layer norm over the channels, not over the width: the test can tell
        wrong = nn.functional.layer_norm(model.stem(x), (8,))
        assert not torch.allclose(model.mlp[1](model.stem(x).permute(0, 2, 3, 1)),
                                  wrong.permute(0, 2, 3, 1))
        deploy = archc.build_model(str(write(tmp_path)), deploy=True)
        deploy.load_trained(model.state_dict())
        torch.testing.assert_close(deploy(x), out, rtol=1e-4, atol=1e-5)


def test_the_shapes_and_costs_are_per_position(tmp_path):
    from archc.ir.cost import CostModel

    network = compile_spec(str(write(tmp_path)))
    rows = {row.name: row for row in CostModel(network, network.shapes).stages()}
    assert rows["mlp.2"].output == (32, 8, 8)
    assert rows["mlp.2"].cost.params == 16 * 32 + 32
    assert rows["mlp.2"].cost.macs == 16 * 32 * 8 * 8  # at every position
    assert rows["mlp.5"].output == (16, 8, 8)


def test_compact_and_long_form_agree(tmp_path):
    long = SPEC.replace("permute nhwc", "{type: permute, to: nhwc}")
    assert fingerprint(compile_spec(str(write(tmp_path)))) == \
        fingerprint(compile_spec(str(write(tmp_path, long, "long.yaml"))))


@pytest.mark.parametrize("old, new, error", [
    ("      - permute nchw\n", "      - permute nchw\n      - permute nchw\n",
     "net.yaml:13:9: error[E504]: permute nchw: its input is channels-first already "
     "(layers[1].mlp[6])"),
    ("      - permute nchw\n", "      - conv 1x1 16\n      - permute nchw\n",
     "net.yaml:12:9: error[E504]: conv 1x1 16 needs a channels-first input (N x C x H x W), "
     "gets the channels-last 16 x 8 x 8 of `mlp.4`: put `permute nchw` before "
     "it (layers[1].mlp[5])"),
    ("      - permute nchw\n", "",
     "net.yaml:12:11: error[E504]: avgpool global needs a channels-first input (N x C x H x W), "
     "gets the channels-last 16 x 8 x 8 of `mlp.4`: put `permute nchw` before "
     "it (layers[2].pool)"),
    ("  - pool: avgpool global\nhead:\n  - fc: linear num_classes\n",
     "  - pool: avgpool adaptive 1x1\n  - last: permute nhwc\nhead: []\n",
     "net.yaml:14:11: error[E504]: the body ends channels-last (16 x 1 x 1): "
     "put `permute nchw` at its end (layers[3].last)"),
    ("  - pool: avgpool global\n", "  - lin: linear 16\n  - pool: avgpool global\n",
     "net.yaml:13:10: error[E505]: linear 16 needs a flat input, gets 16 x 8 x 8: put "
     "`avgpool global` before it (layers[2].lin)"),
])
def test_a_wrong_layout_is_refused_where_it_is_written(tmp_path, capsys, monkeypatch, old, new,
                                                       error):
    monkeypatch.chdir(tmp_path)
    assert old in SPEC
    write(tmp_path, SPEC.replace(old, new))
    assert main(["check", "net.yaml"]) == 1
    assert capsys.readouterr().err.splitlines()[0] == error


def test_a_residual_block_must_permute_back_before_its_sum(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path, """\
name: net
input: {size: 8}
blocks:
  Block:
    residual: {activation: none}
    layers:
      - block: [permute nhwc, linear in]
layers:
  - stem: conv 3x3 16
  - blocks: [Block]
""")
    assert main(["check", "net.yaml"]) == 1
    assert capsys.readouterr().err.splitlines() == [
        "net.yaml:5:15: error[E504]: add needs a channels-first input (N x C x H x W), gets the "
        "channels-last 16 x 8 x 8 of `block.1`: put `permute nchw` before it "
        "(blocks.Block.residual)"]


def test_permutes_are_not_drawn(tmp_path):
    from archc.backends.graphviz.render import figures

    text = SPEC.replace("  - stem:", "  - blk: Mlp\n  - stem:").replace(
        "layers:\n", "blocks:\n  Mlp:\n    layers:\n      - mlp: [permute nhwc, linear in, "
        "permute nchw]\nlayers:\n", 1)
    source = figures(compile_spec(str(write(tmp_path, text))), "Mlp")["Mlp"].source
    assert "Permute" not in source
    assert "1x1 Conv (3 Linear)" in source  # a linear over the channels is a 1x1 conv


def test_the_convnext_block_is_drawn_as_the_papers_figure_4():
    """Liu et al. 2022, Figure 4 (ConvNeXt block): d7x7 conv, LN, 1x1 conv to 4 x the channels,
    GELU, 1x1 conv back, then the sum with the input (a dashed shortcut from the block's
    input); torchvision's layer scale and stochastic depth are drawn before the sum, the
    permutes not at all."""
    import re

    from archc.backends.graphviz.render import figures

    source = figures(compile_spec("specs/zoo/convnext.yaml"), "CNBlock")["CNBlock"].source
    boxes = dict(re.findall(r'(n\d+) \[label="?([^"\]]*?)"? (?:fillcolor|fixedsize)', source))
    chain = ["n0"]
    while next_box := re.search(rf"\t{chain[-1]} -> (n\d+)\n", source):
        chain.append(next_box.group(1))
    assert [boxes[n] for n in chain] == [
        "Previous layer", "7x7 Conv (depthwise Linear)", "LayerNorm", "1x1 Conv (4 * in Linear)",
        "GELU activation", "1x1 Conv (in=96 or 192 or 384 or 768 Linear)", "Layer scale (1e-06)",
        "Drop path", "+"]
    assert f"n0 -> {chain[-1]} [style=dashed]" in source
    assert "Permute" not in source
