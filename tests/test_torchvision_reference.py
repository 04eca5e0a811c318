"""The bundled torchvision networks are torchvision's, weight for weight: the same parameter
count, torchvision's state_dict loads strictly, and it gives torchvision's outputs."""

import pytest

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")

import archc  # noqa: E402
from archc.ir.cost import CostModel  # noqa: E402

from .conftest import SPECS, randomise_batchnorm  # noqa: E402

# torchvision's parameter counts without the auxiliary classifiers (the figures).
PARAMS = {"inception_v3": 23_834_568, "googlenet": 6_624_904}

# Small inputs keep the tests fast. 75 x 75 is Inception-v3's smallest input. At 64 x 64,
# GoogLeNet's ceil-mode max pools round up where floor mode would round down, so the
# comparison sees them: conv1 7x7/2 64 -> 32; maxpool1 3x3/2: (32 - 3) / 2 + 1 = 15.5 -> 16
# (floor: 15); maxpool2: 16 -> 7.5 -> 8 (7); maxpool3: 8 -> 3.5 -> 4 (3); maxpool4 2x2/2: 4 -> 2.
INPUT = {"inception_v3": (2, 3, 75, 75), "googlenet": (2, 3, 64, 64)}
NAMES = list(PARAMS)


def reference(name):
    """torchvision's model, randomly initialised, without the auxiliary classifiers."""
    torch.manual_seed(0)
    return getattr(torchvision.models, name)(weights=None, aux_logits=False,
                                             init_weights=False, transform_input=False)


def randomise(model):
    """Weights that keep the signal alive, and non-trivial BN statistics and affine parameters,
    so that eval mode tests them. PyTorch's default conv init shrinks the signal layer after
    layer (eval-mode BN does not renormalise it): Inception-v3's outputs would be the same for
    every input. He's init keeps its scale."""
    generator = torch.Generator().manual_seed(1)
    for module in model.modules():
        if isinstance(module, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(module.weight, nonlinearity="relu", generator=generator)
    randomise_batchnorm(model, seed=2)


@pytest.mark.parametrize("name", NAMES)
def test_parameter_count_is_torchvisions(name):
    network = archc.compile_spec(str(SPECS / f"{name}.yaml"))
    count = sum(p.numel() for p in reference(name).parameters())
    assert CostModel(network, network.shapes).total().params == count == PARAMS[name]


@pytest.mark.parametrize("name", NAMES)
def test_torchvision_state_dict_loads_strictly(name):
    model = archc.build_model(SPECS / f"{name}.yaml")
    model.load_state_dict(reference(name).state_dict(), strict=True)


@pytest.fixture(scope="module", params=NAMES)
def pair(request):
    """(name, torchvision's model, archc's model with its weights), both in eval mode."""
    expected = reference(request.param)
    with torch.no_grad():
        randomise(expected)
    model = archc.build_model(SPECS / f"{request.param}.yaml")
    model.load_state_dict(expected.state_dict(), strict=True)
    return request.param, expected.eval(), model.eval()


def test_outputs_are_torchvisions(pair):
    name, expected, model = pair
    torch.manual_seed(2)
    x, other = torch.randn(INPUT[name]), torch.randn(INPUT[name])
    with torch.no_grad():
        want = expected(x)
        # a deep random network can collapse to a constant, which would make the test blind
        assert (want - expected(other)).abs().max() > 1e-3
        got = model(x)
    assert got.shape == want.shape == (2, 1000)
    assert (got - want).abs().max() <= 1e-4


def stage_shapes(model, x):
    """The output shape of each top-level module, in the order they run. torchvision's global
    pool keeps 1 x 1 (and Inception-v3's dropout sees that), archc's does not: flatten both."""
    shapes = {}

    def record(name):
        def hook(module, args, out):
            shapes[name] = tuple((out.flatten(1) if name in ("avgpool", "dropout") else out).shape)
        return hook

    handles = [child.register_forward_hook(record(name)) for name, child in model.named_children()]
    with torch.no_grad():
        model(x)
    for handle in handles:
        handle.remove()
    return list(shapes.items())


def test_every_stage_has_torchvisions_name_and_shape(pair):
    name, expected, model = pair
    x = torch.randn(INPUT[name])
    assert stage_shapes(model, x) == stage_shapes(expected, x)
