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
    source = "\n".join(p.read_text() for p in files("backends/torch")
                       if p.name != "runtime.py")  # run-time code, copied in, not generated
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


def _module(name: str) -> Path:
    return PACKAGE.joinpath(*name.split(".")[1:]).with_suffix(".py")


def _imports_module(path: Path, name: str) -> bool:
    return any(found == name or found.startswith(name + ".") for found in imports(path))


@pytest.mark.parametrize("importer, imported", [
    ("archc.passes", "archc.compiler"),  # passes are IR -> IR: they check with ir.check
    ("archc.train", "archc.backends.torch.codegen"),  # training needs no code generator
    ("archc.ir.graph", "archc.ir.shapes"),  # the IR's types, then the inference over them
])
def test_the_layering_edges_the_pipeline_forbids(importer, imported):
    path = _module(importer)
    paths = sorted(path.with_suffix("").rglob("*.py")) if path.with_suffix("").is_dir() \
        else [path]
    assert paths and not any(_imports_module(p, imported) for p in paths)


def test_the_front_end_asks_the_backends_for_their_reserved_names():
    """Each backend owns the names its output uses; the front end holds no copy of them."""
    front_end = "\n".join(p.read_text() for p in files("spec"))
    for name in ("HELPERS", "MODULE_ATTRIBUTES", "RESERVED_NAMES", "CONV_UNIT_CLASS",
                 "BLOCK_ATTRIBUTES", "FIGURE_NAMES"):
        assert not re.search(rf"^{name}\s*=", front_end, re.M), name
    assert "archc.backends.torch.names" in imports(PACKAGE / "spec" / "models.py")
    assert "archc.backends.graphviz.render" in imports(PACKAGE / "spec" / "elaborate.py")


def test_a_checkpoints_spec_is_compiled_in_memory():
    """Resuming never writes the spec files a checkpoint records (they are data from a file)."""
    source = (PACKAGE / "train.py").read_text()
    assert "compile_spec(record[\"root\"]" in source and "files=record[\"files\"]" in source
    assert "import tempfile" not in source


def test_the_compiler_never_imports_the_runtime_it_copies():
    """backends/torch/runtime.py needs torch: the compiler reads it as text."""
    assert not any("archc.backends.torch.runtime" in imports(path)
                   for path in PACKAGE.rglob("*.py"))


def op_type_checks(path: Path, kinds: set[str]) -> list[str]:
    """The `isinstance(x, K)` calls of a file whose K names an op kind (`ir.Concat`, `Concat`,
    or a tuple of them; the language's models, `schema.Concat`, are not ops), as `line: K`."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "isinstance" \
                and len(node.args) == 2:
            kind = node.args[1]
            names = kind.elts if isinstance(kind, ast.Tuple) else [kind]
            for name in names:
                text = ast.unparse(name)
                qualifier, _, kind_name = text.rpartition(".")
                if kind_name in kinds and qualifier in ("", "ir", "ops"):
                    found.append(f"{node.lineno}: {text}")
    return found


def test_phases_reach_ops_only_through_the_registry():
    """No `isinstance` on an op kind outside archc/ops/ (an op's own file) and archc/passes/ (a
    rewrite matches the ops it rewrites): a phase asks an op's rules and categories, so that a
    new op kind needs no line in any phase."""
    from archc.ops import REGISTRY

    kinds = {cls.__name__ for cls in REGISTRY.values()}
    assert {"Concat", "BlockCall", "Input", "Add"} <= kinds
    phases = [p for p in PACKAGE.rglob("*.py")
              if p.relative_to(PACKAGE).parts[0] not in ("ops", "passes")]
    found = {str(p.relative_to(PACKAGE)): op_type_checks(p, kinds) for p in phases}
    assert {path: checks for path, checks in found.items() if checks} == {}


def test_the_type_check_search_sees_type_checks():
    """The search above can fail: a rewrite does match op kinds."""
    from archc.ops import REGISTRY

    kinds = {cls.__name__ for cls in REGISTRY.values()}
    assert op_type_checks(PACKAGE / "passes" / "fold_bn.py", kinds)
