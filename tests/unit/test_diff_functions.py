"""archc diff reports every difference in what two networks compute, not only in their tensors:
activations, residual scales, strides, pools, drop paths; stage rows where they differ are
marked; either side takes --set and --scale; a share is never rounded to 100% or 0%."""

from __future__ import annotations

import json

import pytest

from archc.cli import main
from archc.compiler import compile_spec
from archc.diff import compare, differences, percent

from ..conftest import ROOT

IRV2 = str(ROOT / "specs" / "inception_resnet_v2.yaml")
VARIANTS = ROOT / "specs" / "variants"


def found(a: str, b: str, overrides_b=()) -> set[tuple[str, str]]:
    comparison = compare(compile_spec(a), compile_spec(b, list(overrides_b)))
    return {(d.where, d.what) for d in differences(comparison)}


def test_residual_scales_strides_pools_and_drop_paths_are_reported():
    scaled = found(IRV2, str(VARIANTS / "inception_resnet_v2_scale_0_3.yaml"))
    assert ("repeat.0.add", "scale 0.17 -> 0.3") in scaled
    assert ("repeat_1.19.add", "scale 0.1 -> 0.3") in scaled
    assert len(scaled) == 10 + 20 + 9  # block8 keeps its scale of 1
    cifar = found(IRV2, str(VARIANTS / "inception_resnet_v2_cifar.yaml"))
    assert ("conv2d_1a", "stride 2x2 -> 1x1") in cifar
    assert ("maxpool_3a", "removed: maxpool 3x3 /2 V") in cifar
    dropping = found(IRV2, str(VARIANTS / "inception_resnet_v2_drop_path.yaml"))
    assert ("block8.drop_path", "added: drop_path") in dropping and len(dropping) == 40
    assert found(IRV2, IRV2) == set()


def test_an_activation_changed_by_the_settings_is_reported_everywhere():
    silu = found(IRV2, IRV2, ["settings.conv.activation=silu"])
    assert ("conv2d_1a", "act relu -> silu") in silu
    assert ("repeat.3.branch0", "act relu -> silu") in silu
    assert not {what for where, what in silu if where.endswith(".add")}  # the spec names relu


def test_the_text_marks_the_stages_and_lists_each_change_once(chdir_root, capsys):
    variant = "specs/variants/inception_resnet_v2_scale_0_3.yaml"
    assert main(["diff", "specs/inception_resnet_v2.yaml", variant]) == 0
    out = capsys.readouterr().out
    marked = [line.split()[0] for line in out.splitlines() if " * " in line[:20]]
    assert marked == ["repeat.0-9", "repeat_1.0-19", "repeat_2.0-8"]
    assert "  repeat.*.add: scale 0.17 -> 0.3\n" in out
    assert main(["diff", "specs/inception_resnet_v2.yaml", variant, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert {"stage": "repeat_1.0", "where": "repeat_1.0.add", "what": "scale 0.1 -> 0.3"} \
        in data["differences"]


def test_either_side_takes_set_and_scale(chdir_root, capsys):
    assert main(["diff", "specs/inception_resnet_v2.yaml", "specs/inception_resnet_v2.yaml",
                 "--set-b", "settings.conv.activation=silu"]) == 0
    assert "act relu -> silu" in capsys.readouterr().out
    assert main(["diff", "specs/zoo/resnet.yaml", "specs/zoo/resnet.yaml",
                 "--scale-b", "resnet101"]) == 0
    out = capsys.readouterr().out
    assert "new                306: layer3.6-22.*" in out  # 17 more blocks of 18 tensors
    assert main(["diff", "specs/zoo/resnet.yaml", "specs/zoo/resnet.yaml", "--scale",
                 "resnet101", "--scale-a", "resnet152"]) == 0  # A's own scale is the last word
    # 4 + 13 more blocks in resnet152, 18 tensors each: 306
    assert "gone               306: layer2.4-7.*, layer3.23-35.*" in capsys.readouterr().out


@pytest.mark.parametrize("fraction, shown", [
    (1.0, "100.0%"), (0.9996, ">99.9%"), (0.5, "50.0%"), (0.0004, "<0.1%"), (0.0, "0.0%"),
    (0.12345, "12.3%"), (0.99949, "99.9%")])
def test_a_share_is_never_rounded_to_all_or_nothing(fraction, shown):
    assert percent(fraction) == shown
