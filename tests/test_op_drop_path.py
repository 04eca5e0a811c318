"""Drop path (archc/ops/drop_path.py) and the network's drop_path_rate: in eval the network is
its base's; in training each drop path is timm's, its rate on timm's linear schedule; the
deploy network leaves it out; a rate that no step uses is refused where it is written."""

from __future__ import annotations

import pytest

from archc import compile_spec
from archc.cli import main

from .conftest import ROOT, randomise_batchnorm

VARIANT = ROOT / "specs" / "variants" / "inception_resnet_v2_drop_path.yaml"
BASE = ROOT / "specs" / "inception_resnet_v2.yaml"


@pytest.fixture(scope="module")
def models():
    """(base, with drop path) with the base's weights, in eval mode."""
    torch = pytest.importorskip("torch")
    import archc

    torch.manual_seed(0)
    base = archc.build_model(BASE).eval()
    randomise_batchnorm(base)
    dropping = archc.build_model(VARIANT).eval()
    dropping.load_state_dict(base.state_dict(), strict=True)
    return base, dropping


def test_in_eval_the_network_is_its_bases(models):
    import torch

    base, dropping = models
    x = torch.randn(2, 3, 75, 75, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        out = dropping(x)
        assert not torch.allclose(out[0], out[1])  # it reads the input
        torch.testing.assert_close(out, base(x), rtol=0, atol=0)


def test_the_rates_are_timms_linear_schedule(models):
    import torch

    _, dropping = models
    rates = [m.p for m in dropping.modules() if type(m).__name__ == "DropPath"]
    expected = torch.linspace(0, 0.2, 40).tolist()  # timm: 10 + 20 + 9 + 1 residual blocks
    assert rates == pytest.approx(expected, abs=1e-7)
    none = type(dropping)(drop_path_rate=0.0)
    assert {m.p for m in none.modules() if type(m).__name__ == "DropPath"} == {0.0}


def test_in_training_a_drop_path_is_timms(models):
    torch = pytest.importorskip("torch")
    timm = pytest.importorskip("timm")

    _, dropping = models
    module = dropping.repeat_1[12].drop_path
    module.train()
    x = torch.randn(64, 8, 3, 3)
    torch.manual_seed(5)
    got = module(x)
    torch.manual_seed(5)
    want = timm.layers.drop_path(x, module.p, training=True)
    assert 0 < module.p < 0.2
    torch.testing.assert_close(got, want, rtol=0, atol=0)
    dropped = (got.flatten(1) == 0).all(1)
    assert 0 < dropped.sum() < 64  # whole samples dropped, not all of them
    torch.testing.assert_close(got[~dropped], x[~dropped] / (1 - module.p))
    module.eval()


def test_the_deploy_network_leaves_drop_paths_out():
    from archc.backends.torch import generate

    source = generate(compile_spec(str(VARIANT)), deploy=True)
    assert "class DropPath" not in source and "self.drop_path" not in source
    assert "fused(self.conv2d, out, x" in source  # the projection and the sum fuse again


def test_a_rate_that_no_step_uses_is_refused(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "net.yaml").write_text(
        "name: net\ninput: {size: 8}\ndrop_path_rate: 0.1\nlayers:\n  - stem: conv 3x3 8\n",
        encoding="utf-8")
    assert main(["check", "net.yaml"]) == 1
    assert capsys.readouterr().err.splitlines() == [
        "net.yaml:3:17: error[E414]: drop_path_rate is set, but no step drops a path: insert "
        "`drop_path` steps in the residual blocks' layers (drop_path_rate)"]
