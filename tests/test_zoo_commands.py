"""Every zoo spec at every one of its sizes works with every command a user runs on it: check,
build (plain and deploy), render, and diff against the spec's own first size. (Their models are
checked against torchvision's in test_zoo_reference.py.)"""

import pytest

from archc.cli import main
from archc.spec.load import load_file

from .conftest import SPECS

ZOO = sorted((SPECS / "zoo").glob("*.yaml"))
SIZES = [(path, scale) for path in ZOO
         for scale in [None, *load_file(path).get("scales", {})]]


@pytest.mark.parametrize("path, scale", SIZES,
                         ids=[f"{path.stem}-{scale or 'spec'}" for path, scale in SIZES])
def test_every_command_works_on_every_size(path, scale, tmp_path, capsys):
    size = ["--scale", scale] if scale else []
    out = tmp_path / "out"
    out.mkdir()
    assert main(["check", str(path), *size]) == 0
    assert main(["build", str(path), *size, "-o", str(out)]) == 0
    assert main(["build", "--deploy", str(path), *size, "-o", str(out)]) == 0
    assert len(list(out.glob("*.py"))) == 2
    assert main(["render", str(path), *size, "--format", "dot", "-o", str(out)]) == 0
    assert any(out.glob("*-overview.dot"))
    assert main(["diff", str(path), str(path), *(["--scale-b", scale] if scale else [])]) == 0
    capsys.readouterr()
