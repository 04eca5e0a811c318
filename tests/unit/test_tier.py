"""tests/unit stays torch-free: importing every module of the tier (with the conftest files and
all they import) in a fresh interpreter loads none of torch, timm, torchvision or matplotlib.
tests/unit/conftest.py fails any test of the tier that loads one of them while it runs."""

import subprocess
import sys
from pathlib import Path

from ..conftest import ROOT
from .conftest import HEAVY

UNIT = Path(__file__).resolve().parent

CHECK = """
import importlib, sys
for name in sys.argv[1:]:
    importlib.import_module(name)
print("loaded:", [name for name in {heavy!r} if name in sys.modules])
"""


def test_importing_the_unit_tier_imports_no_torch():
    modules = sorted(f"tests.unit.{path.stem}" for path in UNIT.glob("*.py"))
    assert {"tests.unit.conftest", "tests.unit.test_tier"} < set(modules) and len(modules) > 5
    result = subprocess.run([sys.executable, "-c", CHECK.format(heavy=HEAVY), "tests.conftest",
                             *modules], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.splitlines()[-1] == "loaded: []", result.stdout
