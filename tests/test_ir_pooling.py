"""The IR's window arithmetic (archc.ops.window) is PyTorch's: every pooling configuration
PyTorch accepts gives the output size PyTorch computes, or None where PyTorch refuses the input
as too small. Split from tests/unit/test_ir.py, which runs without torch."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

torch = pytest.importorskip("torch")

from archc.ops import window  # noqa: E402


@st.composite
def poolings(draw):
    """(size, kernel, stride, pad, ceil) of a MaxPool2d that PyTorch constructs: it refuses
    padding of more than half the kernel, so the padding is drawn within that bound."""
    kernel = draw(st.integers(1, 7))
    return (draw(st.integers(1, 40)), kernel, draw(st.integers(1, 4)),
            draw(st.integers(0, kernel // 2)), draw(st.booleans()))


@settings(deadline=None)  # the first case runs PyTorch's pooling for the first time
@given(poolings())
def test_window_is_pytorchs_pooling_arithmetic(pooling):
    size, kernel, stride, pad, ceil = pooling
    pool = torch.nn.MaxPool2d(kernel, stride, pad, ceil_mode=ceil)
    try:
        expected = pool(torch.zeros(1, 1, size, size)).shape[-1]
    except RuntimeError as refused:
        assert "Output size is too small" in str(refused)
        expected = None
    assert window(size, kernel, stride, (pad, pad), ceil) == expected
