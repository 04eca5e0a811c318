"""The gate (archc/ops/gate.py, a block with `gate: true`), the adaptive average pool, identity
and the activations added beside them: each generated model is a hand-written PyTorch module's
(torchvision's SqueezeExcitation), a gate of the wrong shape is refused where it is written, and
archc diff sees an SE block as new tensors that leave the others carried."""

from __future__ import annotations

import pytest

from archc import compile_spec
from archc.cli import main
from archc.diff import CARRIED, NEW, compare
from archc.ir.graph import fingerprint

SPEC = """\
name: gated
input: {size: 10}
num_classes: 4
blocks:
  SqueezeExcitation:
    params: [squeeze]
    gate: true
    layers:
      - avgpool: POOL
      - fc1: conv 1x1 squeeze nobn noact bias
      - activation: relu
      - fc2: conv 1x1 in nobn noact bias
      - scale_activation: sigmoid
  Spatial:
    gate: true
    layers:
      - conv: conv 7x7 1 nobn noact
      - gate: sigmoid
layers:
  - stem: conv 3x3 16
  - se: SqueezeExcitation(squeeze=4)
  - spatial: Spatial
  - features: avgpool adaptive 7x7
  - pool: avgpool global
head:
  - fc: linear num_classes
"""


def write(tmp_path, text=SPEC, name="net.yaml", pool="avgpool adaptive 1x1"):
    path = tmp_path / name
    path.write_text(text.replace("POOL", pool), encoding="utf-8")
    return path


def test_the_model_is_torchvisions_squeeze_excitation_and_a_spatial_gate(tmp_path):
    torch = pytest.importorskip("torch")
    torchvision = pytest.importorskip("torchvision")
    from torch import nn

    import archc

    from .conftest import randomise_batchnorm

    class Unit(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 16, 3, padding=1, bias=False)
            self.bn = nn.BatchNorm2d(16, eps=0.001)

        def forward(self, x):
            return torch.relu(self.bn(self.conv(x)))

    class SpatialGate(nn.Module):  # CBAM's spatial attention, on the input itself
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(16, 1, 7, padding=3, bias=False)

        def forward(self, x):
            return x * torch.sigmoid(self.conv(x))

    class Reference(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = Unit()
            self.se = torchvision.ops.SqueezeExcitation(16, 4)
            self.spatial = SpatialGate()
            self.fc = nn.Linear(16, 4)

        def forward(self, x):
            x = self.spatial(self.se(self.stem(x)))
            x = nn.functional.adaptive_avg_pool2d(x, 7)  # 10 x 10 -> 7 x 7: uneven windows
            return self.fc(x.mean((2, 3)))

    torch.manual_seed(0)
    model = archc.build_model(str(write(tmp_path))).eval()
    randomise_batchnorm(model)
    reference = Reference().eval()
    reference.load_state_dict(model.state_dict(), strict=True)
    x = torch.randn(2, 3, 10, 10)
    with torch.no_grad():
        out = model(x)
        assert not torch.allclose(out, model(torch.randn(2, 3, 10, 10)))  # it reads the input
        torch.testing.assert_close(out, reference(x), rtol=0, atol=1e-6)
        # the gate matters: with fc2's bias changed, the output changes
        reference.se.fc2.bias.add_(1.0)
        assert not torch.allclose(reference(x), out)
        deploy = archc.build_model(str(write(tmp_path)), deploy=True)
        deploy.load_trained(model.state_dict())
        torch.testing.assert_close(deploy(x), out, rtol=1e-4, atol=1e-5)


def test_adaptive_pool_identity_and_the_new_activations_are_torchs(tmp_path):
    torch = pytest.importorskip("torch")
    from torch.nn import functional as F

    import archc

    for act, function in [("hardsigmoid", F.hardsigmoid), ("mish", F.mish),
                          ("leaky_relu", F.leaky_relu), ("hardswish", F.hardswish)]:
        path = tmp_path / f"{act}.yaml"
        path.write_text(f"name: acts\ninput: {{size: 9}}\nlayers:\n"
                        f"  - conv: conv 3x3 8 nobn {act} bias\n  - same: identity\n"
                        f"  - pool: avgpool adaptive 2x3\n", encoding="utf-8")
        model = archc.build_model(str(path)).eval()
        x = torch.randn(2, 3, 9, 9)
        with torch.no_grad():
            want = F.adaptive_avg_pool2d(function(model.conv.conv(x)), (2, 3))
            torch.testing.assert_close(model(x), want, rtol=0, atol=1e-6)
        assert want.shape == (2, 8, 2, 3)


def test_compact_and_long_forms_agree(tmp_path):
    compact = compile_spec(str(write(tmp_path)))
    long = compile_spec(str(write(tmp_path, name="long.yaml",
                                  pool="{type: adaptive_avgpool, size: 1}")))
    assert fingerprint(compact) == fingerprint(long)
    identity = compile_spec(str(write(tmp_path, SPEC.replace("avgpool adaptive 7x7",
                                                             "{type: identity}"), "id.yaml")))
    assert "identity" in [op.describe() for op in
                          (identity.body.nodes[n]["node"].op for n in identity.body)]


@pytest.mark.parametrize("old, new, error", [
    ("fc2: conv 1x1 in nobn noact bias", "fc2: conv 1x1 8 nobn noact bias",
     "net.yaml:12:14: error[E511]: gate: the 1x1 projection `fc2` gives 8 x 1 x 1, which must "
     "be 16 x 1 x 1 (per channel), 1 x 10 x 10 (per position) or 16 x 10 x 10, to multiply the "
     "block input 16 x 10 x 10 (blocks.SqueezeExcitation.layers[3].fc2)"),
    ("    gate: true\n    layers:\n      - avgpool", "    gate: true\n    residual: {}\n"
     "    layers:\n      - avgpool",
     "net.yaml:7:11: error[E413]: a block is a residual block or a gate, not both: put the gate "
     "in a block of its own and use it in the residual block's layers "
     "(blocks.SqueezeExcitation.gate)"),
])
def test_a_bad_gate_is_refused_where_it_is_written(tmp_path, capsys, monkeypatch, old, new,
                                                   error):
    monkeypatch.chdir(tmp_path)
    assert old in SPEC
    write(tmp_path, SPEC.replace(old, new))
    assert main(["check", "net.yaml"]) == 1
    assert capsys.readouterr().err.splitlines() == [error]


def test_diff_sees_an_se_block_as_new_tensors_and_the_rest_carried(tmp_path):
    gated = compile_spec(str(write(tmp_path)))
    plain = compile_spec(str(write(tmp_path, SPEC.replace("  - se: SqueezeExcitation(squeeze=4)"
                                                          "\n", ""), "plain.yaml")))
    status = {change.name: change.status for change in compare(plain, gated).changes}
    assert status["se.fc1.weight"] == status["se.fc2.bias"] == NEW
    assert status["stem.conv.weight"] == status["fc.weight"] == CARRIED


def test_its_figure_is_hu_et_als(tmp_path):
    pytest.importorskip("graphviz")
    from archc.backends.graphviz import figures

    source = figures(compile_spec(str(write(tmp_path))))["SqueezeExcitation"].source
    for box in ("Global pooling", "1x1 Conv (squeeze=4 Linear)", "Relu activation",
                "Sigmoid activation", 'label=Scale'):
        assert box in source
