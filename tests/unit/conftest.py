"""The unit tier: fast tests that never import torch (or timm, torchvision, matplotlib).

A test here that loads one of them fails, so that `./dev test tests/unit` stays a matter of
seconds; tests/unit/test_tier.py checks the same of importing the tier's modules."""

import sys

import pytest

HEAVY = ("torch", "timm", "torchvision", "matplotlib")


@pytest.fixture(autouse=True)
def _stays_torch_free():
    before = {name for name in HEAVY if name in sys.modules}
    yield
    loaded = sorted(name for name in HEAVY if name in sys.modules and name not in before)
    if loaded:
        pytest.fail(f"a unit test imported {', '.join(loaded)}: it belongs in tests/, not "
                    "tests/unit/", pytrace=False)
