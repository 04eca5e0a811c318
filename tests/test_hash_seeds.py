"""Output is the same bytes under any PYTHONHASHSEED: each case runs the command in a fresh
interpreter, so these live outside the unit tier (moved from tests/unit/test_build.py and
tests/unit/test_render.py, whose helpers they use)."""

import os
import subprocess
import sys

import pytest

from archc.backends.graphviz import figures

from .conftest import NETWORK_SPECS, ROOT
from .unit.test_build import GENERATED, SPEC_ARGS
from .unit.test_render import ALL_FIGURES, EXPECTED_FILES, _cli, _files, network


@pytest.mark.parametrize("seed", ["0", "1", "42", "12345", "random"])
def test_output_is_the_same_bytes_under_any_hash_seed(tmp_path, seed):
    env = dict(os.environ, PYTHONHASHSEED=seed)
    subprocess.run([sys.executable, "-m", "archc.cli", "build", "-o", str(tmp_path), *SPEC_ARGS],
                   cwd=ROOT, env=env, check=True, capture_output=True)
    for spec in NETWORK_SPECS:
        name = f"{spec.stem}.py"
        assert (tmp_path / name).read_bytes() == (GENERATED / name).read_bytes()


def test_dot_source_is_identical_across_hash_seeds(tmp_path):
    outputs = []
    for seed in ("0", "4242"):
        folder = tmp_path / seed
        folder.mkdir()
        env = {**os.environ, "PYTHONHASHSEED": seed}
        result = _cli(["specs/inception_v4.yaml", "specs/inception_resnet_v1.yaml",
                       "specs/inception_resnet_v2.yaml", "--format", "dot", "-o", str(folder)],
                      env)
        assert result.returncode == 0, result.stderr
        outputs.append(_files(folder))
    assert sorted(outputs[0]) == EXPECTED_FILES
    assert outputs[0] == outputs[1]
    # and the CLI writes what figures() gives
    for path, _ in ALL_FIGURES:
        for stem, graph in figures(network(path)).items():
            assert outputs[0][f"{path.stem}-{stem}.dot"].decode() == graph.source
