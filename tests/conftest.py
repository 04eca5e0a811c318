from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"
FIXTURES = ROOT / "tests" / "fixtures"
NETWORK_SPECS = sorted(SPECS.glob("*.yaml"))


def randomise_batchnorm(model, seed: int = 1) -> None:
    """Non-trivial BN statistics and affine parameters, so that eval mode tests them (an
    equality test with the defaults, mean 0 and variance 1, cannot see a wrong BN)."""
    import torch  # only the tests that run models need it

    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                size = module.num_features
                module.running_mean.copy_(torch.randn(size, generator=generator) * 0.1)
                module.running_var.copy_(torch.rand(size, generator=generator) + 0.5)
                module.weight.copy_(torch.rand(size, generator=generator) + 0.5)
                module.bias.copy_(torch.randn(size, generator=generator) * 0.1)


@pytest.fixture
def chdir_root(monkeypatch):
    """Run from the repository root, so that spec paths print as a user types them."""
    monkeypatch.chdir(ROOT)
