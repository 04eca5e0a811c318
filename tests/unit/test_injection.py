"""Nothing a spec says can inject code into generated source or figures: every string that
reaches a template is checked (names, titles) or made inert (file paths in comments)."""

import ast
import re
import shutil

import pytest
import yaml

import archc
from archc.backends.graphviz import figures
from archc.backends.torch import render
from archc.errors import SpecError

ATTEMPTS = [
    'a"); import os; os.system("echo pwned',
    "x\nimport os",
    "a'''b",
    'a"""b',
    "a\\",
    "{{ 7 * 7 }}",
    "{% for x in y %}",
    "${HOME}",
    "__import__",
    "__class__",
    "a b",
    "a-b",
    "1abc",
    "class",
    "lambda",
    "None",
    "self",
    "torch",
    "nn",
    "forward",
    "range",
    "_",
    "ünïcode",
    "a\u2028b",
    "a\x00b",
    "#comment",
    "a;b",
    "",
]


# What each attempt is, by the rules of docs/spec-language.md, written out here rather than taken
# from archc: a name is ASCII letters, digits and _, not starting with a digit; not a Python
# keyword; not a name the generated module uses; a block or parameter name not a builtin either
# (it becomes a class or a local of the generated code); a network's name starts with a letter.
KEYWORDS = {"class", "lambda", "None"}
RESERVED = {"__import__", "__class__", "self", "torch", "nn", "forward"}
BUILTINS = {"range", "_"}
assert KEYWORDS | RESERVED | BUILTINS <= set(ATTEMPTS)


def is_name(text: str) -> bool:
    return re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", text) is not None


# Where a diagnostic about each place points (its key path starts with one of these).
KEY_PATHS = {
    "layer name": ("layers[0].",),
    "branch name": ("blocks.Blk.layers[0].concat.",),
    "block name": ("blocks.", "layers[1].blk.block"),
    "parameter name": ("blocks.Blk.params[0]", "layers[1].blk.args."),
    "network name": ("name",),
    "filters": ("layers[0].stem.filters",),
    "argument": ("layers[1].blk.",),
    "block title": ("blocks.Blk.title",),
}


def expected_refusal(where: str, text: str):
    """(code, pattern every message matches) of the refusal, or None where the spec compiles."""
    if where in ("filters", "argument"):
        # An expression: names in it must be parameters (there are none but num_classes here);
        # anything else cannot be read.
        if is_name(text):
            return "E401", rf"^unknown parameter `{re.escape(text)}`"
        if text == "a-b":
            return "E401", r"^unknown parameter `[ab]`"
        return "E215", r"^cannot read the expression: "
    if where == "block title":
        # Plain text: letters, digits, spaces and _.,:()+- only, 1 to 60 of them.
        if re.fullmatch(r"[A-Za-z0-9 _.,:()+\-]{1,60}", text):
            return None
        return "E203", r"^`title` string should match pattern"
    if not is_name(text):
        return "E209", r"is not a valid name: use letters, digits and _, not starting with a digit$"
    if text in KEYWORDS:
        return "E209", rf"^`{text}` is a Python keyword and cannot name a layer or block$"
    if text in RESERVED:
        return "E209", rf"^`{re.escape(text)}` is reserved: it would shadow a name of the generated"
    if where == "network name" and not text[0].isalpha():
        return "E209", rf"^`{text}` cannot name a network: start with a letter"
    if text in BUILTINS and where in ("block name", "parameter name"):
        return "E209", rf"^`{text}` is a Python builtin and cannot name a block or parameter$"
    return None


def assert_refused(path, where: str, text: str, code: str, pattern: str):
    with pytest.raises(SpecError) as refused:
        archc.compile_spec(str(path))
    diagnostics = refused.value.diagnostics
    assert diagnostics
    for d in diagnostics:
        assert d.code == code, str(d)
        assert re.search(pattern, d.message), str(d)
        assert d.key_path.startswith(KEY_PATHS[where]), str(d)
        assert d.pos is not None and d.pos.line > 0, str(d)


def spec_with(tmp_path, where: str, text: str):
    """A small valid spec with `text` placed at one position."""
    block = {"title": "Block", "params": ["k"],
             "layers": [{"concat": {"b0": "conv 1x1 k", "b1": ["conv 1x1 8", "conv 3x3 k"]}}]}
    spec = {"name": "net", "input": {"channels": 3, "size": 16},
            "blocks": {"Blk": block},
            "layers": [{"stem": "conv 3x3 8"}, {"blk": "Blk(k=8)"}],
            "head": [{"pool": "avgpool global"}, {"fc": "linear num_classes"}]}
    if where == "layer name":
        spec["layers"][0] = {text: "conv 3x3 8"}
    elif where == "branch name":
        block["layers"][0]["concat"] = {text: "conv 1x1 k", "b1": "conv 1x1 8"}
    elif where == "block name":
        spec["blocks"] = {text: block}
        spec["layers"][1] = {"blk": {"type": "block", "block": text, "args": {"k": 8}}}
    elif where == "parameter name":
        block["params"] = [text]
        spec["layers"][1] = {"blk": {"type": "block", "block": "Blk", "args": {text: 8}}}
    elif where == "network name":
        spec["name"] = text
    elif where == "block title":
        block["title"] = text
    elif where == "filters":
        spec["layers"][0] = {"stem": {"type": "conv", "kernel": 3, "filters": text}}
    elif where == "argument":
        spec["layers"][1] = {"blk": {"type": "block", "block": "Blk", "args": {"k": text}}}
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec, allow_unicode=True))
    return path


def check_generated(network, title=None):
    source = render(network)
    tree = ast.parse(source)
    imports = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
               for alias in node.names}
    assert imports == {"torch"}
    assert {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)} <= \
        {"torch", "torch.utils.checkpoint"}
    calls = {node.func.id for node in ast.walk(tree)
             if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)}
    builtins_used = {"super", "range", "len", "max", "all", "list", "isinstance", "ValueError"}
    assert calls <= {*builtins_used, "ConvBnReLU", "GlobalAvgPool", "checkpoint",
                     *network.blocks}
    if title is not None:
        docs = [ast.get_docstring(node) for node in tree.body if isinstance(node, ast.ClassDef)]
        assert any(doc.startswith(f"{title}, a block") for doc in docs)
    for figure in figures(network).values():
        assert figure.source.count("{") == figure.source.count("}")


@pytest.mark.parametrize("where", ["layer name", "branch name", "block name", "parameter name",
                                   "network name", "filters", "argument"])
@pytest.mark.parametrize("text", ATTEMPTS, ids=range(len(ATTEMPTS)))
def test_a_name_is_refused_with_a_located_error_or_is_inert(tmp_path, where, text):
    path = spec_with(tmp_path, where, text)
    expected = expected_refusal(where, text)
    if expected is not None:
        assert_refused(path, where, text, *expected)
        return
    network = archc.compile_spec(str(path))  # only a plain identifier gets through
    check_generated(network)
    compile(render(network), "<generated>", "exec")


@pytest.mark.parametrize("text", ATTEMPTS, ids=range(len(ATTEMPTS)))
def test_a_title_is_plain_text_or_refused(tmp_path, text):
    path = spec_with(tmp_path, "block title", text)
    expected = expected_refusal("block title", text)
    if expected is not None:
        assert_refused(path, "block title", text, *expected)
        return
    check_generated(archc.compile_spec(str(path)), title=text)


@pytest.mark.parametrize("name", ['evil"""\nimport os\n"""', "a\\b", "{{ x }}", "# x\ny = 1",
                                  "ünï côdé", "'''"])
def test_file_names_are_inert_in_generated_comments(tmp_path, name):
    folder = tmp_path / name
    folder.mkdir()
    shutil.copy(spec_with(tmp_path, "none", ""), folder / "spec.yaml")
    network = archc.compile_spec(str(folder / "spec.yaml"))
    check_generated(network)
    source = render(network)
    assert "\nimport os" not in source and "\ny = 1" not in source
