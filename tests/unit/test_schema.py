"""`archc schema` is a JSON Schema that accepts the real specs and rejects broken ones."""

import json

import jsonschema
import pytest
import yaml

from archc.cli import main

from ..conftest import FIXTURES, NETWORK_SPECS, SPECS


@pytest.fixture(scope="module")
def validator():
    from archc.spec.models import json_schema

    schema = json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_cli_prints_the_schema(capsys):
    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema["title"] == "archc spec"


VALID_FILES = NETWORK_SPECS + [SPECS / "common/reduction_a.yaml",
                               FIXTURES / "paper/inception_resnet_v2_as_drawn.yaml"]


@pytest.mark.parametrize("path", VALID_FILES, ids=lambda p: p.name)
def test_bundled_specs_validate(validator, path):
    errors = list(validator.iter_errors(yaml.safe_load(path.read_text())))
    assert errors == []


@pytest.mark.parametrize("mistake", [
    {"input": {"size": 299, "chanels": 3}},  # misspelt key
    {"input": {"size": 0}},  # out of range
    {"num_classes": "many"},  # wrong type
    {"layers": [{"c1": {"type": "conv", "kernel": "3by3", "filters": 8}}]},  # bad kernel
    {"layers": [{"c1": {"type": "convolution", "kernel": 3, "filters": 8}}]},  # unknown type
    {"layers": []},  # empty body
    {"settings": {"avgpool": {"count_pad": "yes"}}},
])
def test_schema_rejects_mistakes(validator, mistake):
    spec = {"name": "net", "input": {"size": 32}, "layers": [{"c1": "conv 3x3 8"}]}
    spec.update(mistake)
    assert list(validator.iter_errors(spec)) != []
