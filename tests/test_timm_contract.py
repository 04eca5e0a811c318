"""Generated models slot into timm: registered in timm's registry as timm registers its own
models (build_model_with_cfg), timm.create_model builds them with its arguments (features_only,
num_classes=0, global_pool='', in_chans, drop_rate, drop_path_rate), and they keep timm's other
contract (head_hidden_size, set_grad_checkpointing)."""

import pytest

torch = pytest.importorskip("torch")
timm = pytest.importorskip("timm")

import archc  # noqa: E402

from .conftest import SPECS, randomise_batchnorm  # noqa: E402

SIDE = 75  # Inception-ResNet-v2's smallest input keeps the tests fast


@pytest.fixture(scope="module")
def create():
    """timm.create_model for the generated Inception-ResNet-v2 and its drop-path variant."""
    from timm.models import build_model_with_cfg, register_model

    names = {}
    for spec in (SPECS / "inception_resnet_v2.yaml",
                 SPECS / "variants" / "inception_resnet_v2_drop_path.yaml"):
        cls = type(archc.build_model(spec))
        name = f"archc_{spec.stem}"
        if name not in timm.list_models():
            def entry(pretrained=False, cls=cls, name=name, **kwargs):
                kwargs["pretrained_cfg"] = kwargs.get("pretrained_cfg") or cls().pretrained_cfg
                return build_model_with_cfg(cls, name, pretrained, **kwargs)
            entry.__name__ = name
            register_model(entry)
        names[spec.stem] = name

    def make(spec="inception_resnet_v2", **kwargs):
        torch.manual_seed(0)
        return timm.create_model(names[spec], **kwargs).eval()
    return make


def test_features_only_with_one_input_channel(create):
    model = create(features_only=True, in_chans=1)
    features = model(torch.randn(2, 1, SIDE, SIDE))
    # Inception-ResNet-v2's stage widths (docs/reference.md): stem 64 and 192, then 320, 1088,
    # and 1536 after the last 1x1 conv
    assert [f.shape[1] for f in features] == [64, 192, 320, 1088, 1536]
    assert model.feature_info.channels() == [64, 192, 320, 1088, 1536]
    assert model.feature_info.reduction() == [2, 4, 8, 16, 32]


def test_in_chans_makes_the_first_conv(create):
    model = create(in_chans=1, num_classes=10)
    assert model.conv2d_1a.conv.weight.shape == (32, 1, 3, 3)
    assert model(torch.randn(2, 1, SIDE, SIDE)).shape == (2, 10)


def test_num_classes_0_gives_the_pooled_features_and_no_pool_gives_the_map(create):
    x = torch.randn(2, 3, SIDE, SIDE)
    full = create()
    randomise_batchnorm(full)
    pooled = create(num_classes=0)
    pooled.load_state_dict({k: v for k, v in full.state_dict().items()
                            if not k.startswith("classif.")}, strict=True)
    with torch.no_grad():
        want = full.forward_head(full.forward_features(x), pre_logits=True)
        torch.testing.assert_close(pooled(x), want, rtol=0, atol=0)
        assert pooled(x).shape == (2, pooled.num_features) == (2, 1536)
        unpooled = create(num_classes=0, global_pool="")
        unpooled.load_state_dict(pooled.state_dict(), strict=True)
        torch.testing.assert_close(unpooled(x), full.forward_features(x), rtol=0, atol=0)
    assert pooled.head_hidden_size == pooled.num_features == 1536
    with pytest.raises(ValueError, match="unpooled features take no classifier"):
        create(global_pool="")


def test_drop_rate_and_drop_path_rate(create):
    assert create().head_drop.p == 0.2  # the spec's
    assert create(drop_rate=0.5).head_drop.p == 0.5
    with pytest.raises(ValueError, match="has no drop_path step"):
        create(drop_path_rate=0.1)
    dropping = create("inception_resnet_v2_drop_path", drop_path_rate=0.3)
    rates = [m.p for m in dropping.modules() if type(m).__name__ == "DropPath"]
    assert rates == pytest.approx(torch.linspace(0, 0.3, 40).tolist(), abs=1e-7)


def test_grad_checkpointing_gives_the_same_outputs_and_gradients(create):
    model = create()
    randomise_batchnorm(model)
    x = torch.randn(2, 3, SIDE, SIDE)
    grads = []
    for enable in (False, True):
        model.set_grad_checkpointing(enable)
        model.zero_grad()
        out = model(x)
        out.square().sum().backward()
        grads.append((out.detach(), model.conv2d_1a.conv.weight.grad.clone()))
    torch.testing.assert_close(grads[0][0], grads[1][0], rtol=0, atol=0)
    torch.testing.assert_close(grads[0][1], grads[1][1], rtol=1e-5, atol=1e-6)
    assert grads[0][1].abs().sum() > 0
