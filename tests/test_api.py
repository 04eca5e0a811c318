"""archc.build_model checks its arguments where they come in: a bad one is a TypeError or a
ValueError that says what is allowed, never an error from deep inside torch; and a num_classes
other than the spec's is shape-checked like the spec's own, so a model that builds also runs."""

import dataclasses
import inspect
import textwrap

import pytest

torch = pytest.importorskip("torch")

import archc  # noqa: E402
from archc.errors import SpecError  # noqa: E402
from archc.limits import MAX_CLASSES  # noqa: E402

PLAIN = """
    name: plain
    input: {channels: 3, size: 8}
    num_classes: 4
    layers:
      - conv1: conv 3x3 8
    head: [{pool: avgpool global}, {fc: linear num_classes}]
"""

# The body's widths depend on num_classes: a conv, a block argument, a block's input channels,
# and a head layer before the last linear.
BODY_USES_NUM_CLASSES = """
    name: uses
    input: {channels: 3, size: 8}
    num_classes: 4
    blocks:
      Wide:
        params: [n]
        layers:
          - conv: conv 3x3 n
      Plain:
        layers:
          - conv: conv 3x3 8
    layers:
      - conv1: conv 3x3 num_classes
      - wide: Wide(n=2*num_classes)
      - plain: Plain
    head:
      - pool: avgpool global
      - hidden: linear num_classes
      - fc: linear num_classes
"""

# The residual branch has 4 channels, the block input num_classes: only 4 fits.
RESIDUAL = """
    name: residual
    input: {channels: 3, size: 8}
    num_classes: 4
    blocks:
      Res:
        residual: {scale: 1.0}
        layers:
          - conv: conv 3x3 4
    layers:
      - conv1: conv 3x3 num_classes
      - res: Res
    head: [{pool: avgpool global}, {fc: linear num_classes}]
"""


def write_spec(tmp_path, text, name="net.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip())
    return path


def scores(model, batch=2):
    with torch.no_grad():
        return model.eval()(torch.randn(batch, 3, 8, 8))


# ------------------------------------------------------------------------- the spec argument


def test_a_str_a_path_and_a_network_all_build(tmp_path):
    path = write_spec(tmp_path, PLAIN)
    for argument in (str(path), path, archc.compile_spec(str(path))):
        assert scores(archc.build_model(argument)).shape == (2, 4)


@pytest.mark.parametrize("argument", [None, 3, b"net.yaml", ["net.yaml"]],
                         ids=["None", "int", "bytes", "list"])
def test_other_objects_are_a_type_error(argument):
    with pytest.raises(TypeError, match=r"str or os\.PathLike\), a spec's data \(a mapping\) or "
                                        r"an archc\.ir\.graph\.Network, "
                                        f"not {type(argument).__name__}$"):
        archc.build_model(argument)


def test_a_mapping_that_is_no_spec_is_a_located_spec_error():
    with pytest.raises(SpecError, match=r"^spec.yaml:1:1: error\[E201\]"):
        archc.build_model({"name": "x"})


def test_a_path_like_of_bytes_is_a_type_error():
    class BytesPath:
        def __fspath__(self):
            return b"net.yaml"

    with pytest.raises(TypeError, match="takes a str spec path, not bytes"):
        archc.build_model(BytesPath())


@pytest.mark.parametrize("path", ["", "net\0.yaml"], ids=["empty", "NUL"])
def test_an_empty_path_or_one_with_nul_is_a_value_error(path):
    with pytest.raises(ValueError, match="non-empty and without NUL"):
        archc.build_model(path)


def test_a_spec_that_does_not_compile_is_a_spec_error_with_located_diagnostics(tmp_path):
    path = write_spec(tmp_path, PLAIN.replace("conv 3x3 8", "conv 3x3 8 /2 X"))
    with pytest.raises(SpecError) as caught:
        archc.build_model(path)
    assert str(caught.value) == "\n".join(str(d) for d in caught.value.diagnostics)
    assert str(caught.value).startswith(f"{path}:5:")
    assert "error[E205]" in str(caught.value)


def test_a_missing_file_is_a_spec_error(tmp_path):
    with pytest.raises(SpecError, match="error\\[E101\\]"):
        archc.build_model(tmp_path / "missing.yaml")


# --------------------------------------------------------------------- the num_classes argument


@pytest.mark.parametrize("value", ["10", 2.5, 10.0, True, False, None.__class__, [3]],
                         ids=["str", "float", "whole float", "True", "False", "type", "list"])
def test_num_classes_of_the_wrong_type_is_a_type_error(tmp_path, value):
    path = write_spec(tmp_path, PLAIN)
    with pytest.raises(TypeError, match=f"num_classes must be an int in 0..{MAX_CLASSES}, not "):
        archc.build_model(path, num_classes=value)


@pytest.mark.parametrize("value", [-1, MAX_CLASSES + 1, 10**30])
def test_num_classes_out_of_range_is_a_value_error(tmp_path, value):
    path = write_spec(tmp_path, PLAIN)
    with pytest.raises(ValueError, match=f"num_classes must be in 0..{MAX_CLASSES}, got {value}$"):
        archc.build_model(path, num_classes=value)


def test_num_classes_0_gives_the_pooled_features_as_timm_does(tmp_path):
    path = write_spec(tmp_path, PLAIN)
    model = archc.build_model(path).eval()
    pooled = archc.build_model(path, num_classes=0).eval()
    pooled.load_state_dict({k: v for k, v in model.state_dict().items()
                            if not k.startswith("fc.")}, strict=True)
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(pooled(x), model.forward_features(x).mean((2, 3)))
    assert pooled(x).shape == (2, 8)
    with pytest.raises(ValueError, match="a deploy module keeps its classifier"):
        archc.build_model(path, num_classes=0, deploy=True)
    headless = write_spec(tmp_path, PLAIN.replace(
        "head: [{pool: avgpool global}, {fc: linear num_classes}]",
        "head: [{pool: avgpool adaptive 1x1}, {flat: flatten}, {fc: linear num_classes}]"),
        "other.yaml")
    with pytest.raises(ValueError, match="plain's head is not"):
        archc.build_model(headless, num_classes=0)


# ------------------------------------------------------------------------- specs in memory


def test_a_spec_given_as_data_or_yaml_text_compiles_and_builds(tmp_path):
    data = {"name": "plain", "input": {"size": 8}, "num_classes": 4,
            "layers": [{"conv1": "conv 3x3 8"}],
            "head": [{"pool": "avgpool global"}, {"fc": "linear num_classes"}]}
    text = textwrap.dedent(PLAIN).lstrip()
    on_disk = archc.compile_spec(str(write_spec(tmp_path, PLAIN)))
    from archc.ir.graph import fingerprint

    for network in (archc.compile_spec(data), archc.compile_spec(text=text, name="mine.yaml")):
        assert fingerprint(network) == fingerprint(on_disk)
    assert archc.compile_spec(text=text, name="mine.yaml").source == "mine.yaml"
    assert archc.build_model(data).fc.out_features == 4
    with pytest.raises(SpecError, match=r"^mine.yaml:5:12: error\[E401\]"):
        archc.compile_spec(text=text.replace("conv 3x3 8", "conv 3x3 w"), name="mine.yaml")
    with pytest.raises(SpecError, match="error\\[E308\\]"):  # nothing of the disk
        archc.compile_spec(text="extends: " + str(tmp_path / "net.yaml") + "\nname: b\n")
    with pytest.raises(TypeError, match="one of them"):
        archc.compile_spec(str(tmp_path / "net.yaml"), text=text)
    with pytest.raises(TypeError, match="plain data"):
        archc.compile_spec({**data, "num_classes": object()})


def test_summary_is_check_jsons_report(tmp_path, capsys):
    import json

    from archc.cli import main

    path = write_spec(tmp_path, PLAIN)
    assert main(["check", "--json", str(path)]) == 0
    printed = json.loads(capsys.readouterr().out)["networks"][0]
    assert archc.summary(path) == printed == archc.summary(archc.build_model(path))
    # conv 3x3 8 with BN: 3 x 3 x 3 x 8 weights and 2 x 8 BatchNorm parameters; a linear 8 -> 4
    assert printed["total"]["params"] == 216 + 16 + 8 * 4 + 4
    assert [stage["name"] for stage in printed["stages"]] == ["conv1", "pool", "fc"]


def test_num_classes_is_checked_before_the_spec_is_read(tmp_path):
    with pytest.raises(TypeError, match="num_classes"):
        archc.build_model(tmp_path / "missing.yaml", num_classes="10")


def test_integer_scalars_are_taken_as_ints(tmp_path):
    path = write_spec(tmp_path, PLAIN)
    model = archc.build_model(path, num_classes=torch.tensor(6))
    assert type(model.num_classes) is int
    assert scores(model).shape == (2, 6)


def test_the_bounds_themselves_build(tmp_path):
    path = write_spec(tmp_path, PLAIN)
    assert scores(archc.build_model(path, num_classes=1)).shape == (2, 1)
    assert archc.build_model(path, num_classes=MAX_CLASSES).fc.out_features == MAX_CLASSES


def test_another_num_classes_reaches_the_body_and_the_constructor_default(tmp_path):
    path = write_spec(tmp_path, BODY_USES_NUM_CLASSES)
    model = archc.build_model(path, num_classes=7)
    assert scores(model).shape == (2, 7)
    assert model.conv1.conv.out_channels == 7
    assert model.wide.conv.conv.out_channels == 14
    assert model.plain.conv.conv.in_channels == 14
    assert model.hidden.out_features == 7
    assert model.num_classes == 7
    default = inspect.signature(type(model)).parameters["num_classes"].default
    assert default == 7
    assert type(model.plain).__doc__ == "Block: 14 x 8 x 8 -> 8 x 8 x 8."  # shapes for 7


def test_the_spec_num_classes_by_default(tmp_path):
    path = write_spec(tmp_path, BODY_USES_NUM_CLASSES)
    model = archc.build_model(path)
    assert scores(model).shape == (2, 4)
    assert inspect.signature(type(model)).parameters["num_classes"].default == 4


def test_a_num_classes_that_breaks_a_residual_add_is_a_value_error(tmp_path):
    path = write_spec(tmp_path, RESIDUAL)
    assert scores(archc.build_model(path)).shape == (2, 4)  # the spec's own fits
    network = archc.compile_spec(str(path))
    for argument in (path, network):
        with pytest.raises(ValueError) as caught:
            archc.build_model(argument, num_classes=7)
        message = str(caught.value)
        assert message.startswith(f"num_classes=7 does not fit this spec: {path}:8:")
        assert "error[E503]" in message
        assert isinstance(caught.value.__cause__, SpecError)


def test_an_unchecked_network_is_checked(tmp_path):
    path = write_spec(tmp_path, BODY_USES_NUM_CLASSES)
    network = archc.compile_spec(str(path))
    unchecked = dataclasses.replace(network, shapes=None)
    assert scores(archc.build_model(unchecked)).shape == (2, 4)
    assert scores(archc.build_model(unchecked, num_classes=5)).shape == (2, 5)

