"""External modules (archc/ops/external.py), the escape hatch: a spec names a PyTorch module of
its own package with its arguments and a declared rule (channels, stride). archc checks shapes
from the rule without importing the module (check, build and render run where the package does
not exist); the generated file imports it, and the model built from it is a hand-written one
with that module, weight for weight, in its plain and deploy forms."""

import textwrap

import pytest

from archc import compile_spec
from archc.cli import main
from archc.errors import SpecError

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

import archc  # noqa: E402

from .conftest import randomise_batchnorm  # noqa: E402

PACKAGE = '''
import torch
from torch import nn


class Attention(nn.Module):
    """A channel gate and a spatial gate (Woo et al. 2018's CBAM, smaller)."""

    def __init__(self, channels, reduction=4):
        super().__init__()
        self.mlp = nn.Sequential(nn.Conv2d(channels, channels // reduction, 1), nn.ReLU(),
                                 nn.Conv2d(channels // reduction, channels, 1))
        self.spatial = nn.Conv2d(2, 1, 7, padding=3)

    def forward(self, x):
        x = x * torch.sigmoid(self.mlp(x.mean((2, 3), keepdim=True)))
        pooled = torch.cat([x.mean(1, keepdim=True), x.amax(1, keepdim=True)], 1)
        return x * torch.sigmoid(self.spatial(pooled))


class Squeeze(nn.Module):
    """Halves the channels and the size: a strided 1x1 conv."""

    def __init__(self, channels):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels // 2, 1, stride=2)

    def forward(self, x):
        return self.conv(x)
'''

SPEC = """
name: attention_net
input: {size: 16}
num_classes: 10
settings: {batchnorm: {eps: 1e-5}}
blocks:
  Res:
    params: [c]
    residual: {activation: none}
    layers:
      - conv1: conv 3x3 c
      - conv2: conv 3x3 in nobn noact
      - att: {type: external, module: userpkg.layers.Attention, args: {channels: in}}
layers:
  - stem: conv 3x3 16 /2 nobn noact
  - blocks: 2 x Res(c=8)
  - squeeze: {type: external, module: userpkg.layers.Squeeze, args: {channels: 16},
              channels: 8, stride: 2}
head:
  - pool: avgpool global
  - fc: linear num_classes
"""


@pytest.fixture
def package(tmp_path, monkeypatch):
    (tmp_path / "userpkg").mkdir()
    (tmp_path / "userpkg" / "__init__.py").write_text("")
    (tmp_path / "userpkg" / "layers.py").write_text(PACKAGE)
    monkeypatch.syspath_prepend(str(tmp_path))
    import importlib

    return importlib.import_module("userpkg.layers")


def write(tmp_path, text=SPEC, name="net.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip())
    return path


class Reference(nn.Module):
    def __init__(self, layers):
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 3, stride=2, padding=1, bias=False)
        self.blocks = nn.Sequential(*[ResReference(layers) for _ in range(2)])
        self.squeeze = layers.Squeeze(16)
        self.fc = nn.Linear(8, 10)

    def forward(self, x):
        return self.fc(self.squeeze(self.blocks(self.stem(x))).mean((2, 3)))


class ResReference(nn.Module):
    def __init__(self, layers):
        super().__init__()
        self.conv1 = nn.Module()
        self.conv1.conv = nn.Conv2d(16, 8, 3, padding=1, bias=False)
        self.conv1.bn = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 16, 3, padding=1, bias=False)
        self.att = layers.Attention(16)

    def forward(self, x):
        y = torch.relu(self.conv1.bn(self.conv1.conv(x)))
        return x + self.att(self.conv2(y))


def test_the_model_is_the_hand_written_one_with_the_external_modules(tmp_path, package):
    torch.manual_seed(0)
    reference = Reference(package).eval()
    randomise_batchnorm(reference)
    network = compile_spec(str(write(tmp_path)))
    assert network.shapes.body["squeeze"] == (8, 4, 4)  # the declared rule: 8 channels, /2
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        expected = reference(x)
        assert (expected[0] - expected[1]).abs().max() > 1e-3
        model = archc.build_model(network).eval()
        model.load_state_dict(reference.state_dict(), strict=True)
        assert (model(x) - expected).abs().max() <= 1e-5
        deploy = archc.build_model(network, deploy=True)
        deploy.load_trained(reference.state_dict())
        assert (deploy(x) - expected).abs().max() <= 1e-4


def test_check_build_and_render_never_import_it(tmp_path, capsys):
    """The package does not exist here: archc reads the spec's rule, and writes the import."""
    spec = write(tmp_path, SPEC.replace("userpkg", "absentpkg"))
    (tmp_path / "out").mkdir()
    assert main(["check", str(spec)]) == 0
    assert main(["build", str(spec), "-o", str(tmp_path / "out")]) == 0
    assert main(["render", str(spec), "-o", str(tmp_path / "out"), "--format", "dot"]) == 0
    code = (tmp_path / "out" / "attention_net.py").read_text()
    assert "\nimport absentpkg.layers\nimport torch\n" in code
    assert "self.att = absentpkg.layers.Attention(channels=16)" in code
    figure = (tmp_path / "out" / "attention_net-Res.dot").read_text()
    assert 'label="Attention (absentpkg.layers)"' in figure
    capsys.readouterr()


def test_what_follows_reads_the_declared_channels(tmp_path):
    """A rule that does not fit what follows is an error of the spec, as for any layer: here
    the residual sum of the block's 16 input channels and the module's declared 8."""
    spec = write(tmp_path, SPEC.replace("args: {channels: in}}", "args: {channels: in}, "
                                                                  "channels: 8}"))
    with pytest.raises(SpecError) as error:
        compile_spec(str(spec))
    assert "16" in str(error.value) and "8" in str(error.value)
    assert "blocks.Res" in str(error.value)


@pytest.mark.parametrize("module, message", [
    ("userpkg", "E203.*must be a class's import path, a module and the class"),
    ("userpkg.layers.Attention()", "E203.*must be a class's import path"),
    ("nn.layers.Attention", "E209.*`nn.layers.Attention`: a package named `nn` would shadow a "
                            "name of the generated module"),
    ("userpkg.layers.Attention, args: {1x: 2}", r"E209.*`1x` is not a valid name: use letters, "
                                                r"digits and _, not starting with a digit"),
])
def test_a_bad_import_path_is_refused_where_it_is_written(tmp_path, module, message):
    spec = write(tmp_path, SPEC.replace("module: userpkg.layers.Attention, args: {channels: in}",
                                        f"module: {module}"))
    with pytest.raises(SpecError, match=message) as error:
        compile_spec(str(spec))
    assert "net.yaml:12:" in str(error.value)


def test_a_parameter_may_not_hide_the_package(tmp_path):
    spec = write(tmp_path, SPEC.replace("params: [c]", "params: [c, userpkg]")
                 .replace("Res(c=8)", "Res(c=8, userpkg=1)"))
    with pytest.raises(SpecError, match=r"E209.*`userpkg` names a parameter here and the "
                                        r"package of userpkg.layers.Attention"):
        compile_spec(str(spec))


def test_the_compact_form_is_the_long_form_with_its_defaults():
    from pydantic import TypeAdapter

    from archc.spec.models import Layer, parse_compact

    long = TypeAdapter(Layer).validate_python({"type": "external",
                                               "module": "userpkg.layers.Attention"})
    assert parse_compact("external userpkg.layers.Attention") == long
    assert long.channels is None and long.stride == 1 and long.args == {}
