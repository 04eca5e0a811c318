"""The command line as a user meets it: exit statuses, output, JSON, no torch in the compiler."""

import json
import subprocess
import sys

import pytest

from archc.cli import main

from ..conftest import NETWORK_SPECS, ROOT


def test_check_runs_the_bundled_specs_without_importing_torch():
    code = (
        "import sys\n"
        "from archc.cli import main\n"
        f"status = main(['check', *{[str(p) for p in NETWORK_SPECS]!r}])\n"
        "assert 'torch' not in sys.modules, 'the compiler imported torch'\n"
        "sys.exit(status)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("smallest input  ") == len(NETWORK_SPECS)
    # docs/reference.md: the smallest square input all three networks of the paper accept is 75x75.
    assert result.stdout.count("smallest input  75 x 75") >= 3


def test_json_report_has_stages_totals_and_smallest_input(capsys):
    assert main(["check", "--json", str(ROOT / "specs/inception_v4.yaml")]) == 0
    report = json.loads(capsys.readouterr().out)
    (network,) = report["networks"]
    assert network["name"] == "inception_v4"
    assert network["input"] == [3, 299, 299]
    assert network["total"]["params"] == 42_679_816  # docs/reference.md
    assert network["smallest_input"] == 75
    assert sum(s["params"] for s in network["stages"]) == network["total"]["params"]
    assert network["stages"][0] == {
        "name": "features.0", "layer": "conv 3x3 32 /2 V", "output": [32, 149, 149],
        # 3*3*3*32 weights + BN weight and bias; MACs = weights * 149 * 149; 32*149*149 values
        "params": 864 + 64, "macs": 864 * 149 * 149, "activations": 32 * 149 * 149,
    }


def test_table_names_its_units(capsys):
    assert main(["check", str(ROOT / "specs/inception_resnet_v2.yaml")]) == 0
    out = capsys.readouterr().out
    assert "parameters   55,843,464 (55.84 M)" in out
    assert "G multiply-accumulates" in out
    assert "output (C x H x W)" in out


def test_a_bad_spec_among_good_ones_reports_and_fails(capsys, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: net\ninput: {size: 32}\nlayers:\n  - c1: conv 3x3 0\n")
    status = main(["check", str(ROOT / "specs/inception_v4.yaml"), str(bad)])
    out, err = capsys.readouterr()
    assert status == 1
    assert "inception_v4" in out  # the good spec is still reported
    assert err.startswith(f"{bad}:4:9: error[E204]: ")


def test_missing_file_is_a_located_error_not_a_traceback(capsys):
    assert main(["check", "no/such/spec.yaml"]) == 1
    assert capsys.readouterr().err == "no/such/spec.yaml: error[E101]: no such file\n"


def test_without_specs_the_bundled_ones_their_variants_and_the_zoo_are_used(chdir_root, capsys):
    assert main(["build", "--check"]) == 0
    assert main(["check"]) == 0
    variants = list((ROOT / "specs" / "variants").glob("*.yaml"))
    zoo = list((ROOT / "specs" / "zoo").glob("*.yaml"))
    assert variants and zoo
    assert capsys.readouterr().out.count("smallest input  ") == \
        len(NETWORK_SPECS) + len(variants) + len(zoo)


@pytest.mark.parametrize("argv", [[], ["frobnicate"], ["check", "--bogus", "x.yaml"]])
def test_usage_mistakes_exit_2(argv):
    with pytest.raises(SystemExit) as raised:
        main(argv)
    assert raised.value.code == 2


def test_console_script_exit_status(tmp_path):
    archc = ROOT / ".venv" / "bin" / "archc"
    if not archc.exists():
        pytest.skip("no console script in .venv")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [\n")
    result = subprocess.run([archc, "check", bad], capture_output=True, text=True)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith(f"{bad}:")


def test_layers_of_each_block_add_up_to_its_stage(capsys):
    assert main(["check", "--json", "--layers", str(ROOT / "specs/inception_v4.yaml")]) == 0
    stages = {s["name"]: s for s in json.loads(capsys.readouterr().out)["networks"][0]["stages"]}
    reduction_a = stages["features.10"]
    branch0 = reduction_a["layers"][0]
    # Reduction-A's n = 384 filters, 3x3/2 V over Inception-A's 384 channels: 35 -> 17
    assert (branch0["name"], branch0["layer"], branch0["output"]) == \
        ("branch0", "conv 3x3 n /2 V", [384, 17, 17])
    assert branch0["params"] == 3 * 3 * 384 * 384 + 2 * 384
    for stage in stages.values():
        if "layers" in stage:
            first, _, last = stage["name"].rsplit(".", 1)[-1].partition("-")  # "6-9": 4 repeats
            repeats = int(last) - int(first) + 1 if last else 1
            assert sum(layer["params"] for layer in stage["layers"]) * repeats == stage["params"]


def test_without_specs_and_no_specs_folder_is_a_usage_error(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as raised:
        main(["check"])
    assert raised.value.code == 2
    assert "no SPEC given and no specs/*.yaml here" in capsys.readouterr().err


def test_python_dash_m_archc_is_the_command(tmp_path):
    """`python -m archc`, which `torchrun ... -m archc train` runs in each process."""
    result = subprocess.run([sys.executable, "-m", "archc", "check",
                             str(ROOT / "specs/inception_v4.yaml")],
                            capture_output=True, text=True)
    assert result.returncode == 0 and "42,679,816" in result.stdout, result.stderr
