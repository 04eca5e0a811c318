"""Layer scale (archc/ops/layer_scale.py): a parameter of its block, C x 1 x 1, whose state_dict
key is its step's name (torchvision's `features.1.0.layer_scale`), multiplying the residual
branch as a hand-written ConvNeXt-style block does; counted in the parameters, carried by
`archc diff`, loaded by the deploy module; refused inside an nn.Sequential."""

from __future__ import annotations

import pytest

from archc import compile_spec
from archc.cli import main
from archc.diff import CARRIED, NEW, compare
from archc.ir.graph import fingerprint

SPEC = """\
name: scaled
input: {size: 8}
num_classes: 4
blocks:
  Block:
    residual: {activation: none}
    layers:
      - conv: conv 3x3 in nobn noact bias
      - layer_scale: SCALE
layers:
  - stem: conv 3x3 16 nobn noact bias
  - stage: [2 x Block]
  - pool: avgpool global
head:
  - fc: linear num_classes
"""


def write(tmp_path, scale="layer_scale 1e-6", name="net.yaml"):
    path = tmp_path / name
    path.write_text(SPEC.replace("SCALE", scale) if scale else
                    SPEC.replace("      - layer_scale: SCALE\n", ""), encoding="utf-8")
    return path


def test_the_model_is_a_hand_written_layer_scale(tmp_path):
    torch = pytest.importorskip("torch")
    from torch import nn

    import archc

    class Block(nn.Module):  # torchvision's CNBlock, its branch one conv
        def __init__(self, dim):
            super().__init__()
            self.conv = nn.Conv2d(dim, dim, 3, padding=1)
            self.layer_scale = nn.Parameter(torch.ones(dim, 1, 1) * 1e-6)

        def forward(self, x):
            return x + self.layer_scale * self.conv(x)

    class Reference(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Conv2d(3, 16, 3, padding=1)
            self.stage = nn.Sequential(Block(16), Block(16))
            self.fc = nn.Linear(16, 4)

        def forward(self, x):
            return self.fc(self.stage(self.stem(x)).mean((2, 3)))

    torch.manual_seed(0)
    reference = Reference().eval()
    model = archc.build_model(str(write(tmp_path))).eval()
    assert model.stage[0].layer_scale.shape == (16, 1, 1)
    assert torch.equal(model.stage[0].layer_scale, torch.full((16, 1, 1), 1e-6))
    assert "stage.0.layer_scale" in dict(model.named_parameters())
    with torch.no_grad():
        for block in reference.stage:  # about 1: 1e-6 would hide the blocks
            block.layer_scale.copy_(torch.rand(16, 1, 1) + 0.5)
    model.load_state_dict(reference.state_dict(), strict=True)
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        out = model(x)
        assert not torch.allclose(out[0], out[1])  # it reads the input
        torch.testing.assert_close(out, reference(x), rtol=0, atol=1e-5)
        # without the layer scale the branch counts fully: the test can tell
        plain = archc.build_model(str(write(tmp_path, None, "plain.yaml"))).eval()
        plain.load_state_dict({k: v for k, v in reference.state_dict().items()
                               if "layer_scale" not in k}, strict=True)
        assert not torch.allclose(plain(x), out, rtol=1e-4, atol=1e-4)
        deploy = archc.build_model(str(write(tmp_path)), deploy=True)
        deploy.load_trained(model.state_dict())
        torch.testing.assert_close(deploy(x), out, rtol=1e-4, atol=1e-5)
        with pytest.raises(RuntimeError, match="stage.1.layer_scale"):
            state = model.state_dict()
            del state["stage.1.layer_scale"]
            deploy.load_trained(state)


def test_its_parameters_state_dict_and_diff(tmp_path):
    from archc.backends.torch.state import state_dict
    from archc.ir.cost import CostModel

    network = compile_spec(str(write(tmp_path)))
    plain = compile_spec(str(write(tmp_path, None, "plain.yaml")))
    count = CostModel(network, network.shapes).total().params
    assert count - CostModel(plain, plain.shapes).total().params == 2 * 16
    tensors = {t.name: t.shape for t in state_dict(network)}
    assert tensors["stage.0.layer_scale"] == (16, 1, 1)
    assert sum(t.numel for t in state_dict(network) if t.parameter) == count
    status = {change.name: change.status for change in compare(plain, network).changes}
    assert status["stage.0.layer_scale"] == NEW and status["stage.0.conv.weight"] == CARRIED
    assert status["fc.weight"] == CARRIED  # the residual stream keeps its meaning


def test_compact_and_long_form_agree(tmp_path):
    assert fingerprint(compile_spec(str(write(tmp_path)))) == \
        fingerprint(compile_spec(str(write(tmp_path, "{type: layer_scale, init: 1e-6}",
                                           "long.yaml"))))


@pytest.mark.parametrize("old, new, error", [
    ("      - layer_scale: SCALE\n", "      - scales: [layer_scale 1e-6]\n",
     "net.yaml:9:18: error[E207]: layer_scale 1e-06 is a parameter of its module, not a module: "
     "it cannot be a member of an nn.Sequential; give it a name of its own "
     "(`- layer_scale: layer_scale 1e-6`) (blocks.Block.layers[1].scales[0])"),
    ("SCALE", "layer_scale",
     "net.yaml:9:22: error[E205]: `layer_scale`: write layer_scale with its initial value, e.g. "
     "layer_scale 1e-6 (blocks.Block.layers[1].layer_scale)"),
])
def test_a_bad_layer_scale_is_refused_where_it_is_written(tmp_path, capsys, monkeypatch, old,
                                                          new, error):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "net.yaml").write_text(SPEC.replace(old, new).replace("SCALE", "x"),
                                       encoding="utf-8")
    assert main(["check", "net.yaml"]) == 1
    assert capsys.readouterr().err.splitlines()[0] == error
