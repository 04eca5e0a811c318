"""archc train and archc plot: learning on a tiny image folder made here, exact resumption,
refusals of checkpoints and options that do not fit, weight transfer at the start, synthetic
data, and the curves. The multi-process run is in test_train_ddp.py."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("torchvision")

from archc import train as training  # noqa: E402
from archc.cli import main  # noqa: E402

from .shapes import CLASSES, make_folder  # noqa: E402

TINY = """\
name: tiny_resnet
input: {size: 32}
num_classes: 3
blocks:
  Block:
    params: [scale]
    residual: {scale: scale, activation: relu}
    layers:
      - concat:
          branch0: conv 1x1 16
          branch1: [conv 1x1 16, conv 3x3 16]
      - conv2d: conv 1x1 in linear
layers:
  - stem: conv 3x3 32 /2
  - repeat: 2 x Block(scale=0.2)
  - pool: avgpool global
head:
  - fc: linear num_classes
"""
FAST = ["--batch-size", "16", "--workers", "0", "--min-crop", "0.5", "--lr", "0.01",
        "--no-progress"]


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return make_folder(tmp_path_factory.mktemp("shapes"))


@pytest.fixture
def spec(tmp_path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY, encoding="utf-8")
    return path


def metrics(run: Path) -> list[dict[str, str]]:
    with open(run / "metrics.csv", newline="") as f:
        return list(csv.DictReader(f))


def weights(run: Path) -> dict[str, torch.Tensor]:
    return torch.load(run / "checkpoint.pt", weights_only=True)["model"]


@pytest.mark.slow
def test_a_small_spec_learns_the_shapes(spec, data, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", str(spec), "--data", str(data), "--epochs", "6", "--out", str(run),
                 *FAST]) == 0
    rows = metrics(run)
    assert [int(r["epoch"]) for r in rows] == list(range(1, 7))
    chance = 1 / len(CLASSES)
    assert float(rows[-1]["val_top1"]) >= 0.8 > 2 * chance
    assert float(rows[-1]["train_loss"]) < float(rows[0]["train_loss"])
    # the step schedule: 0.94 every two epochs, from --lr
    assert [float(r["lr"]) for r in rows] == pytest.approx([0.01 * 0.94 ** (e // 2)
                                                            for e in range(6)])
    out = capsys.readouterr().out.splitlines()
    assert out[-1].startswith("epoch 6/6: train loss ") and "val loss" in out[-1]


@pytest.mark.slow
def test_resume_after_an_interruption_gives_the_uninterrupted_weights(spec, data, tmp_path,
                                                                      monkeypatch, capsys):
    common = ["train", str(spec), "--data", str(data), "--epochs", "3", *FAST]
    whole, broken = tmp_path / "whole", tmp_path / "broken"
    assert main([*common, "--out", str(whole)]) == 0

    real, saved = training.write_all, []

    def interrupt_after_two_epochs(files, inputs):
        real(files, inputs)
        saved.append(files)
        if len(saved) == 2:
            raise KeyboardInterrupt
    monkeypatch.setattr(training, "write_all", interrupt_after_two_epochs)
    assert main([*common, "--out", str(broken)]) == 130
    assert "continue with --resume" in capsys.readouterr().err
    monkeypatch.setattr(training, "write_all", real)
    assert len(metrics(broken)) == 2

    assert main(["train", str(spec), "--resume", "--out", str(broken), "--no-progress"]) == 0
    expected, got = weights(whole), weights(broken)
    assert expected.keys() == got.keys()
    assert all(torch.equal(expected[k], got[k]) for k in expected)
    def results(run):  # the metrics without the timings
        return [{k: v for k, v in row.items() if k not in ("images_per_s", "seconds")}
                for row in metrics(run)]
    assert results(broken) == results(whole)


@pytest.mark.slow
def test_a_checkpoint_of_another_spec_is_refused_with_the_diff(spec, data, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", str(spec), "--data", str(data), "--epochs", "1", "--out", str(run),
                 *FAST]) == 0
    wider = tmp_path / "wider.yaml"
    wider.write_text(TINY.replace("branch0: conv 1x1 16", "branch0: conv 1x1 24"))
    before = (run / "checkpoint.pt").read_bytes()
    capsys.readouterr()
    assert main(["train", str(wider), "--resume", "--out", str(run), "--epochs", "2"]) == 1
    out, err = capsys.readouterr()
    assert len(err.splitlines()) == 1 and "error[E804]" in err and "tiny_resnet" in err
    # branch0 is wider, so the block's last conv reads more channels: both change shape
    out = out.splitlines()
    assert out[0] == "state_dict: 48 tensors in A, 48 in B"
    assert any(line.split()[:2] == ["shape", "changed"] and "repeat.*.branch0.*" in line
               and "repeat.*.conv2d.*" in line for line in out)
    assert (run / "checkpoint.pt").read_bytes() == before


def test_a_copy_of_the_spec_with_comments_resumes(spec, data, tmp_path):
    run = tmp_path / "run"
    assert main(["train", str(spec), "--data", str(data), "--epochs", "1", "--out", str(run),
                 *FAST]) == 0
    copy = tmp_path / "elsewhere" / "copy.yaml"
    copy.parent.mkdir()
    copy.write_text("# moved and commented\n" + TINY)
    assert main(["train", str(copy), "--resume", "--out", str(run), "--epochs", "2",
                 "--no-progress"]) == 0
    assert len(metrics(run)) == 2


def test_init_from_carries_what_keeps_its_meaning(spec, data, tmp_path, capsys):
    first = tmp_path / "first"
    assert main(["train", str(spec), "--data", str(data), "--epochs", "1", "--out", str(first),
                 *FAST]) == 0
    wider = tmp_path / "wider.yaml"
    wider.write_text(TINY.replace("branch0: conv 1x1 16", "branch0: conv 1x1 24"))
    second = tmp_path / "second"
    # a learning rate of 0 leaves the weights as they started
    assert main(["train", str(wider), "--data", str(data), "--epochs", "1", "--out",
                 str(second), "--init-from", str(first / "checkpoint.pt"),
                 *FAST, "--lr", "0"]) == 0
    out = capsys.readouterr().out
    assert "carried 32 of 48 tensors" in out
    old, new = weights(first), weights(second)
    for name in ["stem.conv.weight", "repeat.0.branch1.1.conv.weight", "fc.weight"]:
        assert torch.equal(old[name], new[name]), name
    assert old["repeat.0.branch0.conv.weight"].shape != new["repeat.0.branch0.conv.weight"].shape


def test_synthetic_data_gives_a_throughput(spec, tmp_path):
    run = tmp_path / "run"
    assert main(["train", str(spec), "--synthetic", "--steps", "3", "--epochs", "2",
                 "--batch-size", "4", "--out", str(run), "--no-progress"]) == 0
    rows = metrics(run)
    assert len(rows) == 2 and float(rows[0]["images_per_s"]) > 0
    assert rows[0]["val_top1"] == ""


def errors(args: list[str], capsys) -> list[str]:
    assert main(args) == 1
    return capsys.readouterr().err.splitlines()


def test_data_that_does_not_fit(spec, data, tmp_path, capsys):
    out = ["--out", str(tmp_path / "run"), *FAST]
    missing = tmp_path / "nothing"
    assert errors(["train", str(spec), "--data", str(missing), *out], capsys) == \
        [f"{missing}: error[E801]: the data folder does not exist"]
    half = tmp_path / "half"
    (half / "train" / "a").mkdir(parents=True)
    assert errors(["train", str(spec), "--data", str(half), *out], capsys)[0].startswith(
        f"{half / 'train'}: error[E801]: ")
    ten = tmp_path / "ten.yaml"
    ten.write_text(TINY.replace("num_classes: 3", "num_classes: 10"))
    assert errors(["train", str(ten), "--data", str(data), *out], capsys) == [
        f"{ten}: error[E802]: the data has 3 classes, the network 10: train with "
        "--set num_classes=3"]
    assert not (tmp_path / "run").exists()


def test_an_unreadable_image_is_named(spec, data, tmp_path, capsys):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(data, broken)
    bad = broken / "train" / "disc" / "000.png"
    bad.write_bytes(b"not a png")
    for workers in ("0", "1"):
        err = errors(["train", str(spec), "--data", str(broken), "--out",
                      str(tmp_path / f"run{workers}"), *FAST, "--workers", workers], capsys)
        assert len(err) == 1 and err[0].startswith(f"{bad}: error[E805]: the image cannot be "
                                                   "read"), err


def test_run_folders_and_options_that_do_not_fit(spec, data, tmp_path, capsys):
    run = tmp_path / "run"
    assert errors(["train", str(spec), "--resume", "--out", str(run)], capsys) == \
        [f"{run}: error[E803]: there is no checkpoint.pt here to resume"]
    assert main(["train", str(spec), "--data", str(data), "--epochs", "1", "--out", str(run),
                 *FAST]) == 0
    capsys.readouterr()
    assert errors(["train", str(spec), "--data", str(data), "--out", str(run)], capsys) == \
        [f"{run}: error[E803]: the run folder already holds a checkpoint: continue it with "
         "--resume, or train into another --out"]
    err = errors(["train", str(spec), "--resume", "--out", str(run), "--lr", "0.5"], capsys)
    assert err == [f"{run}: error[E806]: a resumed run keeps its options, and these differ: "
                   "--lr 0.5 (the run's: 0.01); start a new run (another --out) with "
                   "--init-from to change them"]
    assert errors(["train", str(spec), "--data", str(data), "--out", str(tmp_path / "big"),
                   *FAST, "--batch-size", "100"], capsys) == \
        [f"{data}: error[E806]: 72 training images do not fill one batch of 100: lower "
         "--batch-size"]


def test_run_folders_that_cannot_be_written_or_read(spec, tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("notes\n")
    for out in (blocker, blocker / "run"):
        assert errors(["train", str(spec), "--synthetic", "--out", str(out)], capsys) == \
            [f"{blocker}: error[E803]: the run folder cannot be made: this is not a folder"]
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    torch.save({"format": training.FORMAT, "model": {}}, damaged / "checkpoint.pt")
    err = errors(["train", str(spec), "--resume", "--out", str(damaged)], capsys)
    assert err == [f"{damaged / 'checkpoint.pt'}: error[E803]: a damaged checkpoint: it has no "
                   "fingerprint, spec, options, epoch, optimizer, scheduler, scaler, rng, history"]
    (damaged / "checkpoint.pt").write_bytes(b"not a checkpoint")
    err = errors(["train", str(spec), "--resume", "--out", str(damaged)], capsys)
    assert len(err) == 1 and "error[E701]" in err[0]


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_training_on_a_gpu_in_bfloat16(spec, data, tmp_path):
    run = tmp_path / "run"
    result = training.train(str(spec), data=str(data), epochs=6, out=str(run), batch_size=16,
                            workers=2, min_crop=0.5, lr=0.01, progress=False)
    assert next(result.model.parameters()).is_cuda
    assert result.history[-1]["val_top1"] >= 0.8
    assert main(["train", str(spec), "--synthetic", "--steps", "3", "--epochs", "1", "--out",
                 str(tmp_path / "compiled"), "--compile", "--no-progress"]) == 0


def test_a_batch_that_cannot_fit_in_memory_is_refused_before_it_is_made(spec, tmp_path,
                                                                         capsys):
    """tiny_resnet's activations (archc check: about 0.08 M values per image at 32 x 32) times
    ten million images is terabytes: refused before anything is allocated, which would get the
    process killed by the operating system rather than an error."""
    err = errors(["train", str(spec), "--synthetic", "--batch-size", "10000000", "--out",
                  str(tmp_path / "run")], capsys)
    assert len(err) == 1 and err[0].startswith(f"{tmp_path / 'run'}: error[E806]: a batch of "
                                               "10000000 images needs about ")
    assert err[0].endswith("GiB of memory are free: lower --batch-size")


def test_a_batch_of_one_is_refused_where_a_batchnorm_sees_one_value(spec, tmp_path, capsys):
    """A BatchNorm in training needs more than one value per channel: at batch 1 a conv unit on
    a 1 x 1 map has one (PyTorch raises a ValueError in the first step); at batch 2 it trains,
    and so does batch 1 on tiny_resnet, whose maps are 16 x 16 (32 after a stride of 2)."""
    one = tmp_path / "one.yaml"
    one.write_text("name: one\ninput: {size: 1}\nnum_classes: 2\nlayers:\n"
                   "  - c: conv 3x3 4\nhead:\n  - p: avgpool global\n"
                   "  - fc: linear num_classes\n")
    args = ["--synthetic", "--steps", "1", "--epochs", "1", "--no-progress"]
    assert errors(["train", str(one), *args, "--batch-size", "1", "--out",
                   str(tmp_path / "a")], capsys) == [
        "--batch-size: error[E806]: a batch of 1 image per process gives the BatchNorm of "
        "layers[0].c one value per channel (a 1 x 1 map), from which it cannot compute "
        "statistics: raise --batch-size"]
    assert main(["train", str(one), *args, "--batch-size", "2", "--out",
                 str(tmp_path / "b")]) == 0
    assert main(["train", str(spec), *args, "--batch-size", "1", "--out",
                 str(tmp_path / "c")]) == 0


def test_one_class_is_refused(spec, data, tmp_path, capsys):
    """With one class the loss is 0 whatever the network predicts, and top-1 is 100%."""
    import shutil

    one = tmp_path / "one"
    for part in ("train", "val"):
        shutil.copytree(data / part / CLASSES[0], one / part / CLASSES[0])
    assert errors(["train", str(spec), "--data", str(one), "--out", str(tmp_path / "a"),
                   *FAST], capsys) == [
        f"{one / 'train'}: error[E801]: one class ({CLASSES[0]}): a classifier learns nothing "
        "from one class (any prediction is right); add another"]
    assert errors(["train", str(spec), "--synthetic", "--set", "num_classes=1", "--out",
                   str(tmp_path / "b")], capsys) == [
        f"{spec}: error[E802]: the network has 1 class: a classifier learns nothing from one "
        "class (any prediction is right); train with --set num_classes=N, N at least 2"]


def test_a_diverging_run_stops_with_a_located_error(spec, data, tmp_path, capsys):
    err = errors(["train", str(spec), "--data", str(data), "--out", str(tmp_path / "run"),
                  *FAST, "--optimizer", "sgd", "--lr", "1e6", "--clip-grad", "none"], capsys)
    assert len(err) == 1 and "error[E807]: the loss became nan" in err[0], err


def test_plot_draws_several_runs(spec, tmp_path, capsys):
    runs = []
    for name in ("a", "b"):
        run = tmp_path / name
        assert main(["train", str(spec), "--synthetic", "--steps", "2", "--epochs", "2",
                     "--batch-size", "4", "--out", str(run), "--no-progress"]) == 0
        runs.append(str(run))
    for suffix, magic in ((".png", b"\x89PNG"), (".svg", b"<?xml"), (".pdf", b"%PDF")):
        figure = tmp_path / f"curves{suffix}"
        assert main(["plot", *runs, "-o", str(figure)]) == 0
        assert figure.read_bytes().startswith(magic)
    again = tmp_path / "again.svg"
    assert main(["plot", *runs, "-o", str(again)]) == 0
    assert again.read_bytes() == (tmp_path / "curves.svg").read_bytes()
    capsys.readouterr()
    assert errors(["plot", str(tmp_path / "nothing")], capsys) == [
        f"{tmp_path / 'nothing'}: error[E808]: no metrics.csv here: not a run folder of archc "
        "train, or no epoch has finished"]


@pytest.mark.parametrize("row, message", [
    ("2,0.045", "a row of 2 cells, not 9"),  # a file cut short
    ("2,0.045,2.0,0.5,1.0,0.5,0.9,10,1,7", "a row of 10 cells, not 9"),
    (",0.045,2.0,0.5,,,,10,1", "a row without epoch"),
    ("2,0.045,2.0,,,,,10,1", "a row without train_top1"),
    ("2,0.045,2.0,0.5,1.0,,,10,1", "a row with some of val_loss, val_top1, val_top5, not all"),
    ("2,0.045,2.0,half,,,,10,1", "a row that is not numbers"),
])
def test_plot_refuses_a_damaged_metrics_file(row, message, tmp_path, capsys):
    """Every row archc train writes has every column but the validation ones, which are all
    empty without validation data (the first row here)."""
    from archc.runs import COLUMNS

    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.csv").write_text(f"{','.join(COLUMNS)}\n1,0.045,2.0,0.5,,,,10,1\n{row}\n")
    assert errors(["plot", str(run), "-o", str(tmp_path / "c.png")], capsys) == [
        f"{run / 'metrics.csv'}:3: error[E808]: {message}"]
    assert not (tmp_path / "c.png").exists()


def test_the_cosine_schedule_and_its_fixed_length(spec, tmp_path, capsys):
    import math

    run = tmp_path / "run"
    assert main(["train", str(spec), "--synthetic", "--steps", "1", "--epochs", "4",
                 "--batch-size", "2", "--optimizer", "sgd", "--schedule", "cosine", "--lr",
                 "0.01", "--out", str(run), "--no-progress"]) == 0
    assert [float(r["lr"]) for r in metrics(run)] == pytest.approx(
        [0.01 * (1 + math.cos(math.pi * e / 4)) / 2 for e in range(4)], rel=1e-5)  # 6 digits
    capsys.readouterr()
    assert main(["train", str(spec), "--resume", "--out", str(run)]) == 0
    assert capsys.readouterr().out.strip() == \
        f"{run}: the run has done its 4 epochs; train it further with --resume --epochs N"
    err = errors(["train", str(spec), "--resume", "--out", str(run), "--epochs", "6"], capsys)
    assert err == [f"{run}: error[E806]: a resumed run keeps its options, and these differ: "
                   "--epochs 6 (the run's: 4, which its cosine schedule ends at); start a new "
                   "run (another --out) with --init-from to change them"]


def test_init_from_a_state_dict_of_another_spec_says_which(spec, tmp_path, capsys):
    other = tmp_path / "other.pth"
    torch.save({"weight": torch.zeros(8, 3, 3, 3)}, other)
    err = errors(["train", str(spec), "--synthetic", "--out", str(tmp_path / "run"),
                  "--init-from", str(other)], capsys)
    assert len(err) == 1 and err[0].startswith(f"{other}: error[E702]: the checkpoint is not "
                                               "a state_dict of tiny_resnet")
    assert err[0].endswith("(name the spec it was trained as with --init-spec)")
    assert not (tmp_path / "run").exists()


def test_weight_decay_leaves_biases_norms_and_layer_scales_alone():
    """timm's and ConvNeXt's recipe: weights decay; biases, norms' weights and the layer
    scales (C x 1 x 1 parameters) do not."""
    model = torch.nn.Module()
    model.conv = torch.nn.Conv2d(3, 8, 3)
    model.norm = torch.nn.LayerNorm(8)
    model.layer_scale = torch.nn.Parameter(torch.full((8, 1, 1), 1e-6))
    model.fc = torch.nn.Linear(8, 4)
    options = training.Options(spec="spec.yaml", weight_decay=0.05, optimizer="sgd")
    groups = training.make_optimizer(options, model).param_groups
    decayed = {id(p) for group in groups if group["weight_decay"] for p in group["params"]}
    assert decayed == {id(model.conv.weight), id(model.fc.weight)}
    assert sum(len(group["params"]) for group in groups) == len(list(model.parameters()))
