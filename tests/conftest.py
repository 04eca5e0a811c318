from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"
FIXTURES = ROOT / "tests" / "fixtures"
NETWORK_SPECS = sorted(SPECS.glob("*.yaml"))


@pytest.fixture
def chdir_root(monkeypatch):
    """Run from the repository root, so that spec paths print as a user types them."""
    monkeypatch.chdir(ROOT)
