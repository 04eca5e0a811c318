"""Layer norm and group norm (archc/ops/layernorm.py, groupnorm.py): on N x C x H x W a layer
norm is torchvision's LayerNorm2d, over the channels at each position, and after `permute nhwc`
nn.LayerNorm over the last dimension, with the same weights and numbers; a group norm is
nn.GroupNorm. Each is compared with a hand-written module; bad forms are refused where they
are written."""

from __future__ import annotations

import pytest

from archc import compile_spec
from archc.cli import main
from archc.ir.graph import fingerprint

SPEC = """\
name: normed
input: {size: 8}
num_classes: 4
layers:
  - stem: conv 3x3 16 nobn noact bias
  - norm: NORM
  - pool: avgpool global
head:
  - fc: linear num_classes
"""


def write(tmp_path, norm="layernorm eps=1e-6", name="net.yaml"):
    path = tmp_path / name
    path.write_text(SPEC.replace("NORM", norm), encoding="utf-8")
    return path


def outputs(tmp_path, norm, by_hand):
    """(the model's outputs, a hand-written model's) for SPEC with `norm`, whose affine
    weights are randomised; by_hand(x, weight, bias) is the norm written out."""
    import torch
    from torch import nn

    import archc

    class Reference(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem, self.fc = nn.Conv2d(3, 16, 3, padding=1), nn.Linear(16, 4)
            self.weight, self.bias = nn.Parameter(torch.ones(16)), nn.Parameter(torch.zeros(16))

        def forward(self, x):
            return self.fc(by_hand(self.stem(x), self.weight, self.bias).mean((2, 3)))

    torch.manual_seed(0)
    model = archc.build_model(str(write(tmp_path, norm))).eval()
    with torch.no_grad():
        model.norm.weight.copy_(torch.rand(16) + 0.5)
        model.norm.bias.copy_(torch.randn(16) * 0.1)
    reference = Reference().eval()
    reference.load_state_dict({k.replace("norm.", ""): v for k, v in model.state_dict().items()},
                              strict=True)
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        out = model(x)
        assert not torch.allclose(out[0], out[1])  # it reads the input
        deploy = archc.build_model(str(write(tmp_path, norm)), deploy=True)
        deploy.load_trained(model.state_dict())
        torch.testing.assert_close(deploy(x), out, rtol=1e-4, atol=1e-5)
        return out, reference(x)


def per_position(x, weight, bias, eps=1e-6):
    """Each position's channels normalised, then scaled and shifted per channel."""
    import torch

    mean, var = x.mean(1, keepdim=True), x.var(1, keepdim=True, unbiased=False)
    return (x - mean) / torch.sqrt(var + eps) * weight[:, None, None] + bias[:, None, None]


def test_a_layer_norm_is_torchvisions_layer_norm_2d(tmp_path):
    torch = pytest.importorskip("torch")
    out, want = outputs(tmp_path, "layernorm eps=1e-6", per_position)
    torch.testing.assert_close(out, want, rtol=0, atol=1e-5)
    # a norm over the whole map (GroupNorm with one group) differs: the test can tell
    out, want = outputs(tmp_path, "groupnorm 1 eps=1e-6", per_position)
    assert not torch.allclose(out, want, rtol=1e-4, atol=1e-4)
    # PyTorch's default eps is another norm's
    out, want = outputs(tmp_path, "layernorm", lambda x, w, b: per_position(x, w, b, 1e-5))
    torch.testing.assert_close(out, want, rtol=0, atol=1e-5)


def test_the_module_follows_the_layout(tmp_path):
    torch = pytest.importorskip("torch")

    import archc

    model = archc.build_model(str(write(tmp_path)))
    assert type(model.norm).__name__ == "LayerNorm2d" and model.norm.eps == 1e-6
    assert isinstance(model.norm, torch.nn.LayerNorm)  # its weights are nn.LayerNorm's
    last = archc.build_model(str(write(tmp_path, "[permute nhwc, layernorm, permute nchw]")))
    assert type(last.norm[1]) is torch.nn.LayerNorm and last.norm[1].eps == 1e-5


def test_a_group_norm_is_torchs(tmp_path):
    torch = pytest.importorskip("torch")

    def by_groups(x, weight, bias):
        n, c, h, w = x.shape
        groups = x.reshape(n, 4, c // 4 * h * w)
        mean, var = groups.mean(2, keepdim=True), groups.var(2, keepdim=True, unbiased=False)
        normed = ((groups - mean) / torch.sqrt(var + 1e-5)).reshape(n, c, h, w)
        return normed * weight[:, None, None] + bias[:, None, None]

    out, want = outputs(tmp_path, "groupnorm 4", by_groups)
    torch.testing.assert_close(out, want, rtol=0, atol=1e-5)
    out, want = outputs(tmp_path, "groupnorm 2", by_groups)
    assert not torch.allclose(out, want, rtol=1e-4, atol=1e-4)


def test_parameters_and_state_dict(tmp_path):
    from archc.backends.torch.state import state_dict
    from archc.ir.cost import CostModel

    for norm in ("layernorm eps=1e-6", "groupnorm 4"):
        network = compile_spec(str(write(tmp_path, norm)))
        rows = {row.name: row for row in CostModel(network, network.shapes).stages()}
        assert rows["norm"].cost.params == 32 and rows["norm"].cost.macs == 0
        assert [(t.name, t.shape) for t in state_dict(network) if t.name.startswith("norm")] \
            == [("norm.weight", (16,)), ("norm.bias", (16,))]


@pytest.mark.parametrize("compact, long", [
    ("layernorm eps=1e-6", "{type: layernorm, eps: 1e-6}"),
    ("layernorm", "{type: layernorm}"),
    ("groupnorm 4 eps=1e-6", "{type: groupnorm, groups: 4, eps: 1e-6}"),
])
def test_compact_and_long_forms_agree(tmp_path, compact, long):
    assert fingerprint(compile_spec(str(write(tmp_path, compact)))) == \
        fingerprint(compile_spec(str(write(tmp_path, long, "long.yaml"))))


@pytest.mark.parametrize("norm, error", [
    ("layernorm 1e-6", "net.yaml:6:11: error[E205]: `layernorm 1e-6`: write layernorm alone or "
                       "with its eps, e.g. layernorm eps=1e-6 (layers[1].norm)"),
    ("layernorm eps=2", "net.yaml:6:11: error[E204]: `layernorm eps=2`: eps must be < 1.0, got "
                        "2.0 (layers[1].norm)"),
    ("groupnorm 3", "net.yaml:6:11: error[E509]: groupnorm 3: 16 channels do not divide into 3 "
                    "groups (layers[1].norm)"),
    ("groupnorm eps=1e-6", "net.yaml:6:11: error[E205]: `groupnorm eps=1e-6`: write groupnorm "
                           "with its number of groups and, if not 1e-5, its eps, e.g. groupnorm "
                           "32 eps=1e-6 (layers[1].norm)"),
    ("[permute nhwc, groupnorm 4, permute nchw]",
     "net.yaml:6:26: error[E504]: groupnorm 4 needs a channels-first input (N x C x H x W), gets "
     "the channels-last 16 x 8 x 8 of `norm.0`: put `permute nchw` before it "
     "(layers[1].norm[1])"),
])
def test_a_bad_norm_is_refused_where_it_is_written(tmp_path, capsys, monkeypatch, norm, error):
    monkeypatch.chdir(tmp_path)
    write(tmp_path, norm)
    assert main(["check", "net.yaml"]) == 1
    assert capsys.readouterr().err.splitlines()[0] == error
