"""Generated networks keep timm's model contract, as timm's tests/test_models.py checks it:
num_features, get_classifier, reset_classifier, forward_head(x, pre_logits), feature_info,
forward_intermediates and pretrained_cfg.

What the models should give comes from archc's own report (the top-level steps of `archc check`
and shape inference at the test's input), never from the generated code, and, for the networks
timm has, from timm's models.
"""

from __future__ import annotations

import copy
import math

import pytest

torch = pytest.importorskip("torch")

import archc  # noqa: E402
from archc.ir.cost import CostModel  # noqa: E402
from archc.ir.graph import node as node_of  # noqa: E402
from archc.ir.shapes import infer, smallest_input  # noqa: E402

from .conftest import NETWORK_SPECS, SPECS  # noqa: E402

BATCH = 2


@pytest.fixture(scope="module", params=NETWORK_SPECS, ids=[p.stem for p in NETWORK_SPECS])
def network(request):
    return archc.compile_spec(str(request.param))


def model_of(network):
    torch.manual_seed(0)
    return archc.build_model(network).eval()


@pytest.fixture(scope="module")
def built(network):
    """The network's model, built once: tests that change it take a copy."""
    return model_of(network)


@pytest.fixture
def model(built):
    return copy.deepcopy(built)


def small_input(network) -> torch.Tensor:
    """A batch at the smallest square input the network accepts: fast."""
    side = smallest_input(network)
    return torch.randn(BATCH, network.input_shape[0], side, side)


def body_rows(network):
    """The body's top-level steps as `archc check` reports them, in forward order."""
    return CostModel(network, network.shapes).stages()[:len(network.body) - 1]


def reduction(network, shape) -> int:
    """How many times smaller than the network's input a C x H x W shape is, to a power of 2."""
    (_, height, width), (_, h, w) = network.input_shape, shape
    return 2 ** max(0, round(math.log2(max(height / h, width / w))))


def expected_stages(network):
    """(report row, reduction) of the last top-level step at each resolution."""
    rows = body_rows(network)
    stages = []
    for row, following in zip(rows, [*rows[1:], None]):
        r = reduction(network, row.output)
        if following is None or reduction(network, following.output) != r:
            stages.append((row, r))
    return stages


# ------------------------------------------------------------------------------ classifier


def test_num_features_is_the_body_output_channels(network, model):
    assert model.num_features == body_rows(network)[-1].output[0]
    with torch.no_grad():
        assert model.forward_features(small_input(network)).shape[1] == model.num_features


def test_get_classifier_is_the_heads_last_linear(network, model):
    classifier = model.get_classifier()
    last = network.head.graph["output"]
    (path,) = node_of(network.head, last).paths
    assert classifier is model.get_submodule(".".join(map(str, path)))
    assert isinstance(classifier, torch.nn.Linear)
    assert (classifier.in_features, classifier.out_features) == \
        (model.num_features, network.num_classes)


def test_reset_classifier_to_other_classes(network, model):
    model.reset_classifier(10)
    assert model.num_classes == 10
    assert isinstance(model.get_classifier(), torch.nn.Linear)
    assert model.get_classifier().out_features == 10
    with torch.no_grad():
        assert model(small_input(network)).shape == (BATCH, 10)
    weight = f"{model.pretrained_cfg['classifier']}.weight"
    assert model.state_dict()[weight].shape == (10, model.num_features)


def test_reset_classifier_to_none_gives_the_pooled_features(network, model):
    x = small_input(network)
    with torch.no_grad():
        expected = model.forward_features(x).mean((2, 3))
        model.reset_classifier(0)
        got = model(x)
    assert model.num_classes == 0
    assert isinstance(model.get_classifier(), torch.nn.Identity)
    assert got.shape == (BATCH, model.num_features)
    assert torch.allclose(got, expected, atol=1e-6)


def test_forward_head_pre_logits_is_the_classifiers_input(network, model):
    """After the pooling and the dropout, as timm's: in training, with the same dropout mask,
    the classifier turns pre_logits into the logits."""
    x = small_input(network)
    with torch.no_grad():
        features = model.forward_features(x)
        pre_logits = model.forward_head(features, pre_logits=True)
        logits = model.forward_head(features)
        assert pre_logits.shape == (BATCH, model.num_features)
        assert torch.equal(model.get_classifier()(pre_logits), logits)
        assert torch.equal(logits, model(x))
        model.train()
        features = torch.rand(BATCH, model.num_features, 3, 3) + 1
        torch.manual_seed(1)
        pre_logits = model.forward_head(features, pre_logits=True)
        torch.manual_seed(1)
        logits = model.forward_head(features)
    assert (pre_logits == 0).any()  # dropped out
    assert torch.allclose(model.get_classifier()(pre_logits), logits, atol=1e-6)


def test_reset_classifier_global_pool_as_timm(network, model):
    """'' leaves the features unpooled (without a classifier only), 'avg' pools them again;
    other pools are refused, and a refused call changes nothing."""
    x = small_input(network)
    unpooled = infer(network, None, tuple(x.shape[1:])).body[network.body.graph["output"]]
    model.reset_classifier(0, "")
    with torch.no_grad():
        assert model(x).shape == (BATCH, *unpooled)
    for num_classes, pool in [(5, ""), (5, None), (0, "max"), (5, "catavgmax")]:
        with pytest.raises(ValueError):
            model.reset_classifier(num_classes, pool)
        assert model.num_classes == 0
    model.reset_classifier(3, "avg")
    with torch.no_grad():
        assert model(x).shape == (BATCH, 3)
    model.reset_classifier(4)  # keeps the pooling
    with torch.no_grad():
        assert model(x).shape == (BATCH, 4)


# ---------------------------------------------------------------------------- feature_info


def test_feature_info_is_the_last_step_at_each_resolution(network, model):
    assert [(info["num_chs"], info["reduction"]) for info in model.feature_info] == \
        [(row.output[0], r) for row, r in expected_stages(network)]
    reductions = [info["reduction"] for info in model.feature_info]
    assert reductions == sorted(reductions) and len(set(reductions)) == len(reductions)


def test_feature_info_modules_give_the_stage_outputs(network, model):
    """Each stage's module, run on the declared input, gives the shape archc reports."""
    seen = {}
    handles = [model.get_submodule(info["module"]).register_forward_hook(
        lambda module, args, out, name=info["module"]: seen.__setitem__(name, out.shape[1:]))
        for info in model.feature_info]
    with torch.no_grad():
        model.forward_features(torch.randn(1, *network.input_shape))
    for handle in handles:
        handle.remove()
    assert [tuple(seen[info["module"]]) for info in model.feature_info] == \
        [row.output for row, _ in expected_stages(network)]


# ------------------------------------------------------------------- forward_intermediates


def test_forward_intermediates_are_the_stage_outputs(network, model):
    x = small_input(network)
    shapes = infer(network, None, tuple(x.shape[1:])).body
    with torch.no_grad():
        final, intermediates = model.forward_intermediates(x)
        features = model.forward_features(x)
    assert [tuple(t.shape) for t in intermediates] == \
        [(BATCH, *shapes[row.node]) for row, _ in expected_stages(network)]
    assert torch.equal(final, features)
    assert torch.equal(intermediates[-1], features)


def test_forward_intermediates_indices_and_stop_early(network, model):
    x = small_input(network)
    with torch.no_grad():
        _, every = model.forward_intermediates(x)
        last_two = model.forward_intermediates(x, indices=2, intermediates_only=True)
        chosen = model.forward_intermediates(x, indices=[-1, 0], intermediates_only=True)
        final, early = model.forward_intermediates(x, indices=[1], stop_early=True)
    assert len(every) == len(model.feature_info)
    assert all(torch.equal(a, b) for a, b in zip(last_two, every[-2:], strict=True))
    # in forward order, as timm's
    assert all(torch.equal(a, b) for a, b in zip(chosen, [every[0], every[-1]], strict=True))
    assert len(early) == 1 and torch.equal(early[0], every[1]) and torch.equal(final, every[1])


def test_forward_intermediates_refuses_what_timms_refuses(network, built):
    count = len(built.feature_info)
    x = small_input(network)
    for kwargs in [{"indices": 0}, {"indices": count + 1}, {"indices": [count]},
                   {"indices": [-count - 1]}, {"indices": []}, {"output_fmt": "NHWC"}]:
        with pytest.raises(ValueError):
            built.forward_intermediates(x, **kwargs)


# ---------------------------------------------------------------------------- pretrained_cfg


def test_pretrained_cfg(network, model):
    cfg = model.pretrained_cfg
    assert cfg["input_size"] == network.input_shape
    assert cfg["pool_size"] == body_rows(network)[-1].output[1:]
    assert cfg["num_classes"] == network.num_classes
    assert cfg["mean"] == cfg["std"] == (0.5, 0.5, 0.5)  # the Inception weights'
    assert (cfg["crop_pct"], cfg["interpolation"]) == (0.875, "bicubic")
    state = model.state_dict()
    first_conv = next(name for name, module in model.named_modules()
                      if isinstance(module, torch.nn.Conv2d))
    assert cfg["first_conv"] == first_conv and f"{first_conv}.weight" in state
    assert model.get_submodule(cfg["classifier"]) is model.get_classifier()


# ------------------------------------------------------------------------------------ timm

# Where archc's rule (the last step at each resolution) and timm's lists part: timm's
# inception_v4 takes Mixed3a's output (73 x 73 x 160, the first step at stride 4), while its
# inception_resnet_v2 and inception_v3 take the last (conv2d_4a and Conv2d_4a_3x3, 71 x 71 x 192).
# archc takes Mixed4a's (features.4, 71 x 71 x 192) in all three.
TIMM_DIFFERENCES = {
    "inception_v4": {1: ((192, 4, "features.4"), (160, 4, "features.3"))},
}


@pytest.mark.parametrize("name", ["inception_resnet_v2", "inception_v4", "inception_v3"])
def test_feature_info_is_timms(name):
    timm = pytest.importorskip("timm")
    model = model_of(archc.compile_spec(str(SPECS / f"{name}.yaml")))
    reference = timm.create_model(name, pretrained=False)

    def entries(m):
        return [(info["num_chs"], info["reduction"], info["module"]) for info in m.feature_info]

    ours, theirs = entries(model), entries(reference)
    differences = TIMM_DIFFERENCES.get(name, {})
    assert len(ours) == len(theirs) == 5
    assert {i: (a, b) for i, (a, b) in enumerate(zip(ours, theirs)) if a != b} == differences
    assert [r for _, r, _ in ours] == [r for _, r, _ in theirs]


@pytest.mark.parametrize("name", ["inception_resnet_v2", "inception_v4"])
def test_forward_intermediates_with_timms_weights_are_timms(name):
    timm = pytest.importorskip("timm")
    torch.manual_seed(0)
    reference = timm.create_model(name, pretrained=False).eval()
    model = archc.build_model(SPECS / f"{name}.yaml").eval()
    model.load_state_dict(reference.state_dict(), strict=True)
    same = [i for i in range(5) if i not in TIMM_DIFFERENCES.get(name, {})]
    x = torch.randn(BATCH, 3, 75, 75)
    with torch.no_grad():
        expected = reference.forward_intermediates(x, indices=same)
        got = model.forward_intermediates(x, indices=same)
    assert torch.allclose(got[0], expected[0], atol=1e-4)
    assert len(got[1]) == len(expected[1]) == len(same)
    assert all(torch.allclose(a, b, atol=1e-4) for a, b in zip(got[1], expected[1]))


def test_timms_feature_wrapper_and_data_config_take_the_models(network, model):
    """timm's FeatureGetterNet (features_only models) and resolve_model_data_config."""
    pytest.importorskip("timm")
    from timm.data import resolve_model_data_config
    from timm.models._features import FeatureGetterNet

    features = FeatureGetterNet(model, out_indices=(1, 2, 3))
    assert features.feature_info.channels() == \
        [info["num_chs"] for info in model.feature_info[1:4]]
    x = small_input(network)
    with torch.no_grad():
        got = features(x)
        _, every = model.forward_intermediates(x)
    assert all(torch.equal(a, b) for a, b in zip(got, every[1:4], strict=True))
    config = resolve_model_data_config(model)
    assert config["input_size"] == network.input_shape
    assert (config["mean"], config["std"]) == ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
    assert (config["interpolation"], config["crop_pct"]) == ("bicubic", 0.875)


def test_the_specs_normalisation_reaches_pretrained_cfg(tmp_path):
    """ImageNet's per-channel mean (torchvision's weights) and one std for every channel."""
    spec = tmp_path / "spec.yaml"
    spec.write_text("name: tiny\n"
                    "input: {size: 8, mean: [0.485, 0.456, 0.406], std: 0.25}\n"
                    "layers:\n  - conv: conv 3x3 8\n  - pool: avgpool global\n"
                    "head:\n  - fc: linear num_classes\n", encoding="utf-8")
    cfg = archc.build_model(spec).pretrained_cfg
    assert (cfg["mean"], cfg["std"]) == ((0.485, 0.456, 0.406), (0.25, 0.25, 0.25))
