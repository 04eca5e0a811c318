"""The zoo's specs (specs/zoo/) are their reference implementations', weight for weight: each
torchvision builder function (and timm's seresnet50) has a spec and a scale whose model has the
reference's parameter count, loads its state_dict strictly and gives its outputs (BatchNorm
statistics and affine parameters randomised, the output checked to depend on the input).

torchvision initialises a depthwise conv as Kaiming's fan_out sees it, channels x 9 outputs, so
each one shrinks the signal by about the square root of its channels: with statistics that are
not the data's, a MobileNet's output stops depending on the input (its logits for two random
images differ by 1e-8 to 6e-8). The references' grouped and depthwise convs get He's normal
init (fan_in) before the comparison, so that every layer's weights reach the output."""

import pytest

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")

import archc  # noqa: E402
from archc.ir.cost import CostModel  # noqa: E402

from .conftest import SPECS, randomise_batchnorm  # noqa: E402

# builder -> (spec in specs/zoo, its scale or None, input side for the comparison)
TORCHVISION = {
    "vgg11": ("vgg", "vgg11", 32), "vgg13": ("vgg", "vgg13", 32), "vgg16": ("vgg", None, 32),
    "vgg19": ("vgg", "vgg19", 32), "vgg11_bn": ("vgg", "vgg11_bn", 32),
    "vgg13_bn": ("vgg", "vgg13_bn", 32), "vgg16_bn": ("vgg", "vgg16_bn", 32),
    "vgg19_bn": ("vgg", "vgg19_bn", 32),
    "alexnet": ("alexnet", None, 64),
    "squeezenet1_0": ("squeezenet", None, 64), "squeezenet1_1": ("squeezenet", "squeezenet1_1", 64),
    "mobilenet_v2": ("mobilenet_v2", None, 64),
    "mobilenet_v3_large": ("mobilenet_v3", None, 64),
    "mobilenet_v3_small": ("mobilenet_v3", "mobilenet_v3_small", 64),
    "shufflenet_v2_x1_0": ("shufflenet_v2", None, 64),
    **{name: ("shufflenet_v2", name, 64) for name in (
        "shufflenet_v2_x0_5", "shufflenet_v2_x1_5", "shufflenet_v2_x2_0")},
    "mnasnet1_0": ("mnasnet", None, 64),
    **{name: ("mnasnet", name, 64) for name in ("mnasnet0_5", "mnasnet0_75", "mnasnet1_3")},
    "efficientnet_b0": ("efficientnet", None, 64),
    **{f"efficientnet_b{i}": ("efficientnet", f"efficientnet_b{i}", 64) for i in range(1, 8)},
    "efficientnet_v2_s": ("efficientnet_v2", None, 64),
    **{name: ("efficientnet_v2", name, 64) for name in ("efficientnet_v2_m", "efficientnet_v2_l")},
    "regnet_x_400mf": ("regnet_x", None, 64),
    **{name: ("regnet_x", name, 64) for name in (
        "regnet_x_800mf", "regnet_x_1_6gf", "regnet_x_3_2gf", "regnet_x_8gf", "regnet_x_16gf",
        "regnet_x_32gf")},
    "regnet_y_400mf": ("regnet_y", None, 64),
    **{name: ("regnet_y", name, 64) for name in (
        "regnet_y_800mf", "regnet_y_1_6gf", "regnet_y_3_2gf", "regnet_y_8gf", "regnet_y_16gf",
        "regnet_y_32gf")},
    "convnext_tiny": ("convnext", None, 64),
    **{name: ("convnext", name, 64) for name in ("convnext_small", "convnext_base")},
    "densenet121": ("densenet", None, 64),
    **{name: ("densenet", name, 64) for name in ("densenet161", "densenet169", "densenet201")},
    "resnet50": ("resnet", None, 64),
    **{name: ("resnet", name, 64) for name in (
        "resnet18", "resnet34", "resnet101", "resnet152", "resnext50_32x4d", "resnext101_32x8d",
        "resnext101_64x4d", "wide_resnet50_2", "wide_resnet101_2")},
}
# The largest, in the slow tier: a minute or more of the suite's time on two cores each.
SLOW = {"convnext_large": ("convnext", "convnext_large", 64),
        "regnet_y_128gf": ("regnet_y", "regnet_y_128gf", 64)}  # 645 M parameters, 6 GB here
TIMM = {"seresnet50": ("seresnet50", None, 64)}
ALL = {**TORCHVISION, **SLOW, **TIMM}


def reference(name):
    torch.manual_seed(0)
    if name in TIMM:
        timm = pytest.importorskip("timm")
        return timm.create_model(name, pretrained=False).eval()
    model = getattr(torchvision.models, name)(weights=None).eval()
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.Conv2d) and module.groups > 1:
                torch.nn.init.kaiming_normal_(module.weight)  # fan_in: the signal keeps its size
    return model


def compiled(name, overrides=()):
    spec, scale, _ = ALL[name]
    return archc.compile_spec(str(SPECS / "zoo" / f"{spec}.yaml"),
                              [*([f"scale={scale}"] if scale else []), *overrides])


def outputs(network, expected, side):
    """(archc's model's outputs, the reference's) for one random batch, the reference's weights
    loaded strictly. In float64: with random norms a deep network (EfficientNet-V2) is so
    sensitive that float32's rounding alone moves its outputs by half their size, and equal
    float32 outputs would only say that both ran the same kernels."""
    model = archc.build_model(network).eval()
    model.load_state_dict(expected.state_dict(), strict=True)
    x = torch.randn(2, 3, side, side, generator=torch.Generator().manual_seed(3),
                    dtype=torch.float64)
    with torch.no_grad():
        return model.double()(x), expected.double()(x)


def randomise_norms(model, seed):
    """BatchNorm statistics and affine parameters, LayerNorm's affine parameters and layer
    scales (ConvNeXt's 1e-6 would hide every block) drawn at random."""
    randomise_batchnorm(model, seed=seed)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.LayerNorm):  # torchvision's LayerNorm2d is one too
                module.weight.copy_(torch.rand(module.weight.shape, generator=generator) + 0.5)
                module.bias.copy_(torch.randn(module.bias.shape, generator=generator) * 0.1)
            scale = getattr(module, "layer_scale", None)
            if isinstance(scale, torch.nn.Parameter):
                scale.copy_(torch.rand(scale.shape, generator=generator) + 0.5)


@pytest.mark.parametrize("name", [*TORCHVISION, *(pytest.param(name, marks=pytest.mark.slow)
                                                  for name in SLOW), *TIMM])
def test_the_reference_loads_strictly_and_gives_the_same_outputs(name):
    expected = reference(name)
    network = compiled(name)
    assert network.name == name
    count = sum(p.numel() for p in expected.parameters())
    assert CostModel(network, network.shapes).total().params == count
    randomise_norms(expected, seed=2)
    out, want = outputs(network, expected, ALL[name][2])
    assert not torch.allclose(out[0], out[1], atol=1e-4)  # it reads the input
    torch.testing.assert_close(out, want, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", [*TORCHVISION, *SLOW])
def test_images_are_prepared_as_for_torchvisions_weights(name):
    """The spec's input (size, resize, interpolation, mean, std) is how torchvision evaluates
    its weights for the builder: the DEFAULT weights', or, where they take another size
    (regnet_y_128gf's SWAG weights, 384), those of the spec's size. pretrained_cfg's crop_pct
    is the crop's share of the resized side, as timm writes it."""
    network = compiled(name)
    size = network.input_shape[1]
    weights = torchvision.models.get_model_weights(name)
    chosen = next(w for w in (weights.DEFAULT, *weights) if w.transforms().crop_size == [size])
    expected = chosen.transforms()
    assert network.input_shape[1:] == (expected.crop_size[0],) * 2
    assert network.resize == expected.resize_size[0]
    assert network.interpolation == expected.interpolation.value
    assert (list(network.mean), list(network.std)) == (expected.mean, expected.std)
    assert network.crop_pct == round(expected.crop_size[0] / expected.resize_size[0], 4)


@pytest.mark.parametrize("setting", ["settings.batchnorm.eps=1e-5",
                                     "blocks.SqueezeExcitation.layers.scale_activation=sigmoid"])
def test_the_comparison_sees_a_wrong_convention(setting):
    """MobileNet-V3-Small with PyTorch's default BatchNorm eps, or with SE's usual sigmoid where
    torchvision's gate is a hard sigmoid, loads the same weights but gives other outputs."""
    expected = reference("mobilenet_v3_small")
    randomise_batchnorm(expected, seed=2)
    out, want = outputs(compiled("mobilenet_v3_small", [setting]), expected, 64)
    assert not torch.allclose(out, want, rtol=1e-4, atol=1e-5)


def test_the_comparison_sees_a_changed_gate():
    """SE-ResNet-50's gates count: with one excitation's bias changed, the outputs differ."""
    expected = reference("seresnet50")
    randomise_batchnorm(expected, seed=2)
    model = archc.build_model(SPECS / "zoo" / "seresnet50.yaml").eval()
    model.load_state_dict(expected.state_dict(), strict=True)
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        expected.layer3[2].se.fc2.bias.add_(1.0)
        assert not torch.allclose(model(x), expected(x), rtol=1e-4, atol=1e-4)


def test_the_readme_lists_each_tested_builder_with_its_references_count():
    """The README's zoo table: a row for each builder tested here (and the bundled GoogLeNet and
    Inception-v3), each count the reference's own."""
    import re

    text = (SPECS.parent / "README.md").read_text(encoding="utf-8")
    rows = dict(re.findall(r"^\| (?:timm's )?`(\w+)`[^|]*\| `specs/[^|]+\| ([\d,]+) \|$", text,
                           re.MULTILINE))
    assert set(rows) == {*ALL, "googlenet", "inception_v3"}
    # every CNN of torchvision's zoo: its models less the vision transformers
    cnns = {name for name in torchvision.models.list_models(module=torchvision.models)
            if not name.startswith(("vit_", "swin_", "maxvit_"))}
    assert {*TORCHVISION, *SLOW, "googlenet", "inception_v3"} == cnns
    for name in ALL:
        model = reference(name)
        assert int(rows[name].replace(",", "")) == sum(p.numel() for p in model.parameters())
