"""The compact form of a layer and its long form are the same layer."""

from hypothesis import given
from hypothesis import strategies as st
from pydantic import TypeAdapter

from archc.spec.models import Layer, parse_compact

LAYER = TypeAdapter(Layer)

kernels = st.tuples(st.integers(1, 9), st.integers(1, 9))
filters = st.one_of(st.integers(1, 4096), st.sampled_from(["k", "l", "m", "n", "num_classes"]))


@given(kernel=kernels, filters=filters, stride=st.integers(1, 4),
       valid=st.booleans(), linear=st.booleans())
def test_conv_compact_equals_long(kernel, filters, stride, valid, linear):
    text = f"conv {kernel[0]}x{kernel[1]} {filters}"
    text += f" /{stride}" if stride > 1 else ""
    text += " V" if valid else ""
    text += " linear" if linear else ""
    long = {"type": "conv", "kernel": f"{kernel[0]}x{kernel[1]}", "filters": filters,
            "stride": stride, "padding": "valid" if valid else "same", "linear": linear}
    assert parse_compact(text) == LAYER.validate_python(long)


@given(kind=st.sampled_from(["maxpool", "avgpool"]), size=st.integers(1, 9),
       stride=st.integers(1, 4), valid=st.booleans())
def test_pool_compact_equals_long(kind, size, stride, valid):
    text = f"{kind} {size}x{size} /{stride}" + (" V" if valid else "")
    long = {"type": kind, "kernel": size, "stride": stride,
            "padding": "valid" if valid else "same"}
    assert parse_compact(text) == LAYER.validate_python(long)


def test_asymmetric_kernel_is_height_by_width():
    assert parse_compact("conv 1x7 160").kernel == (1, 7)
    assert parse_compact("conv 7x1 160").kernel == (7, 1)


def test_block_instances():
    assert parse_compact("ReductionA(k=192, l=224, m=256, n=384)") == LAYER.validate_python(
        {"type": "block", "block": "ReductionA",
         "args": {"k": 192, "l": 224, "m": 256, "n": 384}})
    assert parse_compact("10 x Block35(scale=0.17)") == LAYER.validate_python(
        {"type": "block", "block": "Block35", "args": {"scale": 0.17}, "repeat": 10})
    assert parse_compact("Block8(scale=1.0, activation=none)").args == \
        {"scale": 1.0, "activation": "none"}


def test_head_layers():
    assert parse_compact("avgpool global") == LAYER.validate_python({"type": "global_avgpool"})
    assert parse_compact("dropout 0.2") == LAYER.validate_python({"type": "dropout", "p": 0.2})
    assert parse_compact("linear num_classes") == \
        LAYER.validate_python({"type": "linear", "features": "num_classes"})
