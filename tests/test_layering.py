"""The pipeline's layering: the IR never depends on the language's models, backends never on the
front end, and the torch backend computes no channel or padding of its own."""

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "archc"


def imports(path: Path) -> set[str]:
    """The archc modules a file imports, as dotted names relative to the package."""
    package = path.relative_to(PACKAGE.parent).with_suffix("").parts[:-1]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = list(package[: len(package) - node.level + 1]) if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            out |= {module} | {f"{module}.{alias.name}" for alias in node.names}
        elif isinstance(node, ast.Import):
            out |= {alias.name for alias in node.names}
    return {name for name in out if name.startswith("archc")}


def files(folder: str) -> list[Path]:
    return sorted((PACKAGE / folder).rglob("*.py"))


@pytest.mark.parametrize("path", files("ir"), ids=lambda p: p.name)
def test_the_ir_never_imports_the_language(path):
    assert not {name for name in imports(path) if name.startswith("archc.spec")}


@pytest.mark.parametrize("path", files("backends"), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_backends_never_import_the_front_end(path):
    front_end = ("archc.spec", "archc.compiler", "archc.api", "archc.cli")
    assert not {name for name in imports(path) if name.startswith(front_end)}


def test_the_import_check_sees_imports():
    """The check above can fail: the front end does import the language's models."""
    assert "archc.spec.models" in imports(PACKAGE / "spec" / "elaborate.py")


def test_the_torch_backend_does_no_channel_or_padding_arithmetic():
    """Channels, pads and sizes come from the IR: no `// 2`, no `- 1`, no sums of channels."""
    source = "\n".join(p.read_text() for p in files("backends/torch"))
    code = [line for line in source.splitlines() if not line.lstrip().startswith("#")]
    arithmetic = re.compile(r"(//\s*2|\bk\s*-\s*1|kernel\[\d\]\s*-|\bsum\(|channels\s*\+)")
    assert [line for line in code if arithmetic.search(line)] == []


def test_check_and_diff_run_without_importing_torch():
    """The compiler core, `archc diff`, which reads state_dicts from the IR, and `archc plot`,
    which reads training runs' metrics, need no torch."""
    import subprocess
    import sys

    script = ("import sys, contextlib, io\nfrom archc.cli import main\n"
              "with contextlib.redirect_stdout(io.StringIO()):\n"
              "    assert main(['check', 'specs/inception_resnet_v2.yaml']) == 0\n"
              "    assert main(['diff', 'specs/inception_resnet_v2.yaml', "
              "'specs/variants/inception_resnet_v2_small.yaml']) == 0\n"
              "with contextlib.redirect_stderr(io.StringIO()):\n"
              "    assert main(['plot', 'no-such-run']) == 1\n"
              "print(sorted(m for m in sys.modules if m.split('.')[0] == 'torch'))\n")
    result = subprocess.run([sys.executable, "-c", script], cwd=PACKAGE.parent,
                            capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
