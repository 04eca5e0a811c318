"""The zoo's specs (specs/zoo/) are their reference implementations', weight for weight: the
reference's parameter count, its state_dict loads strictly, and it gives its outputs (BatchNorm
statistics and affine parameters randomised, the output checked to depend on the input)."""

import pytest

torch = pytest.importorskip("torch")
timm = pytest.importorskip("timm")

import archc  # noqa: E402
from archc.ir.cost import CostModel  # noqa: E402

from .conftest import SPECS, randomise_batchnorm  # noqa: E402

# spec -> the reference's builder (timm's names); the reference counts its own parameters
TIMM = {"seresnet50": "seresnet50"}


def reference(name):
    torch.manual_seed(0)
    return timm.create_model(TIMM[name], pretrained=False).eval()


@pytest.mark.parametrize("name", TIMM)
def test_the_reference_loads_strictly_and_gives_the_same_outputs(name):
    expected = reference(name)
    network = archc.compile_spec(str(SPECS / "zoo" / f"{name}.yaml"))
    count = sum(p.numel() for p in expected.parameters())
    assert CostModel(network, network.shapes).total().params == count
    randomise_batchnorm(expected, seed=2)
    model = archc.build_model(network).eval()
    model.load_state_dict(expected.state_dict(), strict=True)
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        out = model(x)
        assert not torch.allclose(out, model(torch.randn_like(x)), atol=1e-3)
        torch.testing.assert_close(out, expected(x), rtol=1e-4, atol=1e-5)
        # the SE gates count: without them the outputs differ
        for module in expected.modules():
            if hasattr(module, "fc2") and hasattr(module, "gate"):
                module.fc2.bias.add_(1.0)
        assert not torch.allclose(expected(x), out, atol=1e-3)
