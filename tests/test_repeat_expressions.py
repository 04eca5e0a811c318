"""Repeat counts written as expressions of a block's parameters (`depth x Block`,
`(depth - 1) x Block`): a stage is one block whose depth is an argument, as torchvision's
`_make_layer(block, planes, blocks, stride)` makes one. The generated class takes the depth as a
constructor argument; the model is a hand-written module's; what only an instance can know is
refused where the spec needs it known."""

from __future__ import annotations

import pytest

from archc import compile_spec
from archc.cli import main
from archc.diff import CARRIED, NEW, compare
from archc.ir.cost import summary

SPEC = """\
name: staged
input: {size: 16}
num_classes: 5
settings:
  batchnorm: {eps: 1e-5, momentum: 0.1}
blocks:
  Basic:
    params: [width, stride]
    defaults: {stride: 1}
    residual:
      shortcut:
        when: stride != 1 or in != width
        layers:
          - downsample: [conv 1x1 width /stride nobn noact, bn]
    layers:
      - conv1: conv 3x3 width /stride nobn noact
      - bn1: bn
      - relu: relu
      - conv2: conv 3x3 width nobn noact
      - bn2: bn
  Stage:
    params: [width, depth, stride]
    defaults: {stride: 1}
    layers:
      - blocks:
          - Basic(width=width, stride=stride)
          - (depth - 1) x Basic(width=width)
  Uniform:
    params: [width, depth]
    layers:
      - blocks: depth x Basic(width=width)
layers:
  - stem: conv 3x3 8 nobn noact
  - layer1: Stage(width=8, depth=2)
  - layer2: Stage(width=16, depth=3, stride=2)
  - layer3: Stage(width=24, depth=1, stride=2)
  - layer4: Uniform(width=32, depth=2)
head:
  - pool: avgpool global
  - fc: linear num_classes
"""


def write(tmp_path, text=SPEC, name="net.yaml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _reference():
    """The network as torchvision's ResNet writes it: a stage is its first block, with the
    stride, then depth - 1 blocks."""
    from torch import nn

    from .conftest import basic_block

    Basic = basic_block()

    class Stage(nn.Module):
        def __init__(self, inplanes, planes, depth, stride=1, first=True):
            super().__init__()
            blocks = [Basic(inplanes, planes, stride)] if first else []
            while len(blocks) < depth:
                blocks.append(Basic(planes if blocks else inplanes, planes))
            self.blocks = nn.Sequential(*blocks)

        def forward(self, x):
            return self.blocks(x)

    class Reference(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Conv2d(3, 8, 3, padding=1, bias=False)
            self.layer1 = Stage(8, 8, 2)
            self.layer2 = Stage(8, 16, 3, stride=2)
            self.layer3 = Stage(16, 24, 1, stride=2)
            self.layer4 = Stage(24, 32, 2, first=False)
            self.fc = nn.Linear(32, 5)

        def forward(self, x):
            x = self.layer4(self.layer3(self.layer2(self.layer1(self.stem(x)))))
            return self.fc(x.mean((2, 3)))

    return Reference()


def test_the_model_is_a_hand_written_stage_of_any_depth(tmp_path):
    torch = pytest.importorskip("torch")

    import archc

    from .conftest import randomise_batchnorm

    torch.manual_seed(0)
    reference = _reference().eval()
    model = archc.build_model(str(write(tmp_path))).eval()
    assert set(model.state_dict()) == set(reference.state_dict())
    assert [len(getattr(model, f"layer{i}").blocks) for i in range(1, 5)] == [2, 3, 1, 2]
    randomise_batchnorm(model)
    reference.load_state_dict(model.state_dict(), strict=True)
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        out = model(x)
        assert not torch.allclose(out, model(torch.randn(2, 3, 16, 16)))  # it reads the input
        torch.testing.assert_close(out, reference(x), rtol=0, atol=1e-5)
        deploy = archc.build_model(str(write(tmp_path)), deploy=True)
        deploy.load_trained(model.state_dict())
        torch.testing.assert_close(deploy(x), out, rtol=1e-4, atol=1e-4)
    params = sum(p.numel() for p in reference.parameters())
    report = summary(compile_spec(str(write(tmp_path))), layers=True)
    assert report["total"]["params"] == params
    # layer3's one block: its repeat of depth - 1 = 0 has no row, as it has no module
    layer3 = next(row for row in report["stages"] if row["name"] == "layer3")
    assert [row["name"] for row in layer3["layers"]] == ["blocks.0"]


def test_the_generated_class_takes_the_depth(tmp_path):
    """The count is code, not unrolled: the class builds a stage of any depth, as
    torchvision's _make_layer does."""
    torch = pytest.importorskip("torch")

    from archc.backends.torch import generate

    source = generate(compile_spec(str(write(tmp_path))))
    assert "*[Basic(width, width=width) for _ in range(depth - 1)]" in source
    namespace: dict = {}
    exec(compile(source, "staged.py", "exec"), namespace)  # noqa: S102 (archc's own output)
    stage = namespace["Stage"](8, width=16, depth=5, stride=2)
    assert len(stage.blocks) == 5
    assert stage.blocks[0].downsample is not None and stage.blocks[1].downsample is None
    assert stage(torch.randn(1, 8, 8, 8)).shape == (1, 16, 4, 4)


def test_diff_sees_a_deeper_stage_as_new_blocks(tmp_path):
    base = compile_spec(str(write(tmp_path)))
    deeper = compile_spec(str(write(tmp_path, SPEC.replace("Stage(width=16, depth=3, stride=2)",
                                                           "Stage(width=16, depth=4, stride=2)"),
                                    "deeper.yaml")))
    status = {change.name: change.status for change in compare(base, deeper).changes}
    assert status["layer2.blocks.3.conv1.weight"] == NEW
    assert status["layer2.blocks.2.conv1.weight"] == CARRIED
    assert status["layer4.blocks.1.bn2.running_var"] == CARRIED


def test_its_figure_writes_the_count(tmp_path):
    pytest.importorskip("graphviz")
    from archc.backends.graphviz import figures

    drawn = figures(compile_spec(str(write(tmp_path))))
    assert "(depth - 1) x Basic" in drawn["Stage"].source
    assert "depth x Basic" in drawn["Uniform"].source


CHANGES = [
    ("          - (depth - 1) x Basic(width=width)\n",
     "          - (depth - 1) x Basic(width=width)\n          - Basic(width=width)\n",
     ["net.yaml:27:13: error[E417]: `(depth - 1) x Basic` has as many members as an instance "
      "gives it, so no step can follow it in `blocks`: make it the group's last step, or give "
      "the repeat a name of its own (`blocks: depth x Block`) (blocks.Stage.layers[0].blocks[1])"]),
    ("(depth - 1) x Basic", "in x Basic",
     ["net.yaml:27:13: error[E417]: the repeat count `in x Basic` reads `in`, the input's "
      "channels: a count is a number or an expression of the parameters "
      "(blocks.Stage.layers[0].blocks[1].repeat)"]),
    ("(depth - 1) x Basic", "(depth - 2) x Basic",
     # (layer3's depth 1; layer1's depth 2 repeats it 0 times, which keeps the channels)
     ["net.yaml:27:13: error[E506]: the repeat count is `depth - 2` = -1 (depth = 1), which "
      "must be a whole number >= 0 (blocks.Stage.layers[0].blocks[1])"]),
    # layer3 is one block deep: none repeated, where the repeat would double the channels
    ("(depth - 1) x Basic(width=width)", "(depth - 1) x Basic(width=2*width)",
     ["net.yaml:27:13: error[E506]: `(depth - 1) x Basic(width=2 * width, stride=1)` repeats 0 "
      "times here (depth = 1), but `Basic` changes the channels (24 -> 48), which generated "
      "code takes as the output: repeat it at least once (blocks.Stage.layers[0].blocks[1])"]),
    ("  - layer4: Uniform(width=32, depth=2)", "  - layer4: [depth x Basic(width=32)]",
     ["net.yaml:37:14: error[E417]: the repeat count `depth x Basic` is an expression outside "
      "a block definition, where no parameter gives it a value: write a number "
      "(layers[4].layer4[0].repeat)"]),
    ("(depth - 1) x Basic", "(d - 1) x Basic",
     ["net.yaml:27:13: error[E401]: unknown parameter `d` (parameters here: `width`, `depth`, "
      "`stride`) (blocks.Stage.layers[0].blocks[1].repeat)"]),
]


@pytest.mark.parametrize("old,new,errors", CHANGES)
def test_a_count_is_refused_where_it_is_written(tmp_path, capsys, monkeypatch, old, new, errors):
    monkeypatch.chdir(tmp_path)
    assert old in SPEC
    write(tmp_path, SPEC.replace(old, new))
    assert main(["check", "net.yaml"]) == 1
    assert capsys.readouterr().err.splitlines() == errors


def test_a_count_whose_channels_grow_each_repeat_is_refused(tmp_path, capsys, monkeypatch):
    """DenseNet's layers add channels each time: generated code cannot write the channels after
    a count it does not know, so such a count must be a number."""
    monkeypatch.chdir(tmp_path)
    write(tmp_path, "name: growing\ninput: {size: 8}\nblocks:\n  Grow:\n    layers:\n"
                    "      - conv: conv 1x1 in+4\n  Dense:\n    params: [depth]\n    layers:\n"
                    "      - layers: depth x Grow\nlayers:\n  - stem: conv 3x3 8\n"
                    "  - dense: Dense(depth=3)\n")
    assert main(["check", "net.yaml"]) == 1
    assert capsys.readouterr().err.splitlines() == [
        "net.yaml:10:17: error[E508]: the channels after `depth x Grow` grow with each repeat, "
        "so generated code cannot write them for a count that only an instance knows: write "
        "the count as a number (blocks.Dense.layers[0].layers)"]


def test_the_layer_bound_counts_the_repeats_an_argument_asks_for(tmp_path, capsys, monkeypatch):
    """A count is bounded before any shape is inferred: 900 x 900 one-conv blocks are refused
    without building them."""
    monkeypatch.chdir(tmp_path)
    write(tmp_path, "name: deep\ninput: {size: 8}\nblocks:\n  Unit:\n    layers:\n"
                    "      - conv: conv 3x3 8\n  Stage:\n    params: [depth]\n    layers:\n"
                    "      - units: depth x Unit\n  Net:\n    params: [depth]\n    layers:\n"
                    "      - stages: depth x Stage(depth=depth)\nlayers:\n"
                    "  - net: Net(depth=900)\n")
    assert main(["check", "net.yaml"]) == 1
    assert capsys.readouterr().err.splitlines() == [
        "net.yaml:16:10: error[E508]: the network would have 810,000 layers, more than archc's "
        "bound of 100,000 (the largest stage is `net`) (layers[0].net)"]


# A block whose layers are all unnamed is an nn.Sequential: a stage keeps torchvision's names
# (`layer1.0.conv1`, not `layer1.blocks.0.conv1`).
SEQUENTIAL = SPEC.replace("""    layers:
      - blocks:
          - Basic(width=width, stride=stride)
          - (depth - 1) x Basic(width=width)
""", """    layers:
      - Basic(width=width, stride=stride)
      - (depth - 1) x Basic(width=width)
""").replace("      - blocks: depth x Basic(width=width)\n", "      - depth x Basic(width=width)\n")


def test_a_block_of_unnamed_layers_is_an_nn_sequential_with_torchvisions_names(tmp_path):
    torch = pytest.importorskip("torch")
    from torch import nn

    import archc

    from .conftest import basic_block, randomise_batchnorm

    Basic = basic_block()

    def make_layer(inplanes, planes, depth, stride=1, first=True):  # torchvision's _make_layer
        layers = [Basic(inplanes, planes, stride)] if first else []
        while len(layers) < depth:
            layers.append(Basic(planes if layers else inplanes, planes))
        return nn.Sequential(*layers)

    class Reference(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Conv2d(3, 8, 3, padding=1, bias=False)
            self.layer1 = make_layer(8, 8, 2)
            self.layer2 = make_layer(8, 16, 3, stride=2)
            self.layer3 = make_layer(16, 24, 1, stride=2)
            self.layer4 = make_layer(24, 32, 2, first=False)
            self.fc = nn.Linear(32, 5)

        def forward(self, x):
            x = self.layer4(self.layer3(self.layer2(self.layer1(self.stem(x)))))
            return self.fc(x.mean((2, 3)))

    torch.manual_seed(0)
    reference = Reference().eval()
    model = archc.build_model(str(write(tmp_path, SEQUENTIAL))).eval()
    assert isinstance(model.layer1, nn.Sequential) and len(model.layer2) == 3
    assert set(model.state_dict()) == set(reference.state_dict())
    randomise_batchnorm(model)
    reference.load_state_dict(model.state_dict(), strict=True)
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        out = model(x)
        assert not torch.allclose(out, model(torch.randn(2, 3, 16, 16)))
        torch.testing.assert_close(out, reference(x), rtol=0, atol=1e-5)
        deploy = archc.build_model(str(write(tmp_path, SEQUENTIAL)), deploy=True)
        deploy.load_trained(model.state_dict())
        torch.testing.assert_close(deploy(x), out, rtol=1e-4, atol=1e-4)


def test_deploy_numbers_a_sequential_block_again_after_folding(tmp_path):
    """BatchNorms folded and ReLUs joined leave gaps in the block's numbering: the deploy
    module numbers its members from 0 and loads each from its trained number."""
    torch = pytest.importorskip("torch")
    from torch import nn

    import archc

    from .conftest import randomise_batchnorm

    spec = write(tmp_path, "name: units\ninput: {size: 8}\nnum_classes: 3\nsettings:\n"
                           "  batchnorm: {eps: 1e-5, momentum: 0.1}\nblocks:\n  Unit:\n"
                           "    layers:\n      - conv 3x3 8 nobn noact\n      - bn\n      - relu\n"
                           "      - dropout 0.2\n      - conv 1x1 8 nobn noact\n      - bn\n"
                           "layers:\n  - stem: conv 3x3 8 nobn noact\n  - units: 2 x Unit\n"
                           "head:\n  - pool: avgpool global\n  - fc: linear num_classes\n")

    def unit():
        return nn.Sequential(nn.Conv2d(8, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8),
                             nn.ReLU(), nn.Dropout(0.2), nn.Conv2d(8, 8, 1, bias=False),
                             nn.BatchNorm2d(8))

    reference = nn.ModuleDict({"stem": nn.Conv2d(3, 8, 3, padding=1, bias=False),
                               "units": nn.Sequential(unit(), unit()),
                               "fc": nn.Linear(8, 3)}).eval()
    model = archc.build_model(str(spec)).eval()
    randomise_batchnorm(model)
    reference.load_state_dict(model.state_dict(), strict=True)  # torchvision-style names
    deploy = archc.build_model(str(spec), deploy=True)
    deploy.load_trained(model.state_dict())
    assert [type(m).__name__ for m in deploy.units[0]] == ["ConvReLU", "Dropout", "Conv"]
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        out = model(x)
        assert not torch.allclose(out, model(torch.randn(2, 3, 8, 8)))
        expected = reference["fc"](reference["units"](reference["stem"](x)).mean((2, 3)))
        torch.testing.assert_close(out, expected, rtol=0, atol=1e-5)
        torch.testing.assert_close(deploy(x), out, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("block,error", [
    ("  Unit:\n    residual: {}\n    layers:\n      - conv 3x3 8\n",
     "net.yaml:5:15: error[E418]: a block of unnamed layers is an nn.Sequential, which runs them "
     "one after another: a residual sum or a gate needs named layers (`- conv: ...`) "
     "(blocks.Unit)"),
    ("  Unit:\n    layers:\n      - conv 3x3 8\n      - channels 0:4\n",
     "net.yaml:7:9: error[E415]: channels 0:4 has no module, so it cannot be a member of the "
     "nn.Sequential that block `Unit` is: give it a name of its own before the group "
     "(blocks.Unit.layers[1])"),
])
def test_a_sequential_block_is_refused_what_it_cannot_run(tmp_path, capsys, monkeypatch, block,
                                                          error):
    monkeypatch.chdir(tmp_path)
    write(tmp_path, "name: units\ninput: {size: 8}\nblocks:\n" + block +
                    "layers:\n  - stem: conv 3x3 8\n  - unit: Unit\n")
    assert main(["check", "net.yaml"]) == 1
    assert capsys.readouterr().err.splitlines() == [error]
