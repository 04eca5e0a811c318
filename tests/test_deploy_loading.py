"""The deploy modules' load_trained and from_trained refuse what the trained model's
load_state_dict(strict=True) refuses, and NaN and inf: the template's TrainedState.

A hostile corpus found the loaders less strict than load_state_dict: tensors that only broadcast
(a bias of shape [1], a 0-d running_var) were accepted, as were other networks' state_dicts
whose names are a superset of the trained model's, and a NaN in a running_var, which makes the
trained model's outputs NaN, gave finite deploy outputs (the fused ReLU turns NaN into 0). Each
refusal names the wrong tensor, in one RuntimeError worded like load_state_dict's, and changes
no weight. Most tests use a small spec with every kind of part a deploy conv loads: a conv unit,
merged sibling convs (one after a swapped average pool), a residual projection with a bias and
a scale, a conv without a bias, a lone BatchNorm and a linear classifier; the last ones use the
generated Inception-v4 module.
"""

from __future__ import annotations

import copy
import importlib.util
import re

import pytest

torch = pytest.importorskip("torch")

import archc  # noqa: E402

from .conftest import ROOT, SPECS  # noqa: E402
from .test_deploy import assert_equal_outputs, trained_model  # noqa: E402

SMALL = """\
name: small
num_classes: 10
input: {size: 12}
blocks:
  Mixed:
    layers:
      - concat:
          a: conv 1x1 8
          b: [conv 1x1 6, conv 3x3 8]
          c: [avgpool 3x3, conv 1x1 4]
  Res:
    residual: {scale: 0.5}
    layers:
      - concat:
          a: conv 1x1 8
          b: [conv 1x1 8, conv 3x3 8]
      - proj: conv 1x1 in linear
layers:
  - stem: conv 3x3 8 /2
  - mixed: Mixed
  - res: Res
  - post: [conv 1x1 8 nobn noact, bn, relu]
head:
  - global_pool: avgpool global
  - fc: linear num_classes
"""
# The same network with one more conv unit: its state_dict's names are a superset of the first's.
LARGER = SMALL.replace("  - post:", "  - extra: conv 1x1 20\n  - post:")


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """(the network, its trained model, that model's state_dict)."""
    spec = tmp_path_factory.mktemp("small") / "small.yaml"
    spec.write_text(SMALL, encoding="utf-8")
    network = archc.compile_spec(str(spec))
    trained = trained_model(network)
    return network, trained, trained.state_dict()


def deploy_of(network):
    return archc.build_model(network, deploy=True)


def weights(model) -> dict:
    return {name: tensor.clone() for name, tensor in model.state_dict().items()}


def assert_unchanged(model, before: dict) -> None:
    after = model.state_dict()
    assert after.keys() == before.keys()
    assert all(torch.equal(after[name], before[name]) for name in before)


def refused(network, state: dict, *, match: str):
    """The error a fresh deploy module's load_trained raises for `state`; it changed nothing."""
    deploy = deploy_of(network)
    before = weights(deploy)
    with pytest.raises(RuntimeError, match=match) as error:
        deploy.load_trained(state)
    assert str(error.value).startswith("Error(s) in loading the state_dict of a trained Small:")
    assert_unchanged(deploy, before)
    return error.value


def changed(state: dict, key: str, value) -> dict:
    return {**state, key: value}


def with_value_at(tensor: torch.Tensor, index: int, value: float) -> torch.Tensor:
    tensor = tensor.clone()
    tensor.view(-1)[index] = value
    return tensor


# ------------------------------------------------------------------------------ what passes


ACCEPTED = {
    "as it is": lambda state: state,
    # load_state_dict of a plain dict fills in BatchNorm's counters
    "without num_batches_tracked": lambda state: {
        key: value for key, value in state.items() if not key.endswith("num_batches_tracked")},
    # load_state_dict converts other floating-point dtypes
    "in float64": lambda state: {key: value.double() if value.is_floating_point() else value
                                 for key, value in state.items()},
    # load_state_dict takes a [1] tensor for a 0-d one (checkpoints of PyTorch 0.3)
    "num_batches_tracked of shape [1]": lambda state: changed(
        state, "stem.bn.num_batches_tracked", torch.tensor([7])),
}


@pytest.mark.parametrize("make", ACCEPTED.values(), ids=ACCEPTED.keys())
def test_what_load_state_dict_accepts_loads_and_gives_the_trained_outputs(small, make):
    """The trained model's own state_dict (BatchNorm statistics randomised), and what its
    load_state_dict(strict=True) also accepts: the checks refuse nothing right."""
    network, trained, state = small
    state = make(dict(state))
    copy.deepcopy(trained).load_state_dict(state)  # strict
    deploy = deploy_of(network)
    deploy.load_trained(state)
    assert_equal_outputs(trained, deploy, network.input_shape)


def test_a_block_reads_only_the_names_under_its_prefix(small):
    """A block's own load_trained takes the network's state_dict with its prefix, and refuses
    a name under that prefix that its trained block does not have."""
    network, trained, state = small
    deploy = deploy_of(network)
    deploy.load_trained(state)
    block = copy.deepcopy(deploy.mixed)
    with torch.no_grad():
        for tensor in block.state_dict().values():
            tensor.zero_()
    block.load_trained(state, "mixed.")
    assert all(torch.equal(block.state_dict()[name], tensor)
               for name, tensor in deploy.mixed.state_dict().items())
    before = weights(block)
    with pytest.raises(RuntimeError, match=r'Unexpected key\(s\) in state_dict: "mixed.d.weight"'
                                           r"\.$"):
        block.load_trained(changed(state, "mixed.d.weight", torch.zeros(4)), "mixed.")
    assert_unchanged(block, before)


def test_a_block_without_weights_refuses_any_name_under_its_prefix(tmp_path):
    spec = tmp_path / "pools.yaml"
    spec.write_text("name: pools\ninput: {size: 8}\nblocks:\n  Pool:\n    layers:\n"
                    "      - p: maxpool 3x3\nlayers:\n  - stem: conv 3x3 4\n  - pool: Pool\n",
                    encoding="utf-8")
    network = archc.compile_spec(str(spec))
    trained = trained_model(network)
    deploy = deploy_of(network)
    deploy.pool.load_trained(trained.state_dict(), "pool.")
    with pytest.raises(RuntimeError, match=r'trained Pool:\n\tUnexpected key\(s\) in state_dict: '
                                           r'"pool.p.weight"\.$'):
        deploy.pool.load_trained({"pool.p.weight": torch.ones(4)}, "pool.")


# ------------------------------------------------------------------------------ shapes


BROADCAST = {
    "a classifier bias of shape [1]": ("fc.bias", torch.zeros(1), [1], [10]),
    "a 0-d running_var": ("stem.bn.running_var", torch.tensor(1.0), [], [8]),
    "a 0-d BatchNorm weight of a merged conv's part": (
        "mixed.b.0.bn.weight", torch.tensor(1.0), [], [6]),
    "a lone BatchNorm's running_mean of shape [1]": (
        "post.1.running_mean", torch.zeros(1), [1], [8]),
    "a projection's bias of shape [1]": ("res.proj.bias", torch.zeros(1), [1], [20]),
}


@pytest.mark.parametrize("key, value, got, want", BROADCAST.values(), ids=BROADCAST.keys())
def test_a_tensor_that_only_broadcasts_is_refused(small, key, value, got, want):
    """copy_ and the folding's arithmetic would broadcast these; load_state_dict refuses them,
    and so does load_trained, naming the tensor, its shape and the trained model's."""
    network, trained, state = small
    bad = changed(state, key, value)
    with pytest.raises(RuntimeError, match="size mismatch"):
        copy.deepcopy(trained).load_state_dict(bad)
    refused(network, bad, match=re.escape(f"\n\tsize mismatch for {key}: shape {got} in the "
                                          f"state_dict, {want} in a trained Small") + "$")


def test_channels_moved_between_merged_convs_are_refused(small):
    """Merged sibling convs' parts each have their run of the deploy conv's channels: a
    state_dict whose first sibling has one channel more and the second one fewer fills the
    merged conv all the same, but is not the trained model's."""
    network, trained, state = small
    bad = dict(state)
    for name in ("weight", "bias", "running_mean", "running_var"):
        bad[f"mixed.a.bn.{name}"] = torch.ones(9)
        bad[f"mixed.b.0.bn.{name}"] = torch.ones(5)
    bad["mixed.a.conv.weight"] = torch.ones(9, 8, 1, 1)
    bad["mixed.b.0.conv.weight"] = torch.ones(5, 8, 1, 1)
    with pytest.raises(RuntimeError, match="size mismatch"):
        copy.deepcopy(trained).load_state_dict(bad)
    error = refused(network, bad, match=r"size mismatch for mixed.a.conv.weight: shape "
                                        r"\[9, 8, 1, 1\] in the state_dict, \[8, 8, 1, 1\]")
    assert "size mismatch for mixed.b.0.bn.running_var: shape [5]" in str(error)


# ------------------------------------------------------------------------------ names


def test_a_superset_of_the_trained_names_is_refused(small, tmp_path):
    """Another network's state_dict holds every tensor of the trained model, of the right
    shapes, and those of one more layer: load_state_dict refuses the extra names, and so does
    load_trained."""
    network, trained, _ = small
    spec = tmp_path / "larger.yaml"
    spec.write_text(LARGER, encoding="utf-8")
    larger = trained_model(archc.compile_spec(str(spec))).state_dict()
    assert set(trained.state_dict()) < set(larger)
    with pytest.raises(RuntimeError, match="Unexpected key"):
        copy.deepcopy(trained).load_state_dict(larger)
    extra = ", ".join(f'"{key}"' for key in larger if key.startswith("extra."))
    refused(network, larger, match=rf"\n\tUnexpected key\(s\) in state_dict: {extra}\.$")


def test_an_unknown_name_is_refused(small):
    network, trained, state = small
    refused(network, changed(state, "fc.scale", torch.ones(10)),
            match=r'Unexpected key\(s\) in state_dict: "fc.scale"\.$')


@pytest.mark.parametrize("key", ["res.b.1.bn.running_mean", "res.proj.bias", "fc.weight",
                                 "post.1.weight", "mixed.c.1.conv.weight"])
def test_a_missing_tensor_is_refused(small, key):
    """The missing projection bias was read as zeros, the missing running_mean stopped the
    load with a KeyError halfway; load_state_dict refuses both."""
    network, trained, state = small
    bad = {name: tensor for name, tensor in state.items() if name != key}
    with pytest.raises(RuntimeError, match="Missing key"):
        copy.deepcopy(trained).load_state_dict(bad)
    refused(network, bad, match=rf'\n\tMissing key\(s\) in state_dict: "{key}"\.$')


# ------------------------------------------------------------------------------ dtypes


DTYPES = {
    "an integer conv weight": ("stem.conv.weight", torch.int64, "a floating-point dtype"),
    "an integer running_var": ("res.b.1.bn.running_var", torch.int32, "a floating-point dtype"),
    "a bool BatchNorm weight": ("mixed.c.1.bn.weight", torch.bool, "a floating-point dtype"),
    "a complex classifier weight": ("fc.weight", torch.complex64, "a floating-point dtype"),
    "a float num_batches_tracked": ("stem.bn.num_batches_tracked", torch.float32,
                                    "an integer dtype"),
}


@pytest.mark.parametrize("key, dtype, want", DTYPES.values(), ids=DTYPES.keys())
def test_a_tensor_of_the_wrong_dtype_is_refused(small, key, dtype, want):
    network, _, state = small
    bad = changed(state, key, state[key].to(dtype))
    refused(network, bad, match=rf"\n\tdtype mismatch for {key}: {dtype} in the state_dict, "
                                rf"{want} in a trained Small$")


def test_a_value_that_is_not_a_tensor_is_refused(small):
    network, _, state = small
    refused(network, changed(state, "res.a.conv.weight", [[1.0]]),
            match=r"\n\tres.a.conv.weight is a list, not a tensor$")


# ------------------------------------------------------------------------------ NaN and inf


NON_FINITE = {
    "NaN in a running_var": ("stem.bn.running_var", float("nan")),
    "inf in a running_var": ("mixed.b.0.bn.running_var", float("inf")),
    "NaN in a conv weight": ("res.b.1.conv.weight", float("nan")),
    "-inf in a conv weight": ("mixed.c.1.conv.weight", -float("inf")),
    "NaN in a projection bias": ("res.proj.bias", float("nan")),
    "NaN in a lone BatchNorm's running_mean": ("post.1.running_mean", float("nan")),
    "inf in the classifier": ("fc.weight", float("inf")),
}


@pytest.mark.parametrize("key, value", NON_FINITE.values(), ids=NON_FINITE.keys())
def test_nan_and_inf_are_refused(small, key, value):
    """load_state_dict takes them, but the trained model then gives NaN outputs, which the
    deploy model's fused ReLUs would turn into finite ones: a diverged checkpoint would pass
    unseen. load_trained refuses them, naming the tensor."""
    network, _, state = small
    bad = changed(state, key, with_value_at(state[key], 3, value))
    nan, inf = (1, 0) if value != value else (0, 1)
    refused(network, bad, match=rf"\n\t{key} holds {nan} NaN and {inf} inf among its "
                                rf"{state[key].numel()} values$")


def test_a_running_var_below_minus_eps_is_refused(small):
    """The trained model would take the square root of running_var + eps < 0 (NaN outputs)."""
    network, _, state = small
    bad = changed(state, "res.a.bn.running_var",
                  with_value_at(state["res.a.bn.running_var"], 2, -0.5))
    refused(network, bad, match=r"\n\tres.a.bn.running_var has 1 values at or below -eps "
                                r"\(-0.001\): the trained model's outputs would be NaN or inf$")


# ------------------------------------------------------------------------------ atomicity


LATE_ERRORS = {
    "a missing classifier weight": lambda state: {
        key: value for key, value in state.items() if key != "fc.weight"},
    "NaN in the last BatchNorm": lambda state: changed(
        state, "post.1.running_var", with_value_at(state["post.1.running_var"], 0, float("nan"))),
    "a merged conv's last part of the wrong shape": lambda state: changed(
        state, "mixed.c.1.bn.bias", torch.zeros(1)),
}


@pytest.mark.parametrize("make", LATE_ERRORS.values(), ids=LATE_ERRORS.keys())
def test_a_refused_state_dict_changes_no_weight(small, make):
    """Everything is checked before anything is copied: a state_dict refused for its last
    tensors leaves the module with the weights it had, every earlier conv included (it used to
    copy them, then stop, or to take the whole of it)."""
    network, trained, state = small
    deploy = deploy_of(network)
    deploy.load_trained(state)
    before = weights(deploy)
    other = {key: value * 1.5 if value.is_floating_point() else value
             for key, value in state.items()}
    with pytest.raises((RuntimeError, KeyError)):
        deploy.load_trained(make(other))
    assert_unchanged(deploy, before)
    assert_equal_outputs(trained, deploy, network.input_shape)
    deploy.load_trained(other)  # the same module still loads a right one
    assert not torch.equal(deploy.state_dict()["fc.weight"], before["fc.weight"])


def test_every_wrong_tensor_is_named_in_one_error(small):
    network, _, state = small
    bad = {key: value for key, value in state.items() if key != "res.proj.weight"}
    bad.update({"fc.bias": torch.zeros(1), "extra.weight": torch.zeros(1),
                "mixed.a.bn.running_var": with_value_at(state["mixed.a.bn.running_var"], 0,
                                                        float("nan"))})
    error = str(refused(network, bad, match="fc.bias"))
    assert error.split("\n\t")[1:] == [
        'Missing key(s) in state_dict: "res.proj.weight".',
        'Unexpected key(s) in state_dict: "extra.weight".',
        "mixed.a.bn.running_var holds 1 NaN and 0 inf among its 8 values",
        "size mismatch for fc.bias: shape [1] in the state_dict, [10] in a trained Small",
    ]


# ------------------------------------------------------------------------------ Inception-v4


@pytest.fixture(scope="module")
def inception_v4():
    """(the generated generated/inception_v4_deploy.py's class, a trained InceptionV4's
    state_dict)."""
    path = ROOT / "generated" / "inception_v4_deploy.py"
    spec = importlib.util.spec_from_file_location("inception_v4_deploy", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.InceptionV4Deploy, trained_model(str(SPECS / "inception_v4.yaml")).state_dict()


HOSTILE_V4 = {
    "a classifier bias of shape [1]": (
        lambda state: changed(state, "last_linear.bias", torch.zeros(1)),
        r"size mismatch for last_linear.bias: shape \[1\] in the state_dict, \[1000\] in a "
        r"trained InceptionV4$"),
    "a 0-d running_var in Reduction-A": (
        lambda state: changed(state, "features.10.branch1.1.bn.running_var", torch.tensor(1.0)),
        r"size mismatch for features.10.branch1.1.bn.running_var: shape \[\] in the "
        r"state_dict, \[224\] in a trained InceptionV4$"),
    "an auxiliary classifier's tensors too": (
        lambda state: {**state, "aux_logits.fc.weight": torch.zeros(1000, 768),
                       "aux_logits.fc.bias": torch.zeros(1000)},
        r'Unexpected key\(s\) in state_dict: "aux_logits.fc.weight", "aux_logits.fc.bias"\.$'),
    "NaN in a merged conv's running_var in Inception-C": (
        lambda state: changed(state, "features.21.branch2_0.bn.running_var", with_value_at(
            state["features.21.branch2_0.bn.running_var"], 5, float("nan"))),
        r"features.21.branch2_0.bn.running_var holds 1 NaN and 0 inf among its 384 values$"),
    "inf in the first conv's weight": (
        lambda state: changed(state, "features.0.conv.weight", with_value_at(
            state["features.0.conv.weight"], 0, float("inf"))),
        r"features.0.conv.weight holds 0 NaN and 1 inf among its 864 values$"),
}


@pytest.mark.parametrize("make, match", HOSTILE_V4.values(), ids=HOSTILE_V4.keys())
def test_the_generated_inception_v4_refuses_a_wrong_state_dict(inception_v4, make, match):
    """generated/inception_v4_deploy.py on its own: from_trained and load_trained refuse, and
    a refused load_trained leaves the weights as they were."""
    cls, state = inception_v4
    bad = make(dict(state))
    with pytest.raises(RuntimeError, match=r"^Error\(s\) in loading the state_dict of a trained "
                                           r"InceptionV4:\n\t" + match):
        cls.from_trained(bad)
    deploy = cls.from_trained(state)
    before = weights(deploy)
    with pytest.raises(RuntimeError, match=match):
        deploy.load_trained(bad)
    assert_unchanged(deploy, before)
