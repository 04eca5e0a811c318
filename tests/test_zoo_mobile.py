"""The zoo's mobile networks (specs/zoo/mobilenet_v2.yaml, mobilenet_v3.yaml) are torchvision's,
weight for weight: each builder has a spec and a scale whose model has torchvision's parameter
count, loads its state_dict strictly and gives its outputs (BatchNorm statistics and affine
parameters randomised, the output checked to depend on the input).

torchvision initialises a depthwise conv as Kaiming's fan_out sees it, channels x 9 outputs, so
each one shrinks the signal by about the square root of its channels: with statistics that are
not the data's, the output of every builder here stops depending on the input (its logits for
two random images differ by 1e-8 to 6e-8). The references' depthwise convs get He's normal init
(fan_in 9) before the comparison, so that every layer's weights reach the output."""

import pytest

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")

import archc  # noqa: E402
from archc.ir.cost import CostModel  # noqa: E402

from .conftest import SPECS, randomise_batchnorm  # noqa: E402

# builder -> (spec in specs/zoo, its scale or None, input side for the comparison)
TORCHVISION = {
    "mobilenet_v2": ("mobilenet_v2", None, 64),
    "mobilenet_v3_large": ("mobilenet_v3", None, 64),
    "mobilenet_v3_small": ("mobilenet_v3", "mobilenet_v3_small", 64),
}


def reference(name):
    torch.manual_seed(0)
    model = getattr(torchvision.models, name)(weights=None).eval()
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.Conv2d) and module.groups > 1:
                torch.nn.init.kaiming_normal_(module.weight)  # fan_in: the signal keeps its size
    randomise_batchnorm(model, seed=2)
    return model


def compiled(name, overrides=()):
    spec, scale, _ = TORCHVISION[name]
    return archc.compile_spec(str(SPECS / "zoo" / f"{spec}.yaml"),
                              [*([f"scale={scale}"] if scale else []), *overrides])


def outputs(network, expected, side):
    model = archc.build_model(network).eval()
    model.load_state_dict(expected.state_dict(), strict=True)
    x = torch.randn(2, 3, side, side, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        return model(x), expected(x)


@pytest.mark.parametrize("name", TORCHVISION)
def test_the_reference_loads_strictly_and_gives_the_same_outputs(name):
    expected = reference(name)
    network = compiled(name)
    assert network.name == name
    count = sum(p.numel() for p in expected.parameters())
    assert CostModel(network, network.shapes).total().params == count
    out, want = outputs(network, expected, TORCHVISION[name][2])
    assert not torch.allclose(out[0], out[1], atol=1e-4)  # it reads the input
    torch.testing.assert_close(out, want, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("setting", ["settings.batchnorm.eps=1e-5",
                                     "blocks.SqueezeExcitation.layers.scale_activation=sigmoid"])
def test_the_comparison_sees_a_wrong_convention(setting):
    """MobileNet-V3-Small with PyTorch's default BatchNorm eps, or with SE's usual sigmoid where
    torchvision's gate is a hard sigmoid, loads the same weights but gives other outputs."""
    expected = reference("mobilenet_v3_small")
    out, want = outputs(compiled("mobilenet_v3_small", [setting]), expected, 64)
    assert not torch.allclose(out, want, rtol=1e-4, atol=1e-5)
