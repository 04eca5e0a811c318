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


def basic_block():
    """torchvision's ResNet BasicBlock, its projection decided by its constructor: the
    reference of a block whose shortcut has a condition (`stride != 1 or in != width`)."""
    from torch import nn

    class Basic(nn.Module):
        def __init__(self, inplanes, planes, stride=1):
            super().__init__()
            self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(planes)
            self.relu = nn.ReLU()
            self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(planes)
            self.downsample = None
            if stride != 1 or inplanes != planes:
                self.downsample = nn.Sequential(nn.Conv2d(inplanes, planes, 1, stride,
                                                          bias=False), nn.BatchNorm2d(planes))

        def forward(self, x):
            out = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
            identity = x if self.downsample is None else self.downsample(x)
            return self.relu(out + identity)

    return Basic
