"""`archc diff`, `archc migrate` and `archc.transfer` on the bundled variants, against a
state_dict of timm's Inception-ResNet-v2 made in the test.

What carries over is checked tensor by tensor against expectations written here by reading the
architectures (docs/reference.md, the paper's figures), not from archc's output; that the carried
tensors mean what they meant is checked by running them: the transferred variant computes the
same stem and stage-1 outputs as timm's model, from the same weights.
"""

from __future__ import annotations

import json
import re

import pytest

torch = pytest.importorskip("torch")
timm = pytest.importorskip("timm")

import archc  # noqa: E402
from archc.cli import main  # noqa: E402
from archc.diff import compare, patterns  # noqa: E402
from archc.weights import TransferError  # noqa: E402

from .conftest import SPECS, randomise_batchnorm  # noqa: E402
from .test_variants import irv2_params  # noqa: E402

IRV2 = str(SPECS / "inception_resnet_v2.yaml")
VARIANTS = SPECS / "variants"
STEM = ("conv2d_1a", "conv2d_2a", "conv2d_2b", "conv2d_3b", "conv2d_4a")


def variant(name: str) -> str:
    return str(VARIANTS / f"inception_resnet_v2_{name}.yaml")


@pytest.fixture(scope="module")
def timm_weights():
    """A state_dict of timm's Inception-ResNet-v2, random but with non-trivial BatchNorms."""
    torch.manual_seed(0)
    model = timm.create_model("inception_resnet_v2", pretrained=False).eval()
    randomise_batchnorm(model)
    return model.state_dict()


def statuses(target: str) -> dict[str, str]:
    c = compare(archc.compile_spec(IRV2), archc.compile_spec(target))
    return {change.name: change.status for change in c.changes}


def starts(name: str, prefixes) -> bool:
    return any(name.startswith(prefix + ".") for prefix in prefixes)


# --------------------------------------------------------------------- what carries over


def test_the_table_1_variant_carries_what_its_change_leaves_alone(timm_weights):
    """Reduction-A with Inception-v4's row (k, l, m = 192, 224, 256 for 256, 256, 384) changes
    Reduction-A's second branch and so the width of everything after it: 960 channels in the
    17x17 stage, 1952 in the 8x8 one. What reads none of that keeps its meaning: the stem,
    Mixed_5b, the ten Block35s, and Reduction-A's first branch (n = 384 in both rows, reading
    the same 320 channels). A layer after the change that keeps its shape reads channels that
    changed: inside Block17, Mixed_7a and Block8, each conv after a branch's first, and the
    classifier, which reads conv2d_7b (re-made for 1952 inputs): loading those by name and
    shape would succeed and be wrong."""
    got = statuses(variant("v4_reduction"))
    carried = [*STEM, "mixed_5b", *(f"repeat.{i}" for i in range(10)), "mixed_6a.branch0"]
    meaning = [r"repeat_1\.\d+\.branch1\.[12]", r"mixed_7a\.branch0\.1", r"mixed_7a\.branch1\.1",
               r"mixed_7a\.branch2\.[12]", r"repeat_2\.\d\.branch1\.[12]", r"block8\.branch1\.[12]",
               r"classif"]
    names = list(archc.build_model(variant("v4_reduction")).state_dict())
    assert list(got) == names  # every tensor of the variant's model, none gone
    for name in names:
        if starts(name, carried):
            want = "carried"
        elif any(re.match(rf"{pattern}\.", name) for pattern in meaning):
            want = "meaning changed"
        else:
            want = "shape changed"
        assert got[name] == want, name
    assert sum(status == "carried" for status in got.values()) == 6 * 5 + 42 + 380 + 6


def test_a_variant_that_changes_only_residual_scales_carries_everything(timm_weights):
    moved = archc.transfer(timm_weights, variant("scale_0_3"), source=IRV2)
    assert set(statuses(variant("scale_0_3")).values()) == {"carried"}
    state = moved.state_dict
    assert list(state) == list(timm_weights)
    for name, tensor in timm_weights.items():
        assert torch.equal(state[name], tensor), name
    assert moved.report().startswith("carried 1,306 of 1,306 tensors, 100.0% of the parameters")


def test_fewer_residual_blocks_carry_every_tensor_the_variant_has():
    """Removing residual blocks keeps the residual stream's meaning (stochastic depth drops
    them in training): Reduction-A and everything after carry over; the removed blocks go."""
    got = statuses(variant("5_10_5"))
    gone = [f"repeat.{i}" for i in range(5, 10)] + [f"repeat_1.{i}" for i in range(10, 20)] + \
           [f"repeat_2.{i}" for i in range(4, 9)]
    for name, status in got.items():
        assert status == ("gone" if starts(name, gone) else "carried"), name


def test_the_plain_variant_carries_everything_before_its_change():
    got = statuses(variant("plain_b"))
    before = [*STEM, "mixed_5b", "repeat", "mixed_6a"]
    assert {n for n, s in got.items() if s == "carried"} == {n for n in got if starts(n, before)}
    # Block17's residual projection has no place in Inception-B; Inception-B's third and fourth
    # branches have none in Block17.
    assert {n for n, s in got.items() if s == "gone"} == \
        {n for n in got if re.match(r"repeat_1\.\d+\.conv2d\.", n)}
    assert {n for n, s in got.items() if s == "new"} == \
        {n for n in got if re.match(r"repeat_1\.\d+\.branch[23]\.", n)}


def test_a_width_scale_carries_nothing():
    got = statuses(variant("small"))
    assert "carried" not in got.values()
    assert {s for n, s in got.items() if n.startswith("conv2d_1a.")} == {"shape changed"}


# --------------------------------------------------------------------- the weights themselves


@pytest.mark.slow
def test_carried_tensors_compute_what_they_computed(timm_weights):
    """The transferred Table 1 variant gives timm's stem, Mixed_5b, Block35 and Reduction-A
    first-branch outputs; everything not carried is the variant's own initialisation."""
    moved = archc.transfer(timm_weights, variant("v4_reduction"), source=IRV2, seed=3)
    model = moved.model.eval()
    reference = timm.create_model("inception_resnet_v2", pretrained=False).eval()
    reference.load_state_dict(timm_weights)
    torch.manual_seed(1)
    x = torch.randn(2, 3, 299, 299)
    with torch.no_grad():
        ours, theirs = x, x
        for name in (*STEM[:3], "maxpool_3a", *STEM[3:], "maxpool_5a", "mixed_5b", "repeat"):
            ours, theirs = getattr(model, name)(ours), getattr(reference, name)(theirs)
            assert torch.allclose(ours, theirs, atol=1e-5), name
        assert (ours[0] - ours[1]).abs().max() > 1e-2  # the comparison sees the input
        assert torch.allclose(model.mixed_6a.branch0(ours), reference.mixed_6a.branch0(theirs),
                              atol=1e-5)

    with torch.random.fork_rng():
        torch.manual_seed(3)
        fresh = archc.build_model(variant("v4_reduction")).state_dict()
    for change in moved.comparison.changes:
        want = timm_weights[change.name] if change.status == "carried" else fresh[change.name]
        assert torch.equal(moved.state_dict[change.name], want), change.name


def test_transfer_loads_into_a_model_built_by_archc(timm_weights):
    model = archc.build_model(variant("5_10_5"))
    moved = archc.transfer(timm_weights, model, source=IRV2)
    assert moved.model is model
    assert torch.equal(model.classif.weight, timm_weights["classif.weight"])


def test_a_model_that_does_not_know_its_spec_is_refused(timm_weights):
    with pytest.raises(TypeError, match="pass the spec"):
        archc.transfer(timm_weights, torch.nn.Linear(2, 2), source=IRV2)


def test_a_wrapped_checkpoint_is_unwrapped(timm_weights):
    checkpoint = {"epoch": 3, "state_dict": {f"module.{k}": v for k, v in timm_weights.items()}}
    moved = archc.transfer(checkpoint, variant("scale_0_3"), source=IRV2)
    assert "from checkpoint['state_dict'], `module.` taken off the names" in moved.report()
    assert torch.equal(moved.state_dict["classif.bias"], timm_weights["classif.bias"])


def test_a_checkpoint_without_batchnorm_counters_loads_as_torch_loads_it(timm_weights):
    weights = {k: v for k, v in timm_weights.items() if not k.endswith("num_batches_tracked")}
    timm.create_model("inception_resnet_v2").load_state_dict(weights, strict=True)
    moved = archc.transfer(weights, variant("scale_0_3"), source=IRV2)
    assert torch.equal(moved.state_dict["classif.weight"], timm_weights["classif.weight"])


def test_a_checkpoint_of_another_network_is_refused_in_a_few_words():
    v4 = timm.create_model("inception_v4", pretrained=False).state_dict()
    with pytest.raises(TransferError) as info:
        archc.transfer(v4, variant("5_10_5"), source=IRV2)
    message = str(info.value)
    assert len(message) < 1000 and "\n" not in message
    assert "not a state_dict of inception_resnet_v2" in message
    assert "1,306 of its 1,306 tensors are missing (all: conv2d_1a.conv.weight" in message
    assert "896 are not in its model (all: features.0.conv.weight" in message


def test_a_checkpoint_of_the_target_says_so(timm_weights):
    moved = archc.transfer(timm_weights, variant("v4_reduction"), source=IRV2)
    with pytest.raises(TransferError, match="it is a state_dict of "
                                            "inception_resnet_v2_v4_reduction already"):
        archc.transfer(moved.state_dict, variant("v4_reduction"), source=IRV2)


@pytest.mark.parametrize("checkpoint, message", [
    ([1, 2], "the checkpoint is a list, not a state_dict"),
    ({"a": torch.zeros(1), 3: "x"}, "1 of its 2 entries is not a tensor under a name (`3`)"),
])
def test_what_is_not_a_state_dict_is_refused(checkpoint, message):
    with pytest.raises(TransferError, match=re.escape(message)):
        archc.transfer(checkpoint, variant("5_10_5"), source=IRV2)


@pytest.mark.parametrize("change, message", [
    (lambda t: t.to(torch.complex64), "is torch.complex64, not floating point"),
    (lambda t: torch.empty(t.shape, device="meta"), "holds no data (a meta tensor)"),
])
def test_tensors_that_cannot_stand_for_the_weights_are_refused(timm_weights, change, message):
    weights = dict(timm_weights, **{"classif.weight": change(timm_weights["classif.weight"])})
    with pytest.raises(TransferError, match=re.escape(f"1 cannot be loaded (classif.weight "
                                                      f"{message})")):
        archc.transfer(weights, variant("scale_0_3"), source=IRV2)


# --------------------------------------------------------------------- the commands


@pytest.mark.slow
def test_migrate_writes_a_state_dict_that_loads_strictly(tmp_path, timm_weights, capsys):
    checkpoint = tmp_path / "irv2.pth"
    torch.save(timm_weights, checkpoint)
    for out in (tmp_path / "v.safetensors", tmp_path / "v.pth"):
        code = main(["migrate", "--from", IRV2, "--to", variant("v4_reduction"), str(checkpoint),
                     "-o", str(out)])
        assert code == 0
        if out.suffix == ".pth":
            state = torch.load(out, weights_only=True)
        else:
            from safetensors.torch import load_file
            state = load_file(out)
        archc.build_model(variant("v4_reduction")).load_state_dict(state, strict=True)
        assert torch.equal(state["repeat.9.conv2d.weight"], timm_weights["repeat.9.conv2d.weight"])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "carried 458 of 1,306 tensors, 5.3% of the parameters"
    assert lines[1].startswith("initialised, meaning changed: 386 (repeat_1.*.branch1.1-2.*")


def test_migrate_refuses_a_checkpoint_of_another_spec_and_writes_nothing(tmp_path, capsys):
    checkpoint = tmp_path / "v4.pth"
    torch.save(timm.create_model("inception_v4", pretrained=False).state_dict(), checkpoint)
    out = tmp_path / "out.pth"
    code = main(["migrate", "--from", IRV2, "--to", variant("small"), str(checkpoint),
                 "-o", str(out)])
    err = capsys.readouterr().err.splitlines()
    assert code == 1 and not out.exists()
    assert len(err) == 1 and err[0].startswith(f"{checkpoint}: error[E702]: the checkpoint is "
                                               "not a state_dict of inception_resnet_v2")


@pytest.mark.parametrize("seed", ["-1", "1e3", str(2**64)])
def test_a_bad_seed_is_a_usage_error(tmp_path, seed, capsys):
    with pytest.raises(SystemExit) as info:
        main(["migrate", "--from", IRV2, "--to", IRV2, "x.pth", "-o", "y.pth", "--seed", seed])
    assert info.value.code == 2 and "--seed" in capsys.readouterr().err


def test_diff_reports_stages_side_by_side(capsys):
    assert main(["diff", IRV2, variant("v4_reduction")]) == 0
    out = capsys.readouterr().out
    total = next(line for line in out.splitlines() if line.startswith("total"))
    assert f"{irv2_params():,}" in total
    assert f"{irv2_params(reduction_a=(192, 224, 256, 384)):,}" in total
    rows = {line.split()[0]: line.split() for line in out.splitlines() if line}
    assert rows["mixed_6a"][1:7] == ["1088", "x", "17", "x", "17", "960"]  # 256 + 384 + 320 + ...
    assert "carried            458 (5.3% of B's parameters)" in out


def test_diff_json_lists_every_tensor(capsys):
    assert main(["diff", "--json", IRV2, variant("5_10_5")]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["a"]["params"] == irv2_params()
    assert report["b"]["params"] == irv2_params(repeats=(5, 10, 4))
    assert report["summary"]["carried"] == 726 and report["summary"]["gone"] == 580
    assert report["summary"]["carried_params"] == 1.0
    stages = {s["a"]["name"] if s["a"] else s["b"]["name"]: s for s in report["stages"]}
    assert stages["repeat.0-9"]["b"]["name"] == "repeat.0-4"
    gone = [t["name"] for t in report["tensors"] if t["status"] == "gone"]
    assert gone[0] == "repeat.5.branch0.conv.weight" and len(gone) == 580


def test_a_spec_error_in_diff_is_located(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("extends: " + IRV2 + "\nname: x\nlayers:\n  nothing: {repeat: 3}\n")
    assert main(["diff", IRV2, str(bad)]) == 1
    assert "error[E309]" in capsys.readouterr().err


@pytest.mark.parametrize("names, chosen, want", [
    (["a.0.w", "a.1.w", "a.2.w", "b.w"], ["a.0.w", "a.1.w", "a.2.w"], ["a.*"]),
    (["a.0.w", "a.1.w", "a.2.w", "a.3.w"], ["a.1.w", "a.2.w"], ["a.1-2.*"]),
    (["a.0.x.w", "a.0.y.w", "a.1.x.w", "a.1.y.w"], ["a.0.y.w", "a.1.y.w"], ["a.*.y.*"]),
    (["a.w", "a.b"], ["a.w"], ["a.w"]),
    (["a.w", "b.w"], ["a.w", "b.w"], ["*"]),
    (["." * 100_000, "b"], ["b"], ["b"]),  # a hostile checkpoint's names cost no recursion
])
def test_name_patterns(names, chosen, want):
    assert patterns(set(chosen), names) == want


@pytest.mark.parametrize("spec", sorted(SPECS.glob("*.yaml")) + sorted(VARIANTS.glob("*.yaml")),
                         ids=lambda p: p.stem)
def test_the_state_dict_is_known_without_running_torch(spec):
    """backends/torch/state.py names every tensor, its shape and kind as torch's model has them."""
    from archc.backends.torch.state import state_dict

    model = archc.build_model(str(spec))
    known = state_dict(archc.compile_spec(str(spec)))
    assert [(t.name, t.shape) for t in known] == \
        [(name, tuple(t.shape)) for name, t in model.state_dict().items()]
    assert {t.name for t in known if t.parameter} == {name for name, _ in model.named_parameters()}
