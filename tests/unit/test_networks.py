"""The three bundled networks against the facts of docs/reference.md (the paper, TF-slim, timm)."""

import pytest

from archc.compiler import compile_spec
from archc.errors import Diagnostics, SpecError
from archc.ir.cost import CostModel
from archc.ir.graph import node as ir_node
from archc.ir.shapes import infer, smallest_input

from ..conftest import FIXTURES, SPECS


def stages(name):
    network = compile_spec(str(SPECS / f"{name}.yaml"))
    model = CostModel(network, network.shapes)
    return network, {row.name: row for row in model.stages()}, model.total()


# (reference parameters, reference GMACs at 299x299): timm's counts, docs/reference.md
REFERENCE_COSTS = {
    "inception_v4": (42_679_816, 12.28),
    "inception_resnet_v2": (55_843_464, 13.18),
}


@pytest.mark.parametrize("name", REFERENCE_COSTS)
def test_parameters_and_macs_match_the_reference(name):
    params, gmacs = REFERENCE_COSTS[name]
    _, _, total = stages(name)
    assert total.params == params
    assert total.macs / 1e9 == pytest.approx(gmacs, rel=0.005)


# Stage output shapes (C, H, W), written out from docs/reference.md's description of each network.
INCEPTION_V4_SHAPES = {
    "features.0": (32, 149, 149),
    "features.1": (32, 147, 147),
    "features.2": (64, 147, 147),
    "features.3": (160, 73, 73),  # Mixed3a: 64 + 96
    "features.4": (192, 71, 71),  # Mixed4a: 96 + 96
    "features.5": (384, 35, 35),  # Mixed5a: 192 + 192
    "features.6-9": (384, 35, 35),
    "features.10": (1024, 17, 17),  # Reduction-A: 384 + n 384 + m 256
    "features.11-17": (1024, 17, 17),
    "features.18": (1536, 8, 8),  # Reduction-B: 192 + 320 + 1024
    "features.19-21": (1536, 8, 8),
    "global_pool": (1536,),
    "last_linear": (1000,),
}

INCEPTION_RESNET_V2_SHAPES = {
    "conv2d_1a": (32, 149, 149),
    "conv2d_2a": (32, 147, 147),
    "conv2d_2b": (64, 147, 147),
    "maxpool_3a": (64, 73, 73),
    "conv2d_3b": (80, 73, 73),
    "conv2d_4a": (192, 71, 71),
    "maxpool_5a": (192, 35, 35),
    "mixed_5b": (320, 35, 35),  # 96 + 64 + 96 + 64
    "repeat.0-9": (320, 35, 35),
    "mixed_6a": (1088, 17, 17),  # 320 + n 384 + m 384
    "repeat_1.0-19": (1088, 17, 17),
    "mixed_7a": (2080, 8, 8),  # 384 + 288 + 320 + 1088
    "repeat_2.0-8": (2080, 8, 8),
    "block8": (2080, 8, 8),
    "conv2d_7b": (1536, 8, 8),
    "classif": (1000,),
}

INCEPTION_RESNET_V1_SHAPES = {
    "stem.6": (256, 35, 35),
    "inception_resnet_a.0-4": (256, 35, 35),
    "reduction_a": (896, 17, 17),  # 256 + n 384 + m 256
    "inception_resnet_b.0-9": (896, 17, 17),
    "reduction_b": (1792, 8, 8),  # 896 + 384 + 256 + 256
    "inception_resnet_c.0-4": (1792, 8, 8),
    "classifier": (1000,),
}


@pytest.mark.parametrize("name, expected", [
    ("inception_v4", INCEPTION_V4_SHAPES),
    ("inception_resnet_v2", INCEPTION_RESNET_V2_SHAPES),
    ("inception_resnet_v1", INCEPTION_RESNET_V1_SHAPES),
])
def test_stage_shapes_match_the_reference(name, expected):
    _, rows, _ = stages(name)
    assert {stage: rows[stage].output for stage in expected} == expected


@pytest.mark.parametrize("name", ["inception_v4", "inception_resnet_v1", "inception_resnet_v2"])
def test_smallest_input_is_75(name):
    network = compile_spec(str(SPECS / f"{name}.yaml"))
    assert smallest_input(network) == 75
    too_small = Diagnostics()
    infer(network, too_small, (3, 74, 74))
    assert len(too_small.items) == 1
    assert "gets 2 x 2" in too_small.items[0].message


@pytest.mark.parametrize("name, k_l_m_n", [
    ("inception_v4", (192, 224, 256, 384)),
    ("inception_resnet_v1", (192, 192, 256, 384)),
    ("inception_resnet_v2", (256, 256, 384, 384)),
])
def test_reduction_a_is_one_definition_with_table_1_arguments(name, k_l_m_n):
    network = compile_spec(str(SPECS / f"{name}.yaml"))
    definition = network.blocks["ReductionA"]
    assert definition.pos.file.endswith("specs/common/reduction_a.yaml")
    assert definition.params == ("k", "l", "m", "n")
    args = [key[1] for key in network.shapes.instances if key[0] == "ReductionA"]
    assert args == [tuple(zip("klmn", k_l_m_n))]


def test_inception_resnet_v2_block_counts_and_scales():
    network = compile_spec(str(SPECS / "inception_resnet_v2.yaml"))
    nodes = [ir_node(network.body, name) for name in network.body]
    calls = {data.module: (data.op, len(data.paths)) for data in nodes if data.paths}
    assert calls["repeat"][1] == 10 and dict(calls["repeat"][0].args) == {"scale": 0.17}
    assert calls["repeat_1"][1] == 20 and dict(calls["repeat_1"][0].args) == {"scale": 0.10}
    assert calls["repeat_2"][1] == 9
    assert dict(calls["repeat_2"][0].args) == {"scale": 0.20, "activation": "relu"}
    assert dict(calls["block8"][0].args) == {"scale": 1.0, "activation": "none"}


def test_the_paper_as_drawn_has_exactly_its_two_channel_errors():
    path = FIXTURES / "paper" / "inception_resnet_v2_as_drawn.yaml"
    lines = path.read_text().splitlines()
    line_1154 = next(i for i, line in enumerate(lines, 1) if "conv 1x1 1154 linear" in line)
    line_2048 = next(i for i, line in enumerate(lines, 1) if "conv 1x1 2048 linear" in line)
    with pytest.raises(SpecError) as raised:
        compile_spec(str(path))
    errors = raised.value.diagnostics
    assert [(e.pos.line, e.pos.col) for e in errors] == [
        (line_1154, lines[line_1154 - 1].index("conv 1x1") + 1),
        (line_2048, lines[line_2048 - 1].index("conv 1x1") + 1),
    ]
    # 1152 = Reduction-A's 384 + n 384 + m 384; 2144 = Figure 18's 1152 + 384 + 288 + 320
    assert "gives 1154 channels, the block input has 1152" in errors[0].message
    assert "gives 2048 channels, the block input has 2144" in errors[1].message
    assert errors[0].key_path == "blocks.InceptionResNetB.layers[1].conv2d"
