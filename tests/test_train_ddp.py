"""`archc train` under torchrun with two processes on the CPU (gloo): both end with the same
parameters, only rank 0 writes, and the result is that of one process with the same global
batch. The spec has no BatchNorm, whose statistics would be each process's half batch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("torchvision")

from archc.train import train  # noqa: E402

from .shapes import make_folder  # noqa: E402
from .test_train import TINY  # noqa: E402

PLAIN = TINY.replace("num_classes: 3\n", "num_classes: 3\nsettings: {conv: {norm: none, "
                                                          "bias: true}}\n")
OPTIONS = ["--epochs", "2", "--batch-size", "8", "--workers", "0", "--min-crop", "0.5",
           "--lr", "0.01", "--no-progress"]

# Runs `archc train` (archc.cli.main) in each process. Rank 1 records every file it opens for
# writing, creates, renames or saves under the run folder; each rank keeps its final parameters
# beside the run folder (the test's writing, not archc's).
SCRIPT = textwrap.dedent("""\
    import builtins, json, os, sys
    from pathlib import Path
    import torch
    import archc.train
    from archc.cli import main

    rank = int(os.environ["RANK"])
    spec, data, run, keep = sys.argv[1:5]
    options = sys.argv[5:]
    inside = str(Path(run).resolve())
    writes = []

    def watch(module, name, is_write):
        real = getattr(module, name)
        def wrapper(*args, **kwargs):
            path = args[1 if name == "save" else 0] if args else None
            if isinstance(path, (str, os.PathLike)) and is_write(args, kwargs) \\
                    and str(Path(path).resolve()).startswith(inside):
                writes.append(f"{name} {path}")
            return real(*args, **kwargs)
        setattr(module, name, wrapper)

    if rank != 0:
        mode = lambda args, kwargs: any(c in (args[1] if len(args) > 1 else kwargs.get(
            "mode", "r")) for c in "wax+")
        flags = lambda args, kwargs: bool((args[1] if len(args) > 1 else kwargs["flags"])
                                          & (os.O_WRONLY | os.O_RDWR | os.O_CREAT))
        watch(builtins, "open", mode)
        watch(os, "open", flags)
        for name in ("replace", "rename", "mkdir", "makedirs"):
            watch(os, name, lambda args, kwargs: True)
        watch(torch, "save", lambda args, kwargs: True)

    trained = {}
    real_train = archc.train.train
    def keep_model(*args, **kwargs):
        result = real_train(*args, **kwargs)
        trained["model"] = result.model
        return result
    archc.train.train = keep_model

    status = main(["train", spec, "--data", data, "--out", run, *options])
    torch.save({k: v.detach() for k, v in trained["model"].state_dict().items()},
               os.path.join(keep, f"rank{rank}.pt"))
    with open(os.path.join(keep, f"rank{rank}.json"), "w") as f:
        json.dump({"status": status, "writes": writes}, f)
    sys.exit(status)
    """)


@pytest.mark.slow
def test_two_processes_equal_one_with_their_global_batch(tmp_path):
    data = make_folder(tmp_path / "data")
    spec = tmp_path / "plain.yaml"
    spec.write_text(PLAIN, encoding="utf-8")
    script = tmp_path / "run_rank.py"
    script.write_text(SCRIPT, encoding="utf-8")
    keep = tmp_path / "keep"
    keep.mkdir()
    run = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         str(script), str(spec), str(data), str(run), str(keep), *OPTIONS],
        capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]

    reports = [json.loads((keep / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [r["status"] for r in reports] == [0, 0]
    assert reports[1]["writes"] == []
    assert sorted(p.name for p in run.iterdir()) == ["checkpoint.pt", "metrics.csv"]
    epochs = [line for line in result.stdout.splitlines() if line.startswith("epoch ")]
    assert [line.split(":")[0] for line in epochs] == ["epoch 1/2", "epoch 2/2"]

    ranks = [torch.load(keep / f"rank{r}.pt", weights_only=True) for r in (0, 1)]
    assert all(torch.equal(ranks[0][k], ranks[1][k]) for k in ranks[0])
    saved = torch.load(run / "checkpoint.pt", weights_only=True)["model"]
    assert all(torch.equal(saved[k], ranks[0][k]) for k in ranks[0])

    one = train(str(spec), data=str(data), out=str(tmp_path / "one"), epochs=2, batch_size=8,
                workers=0, min_crop=0.5, lr=0.01, progress=False).model.state_dict()
    for name, value in one.items():
        assert torch.allclose(ranks[0][name], value, rtol=1e-4, atol=1e-5), name
    moved = [n for n, v in one.items() if v.is_floating_point()
             and not torch.allclose(v, _initial(spec)[n])]
    assert moved, "training changed no parameter: the comparison would prove nothing"


def _initial(spec) -> dict:
    import archc

    torch.manual_seed(0)  # archc train's default seed, before it builds the model
    return archc.build_model(spec).state_dict()
