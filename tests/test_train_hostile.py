"""archc train against hostile input, each refused with a located error before any training:
image folders with loops of links or too many files, image files that are not files, damaged
checkpoints, run folders that are links to nothing; and Ctrl-C while loader workers start."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")

from archc import train as training  # noqa: E402
from archc.cli import main  # noqa: E402
from archc.compiler import compile_spec  # noqa: E402

from .shapes import make_folder  # noqa: E402
from .test_train import FAST, TINY, errors  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SYNTHETIC = ["--synthetic", "--steps", "1", "--batch-size", "2", "--no-progress"]


@pytest.fixture
def spec(tmp_path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY, encoding="utf-8")
    return path


@contextmanager
def deadline(seconds: float):
    """Fails the test where the block takes longer: what used to hang."""
    def late(*_):
        pytest.fail(f"still running after {seconds} s")
    previous = signal.signal(signal.SIGALRM, late)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def image_folders(data: Path, spec: Path):
    options = training.Options(spec=str(spec), data=str(data))
    with deadline(30):
        return training._image_folders(options, compile_spec(str(spec)))


# ------------------------------------------------------------------------------ image folders


def test_the_listing_is_torchvisions(spec, tmp_path):
    """Classes, images and their order as torchvision's ImageFolder lists them."""
    data = make_folder(tmp_path / "data", train=2, val=1, size=16)
    disc = data / "train" / "disc"
    for folder in ("b", "b-c", "b/d"):
        (disc / folder).mkdir()
        shutil.copy(disc / "000.png", disc / folder / "x.PNG")
    (disc / "notes.txt").write_text("not an image\n")
    train, _ = image_folders(data, spec)
    reference = torchvision.datasets.ImageFolder(str(data / "train"))
    assert train.classes == reference.classes
    assert train.samples == reference.samples and len(train.samples) == 9


@pytest.mark.parametrize("preparation", ["", ", resize: 40, interpolation: bilinear",
                                         ", resize: 32, interpolation: nearest"])
def test_validation_images_are_prepared_as_torchvision_evaluates_weights(spec, tmp_path,
                                                                         preparation):
    """The spec's input.resize and interpolation (by default 32 / 0.875 = 37 per side,
    bicubic) give the val images torchvision's ImageClassification preset gives them."""
    from torchvision.transforms import InterpolationMode
    from torchvision.transforms._presets import ImageClassification

    from archc.train import _load_image

    spec.write_text(TINY.replace("input: {size: 32}", "input: {size: 32" + preparation + "}"),
                    encoding="utf-8")
    data = make_folder(tmp_path / "data", train=1, val=1, size=48)
    _, val = image_folders(data, spec)
    network = compile_spec(str(spec))
    resize = network.resize or 37  # round(32 / 0.875)
    preset = ImageClassification(crop_size=32, resize_size=resize, mean=network.mean,
                                 std=network.std,
                                 interpolation=InterpolationMode(network.interpolation))
    path, _ = val.samples[0]
    image, _ = val[0]
    torch.testing.assert_close(image, preset(_load_image("RGB", path)), rtol=0, atol=1e-6)
    assert (network.resize, network.interpolation) == {
        "": (None, "bicubic"), ", resize: 40, interpolation: bilinear": (40, "bilinear"),
        ", resize: 32, interpolation: nearest": (32, "nearest")}[preparation]


def test_links_in_an_image_folder_are_followed_once(spec, tmp_path):
    data = make_folder(tmp_path / "data", train=2, val=1, size=16)
    (data / "train" / "disc" / "loop").symlink_to(".")  # os.walk went round 40 times
    (data / "train" / "square" / "one").symlink_to(".")
    (data / "train" / "square" / "two").symlink_to(".")  # 2**40 times: it hung
    more = tmp_path / "more"  # images elsewhere, linked in, with a link back
    more.mkdir()
    for i in range(3):
        shutil.copy(data / "train" / "triangle" / "000.png", more / f"{i}.png")
    (more / "back").symlink_to(data / "train" / "triangle")
    (data / "train" / "triangle" / "more").symlink_to(more)
    train, _ = image_folders(data, spec)
    assert sorted(label for _, label in train.samples) == [0, 0, 1, 1, 2, 2, 2, 2, 2]


def test_a_loop_of_links_does_not_make_a_batch_fit(spec, tmp_path, capsys):
    data = make_folder(tmp_path / "data", train=2, val=1, size=16)
    for shape in ("disc", "square", "triangle"):
        (data / "train" / shape / "loop").symlink_to(".")
    err = errors(["train", str(spec), "--data", str(data), "--out", str(tmp_path / "run"),
                  "--epochs", "1", *FAST, "--batch-size", "8"], capsys)
    assert err == [f"{data}: error[E806]: 6 training images do not fill one batch of 8: lower "
                   "--batch-size"]


def test_the_walk_is_bounded_as_it_goes(spec, tmp_path, monkeypatch, capsys):
    data = make_folder(tmp_path / "data", train=2, val=1, size=16)
    command = ["train", str(spec), "--data", str(data), "--out", str(tmp_path / "run"), *FAST]
    monkeypatch.setattr(training, "MAX_FILES", 5)
    assert errors(command, capsys) == [
        f"{data / 'train'}: error[E801]: more than 5 files, the most archc lists (a loop of "
        "links?)"]
    monkeypatch.setattr(training, "MAX_FILES", 1000)
    monkeypatch.setattr(training, "MAX_DEPTH", 2)
    deep = data / "train" / "disc" / "a" / "b" / "c"
    deep.mkdir(parents=True)
    assert errors(command, capsys) == [
        f"{deep}: error[E801]: a folder 3 levels below its class folder, deeper than archc "
        "goes (a loop of links?)"]
    shutil.rmtree(data / "train" / "disc")
    (data / "train" / "disc" / "empty").mkdir(parents=True)
    assert errors(command, capsys) == [
        f"{data / 'train'}: error[E801]: no images in disc (an image is a .jpg, .jpeg, .png, "
        ".ppm, .bmp, .pgm, .tif, .tiff, .webp file)"]


# ------------------------------------------------------------------------------- image files


def test_an_image_that_is_a_fifo_is_named_not_waited_for(spec, tmp_path, capsys):
    data = make_folder(tmp_path / "data", train=2, val=1, size=16)
    fifo = data / "train" / "disc" / "003.png"
    os.mkfifo(fifo)
    with deadline(60):  # all 7 images in one batch, read in this process
        err = errors(["train", str(spec), "--data", str(data), "--out", str(tmp_path / "run"),
                      "--epochs", "1", *FAST, "--batch-size", "7"], capsys)
    assert err == [f"{fifo}: error[E805]: is a FIFO (named pipe), not an image file"]


def test_image_files_are_checked_before_they_are_read(tmp_path, monkeypatch):
    image = make_folder(tmp_path / "data", train=1, val=0, size=16) / "train" / "disc" / "000.png"
    zero = tmp_path / "zero.png"
    zero.symlink_to("/dev/zero")
    fifo = tmp_path / "fifo.png"
    os.mkfifo(fifo)
    monkeypatch.setattr(training, "MAX_IMAGE_BYTES", image.stat().st_size - 1)
    for path, message in [(zero, "is a character device, not an image file"),
                          (fifo, "is a FIFO (named pipe), not an image file"),
                          (image, f"file is larger than {image.stat().st_size - 1:,} bytes")]:
        with deadline(10), pytest.raises(training.DataError) as caught:
            training._load_image("RGB", str(path))
        assert str(caught.value) == f"{path}: error[E805]: {message}"


# ------------------------------------------------------------------------------- checkpoints


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> tuple[Path, dict]:
    """The spec and checkpoint of a finished one-epoch run on random data."""
    folder = tmp_path_factory.mktemp("finished")
    spec = folder / "tiny.yaml"
    spec.write_text(TINY, encoding="utf-8")
    run = folder / "run"
    assert main(["train", str(spec), *SYNTHETIC, "--epochs", "1", "--out", str(run)]) == 0
    return spec, torch.load(run / "checkpoint.pt", weights_only=True)


def _square_avg(state: dict) -> dict:
    first = {**state["state"][0], "square_avg": torch.zeros(2)}
    return {**state, "state": {**state["state"], 0: first}}


def _lr(state: dict) -> dict:
    return {**state, "param_groups": [{**group, "lr": "fast"} for group in state["param_groups"]]}


DAMAGES = [  # (id, key, its damage, the message after "a damaged checkpoint: its")
    ("options", "options", lambda c: "fast", "options are not a table"),
    ("an option", "options", lambda c: {**c, "batch_size": "16"},
     "options' batch_size is not a value that archc train takes"),
    ("fingerprint", "fingerprint", lambda c: 5, "fingerprint is not a text"),
    ("epoch", "epoch", lambda c: "1", "epoch is not a whole number from 1 to 100,000"),
    ("history", "history", lambda c: [{"epoch": 1}],
     "history is not a row of metrics (epoch, lr, train_loss, train_top1, val_loss, val_top1, "
     "val_top5, images_per_s, seconds) for each of its 1 epochs"),
    ("rng", "rng", lambda c: [{"torch": "seed", "python": (), "cuda": None}],
     "rng is not a list of random states (torch, python, cuda), one per process"),
    ("a tensor's shape", "model", lambda c: {**c, "stem.conv.weight": torch.zeros(1)},
     "model's stem.conv.weight has the shape (1,), the network's (32, 3, 3, 3)"),
    ("a missing tensor", "model", lambda c: {k: v for k, v in c.items() if k != "fc.bias"},
     "model has no fc.bias"),
    ("optimizer groups", "optimizer", lambda c: {"state": {}, "param_groups": []},
     "optimizer state does not fit the network's parameters"),
    ("optimizer tensor", "optimizer", _square_avg,
     "optimizer state's square_avg does not fit its parameter"),
    ("optimizer lr", "optimizer", _lr, "optimizer state's lr is not a value that torch writes "
     "there"),
    ("scheduler", "scheduler", lambda c: {**c, "last_epoch": "one"},
     "scheduler state's last_epoch is not a value that torch writes there"),
    ("scaler", "scaler", lambda c: "none", "scaler state is not a table"),
]


@pytest.mark.parametrize("key, change, message", [pytest.param(*d[1:], id=d[0]) for d in DAMAGES])
def test_a_damaged_checkpoint_is_refused_with_the_key(key, change, message, finished, tmp_path,
                                                      capsys):
    spec, checkpoint = finished
    run = tmp_path / "run"
    run.mkdir()
    torch.save({**checkpoint, key: change(checkpoint[key])}, run / "checkpoint.pt")
    err = errors(["train", str(spec), "--resume", "--out", str(run), "--epochs", "2"], capsys)
    assert err == [f"{run / 'checkpoint.pt'}: error[E803]: a damaged checkpoint: its {message}"]


# ------------------------------------------------------------------------------- run folders


def test_a_run_folder_that_cannot_hold_a_run_is_refused_before_training(spec, tmp_path, capsys):
    notes = tmp_path / "notes"
    notes.write_text("notes\n")
    links = {"dangling": tmp_path / "nowhere", "loop": "loop", "file": notes}
    for name, target in links.items():
        (tmp_path / name).symlink_to(target)
    for run in [tmp_path / "dangling", tmp_path / "loop", tmp_path / "file",
                tmp_path / "dangling" / "run"]:
        link = tmp_path / run.relative_to(tmp_path).parts[0]
        assert main(["train", str(spec), *SYNTHETIC, "--out", str(run)]) == 1
        out, err = capsys.readouterr()
        assert out == ""  # no epoch
        assert err.splitlines() == [f"{link}: error[E803]: the run folder cannot be made: this "
                                    "is a link that leads to no folder"]
    run = tmp_path / "run"
    (run / "metrics.csv").mkdir(parents=True)
    assert errors(["train", str(spec), *SYNTHETIC, "--out", str(run)], capsys) == [
        f"{run / 'metrics.csv'}: error[E803]: this is a folder, which archc does not replace "
        "with the run's metrics.csv"]


# -------------------------------------------------------------------------------------- Ctrl-C

# Ctrl-C at a moment that used to lose it: as the loader forks its first worker (os.fork's
# callbacks ignore a KeyboardInterrupt raised in them), in every worker as it starts (a terminal
# sends it to every process of the job), or as the first loader's workers are let go
# (multiprocessing's finalizers ignore it too).
INTERRUPTS = {
    "as workers start": """\
forks = []

def interrupt():
    if not forks:
        forks.append(True)
        os.kill(os.getpid(), signal.SIGINT)

os.register_at_fork(before=interrupt, after_in_child=lambda: os.kill(os.getpid(), signal.SIGINT))
""",
    "as workers go": """\
import multiprocessing.util

close_fds, closed = multiprocessing.util.close_fds, []

def interrupt(*fds):
    if not closed:
        closed.append(True)
        os.kill(os.getpid(), signal.SIGINT)
    close_fds(*fds)

multiprocessing.util.close_fds = interrupt
"""}


@pytest.mark.slow
@pytest.mark.parametrize("moment", INTERRUPTS)
def test_ctrl_c_stops_the_run(moment, spec, tmp_path):
    data = make_folder(tmp_path / "data", train=4, val=2, size=16)
    run = tmp_path / "run"
    script = ("import os, signal, sys\nfrom archc.cli import main\n" + INTERRUPTS[moment]
              + "sys.exit(main(sys.argv[1:]))\n")
    done = subprocess.run(
        [sys.executable, "-c", script, "train", str(spec), "--data", str(data), "--out",
         str(run), "--epochs", "2", *FAST, "--batch-size", "4", "--workers", "2"],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert (done.returncode, done.stdout) == (130, ""), done.stderr  # no epoch
    assert done.stderr.splitlines() == ["archc: interrupted before the first epoch finished; "
                                        "nothing was saved"]
    assert not run.exists()


def test_a_validation_loss_that_diverges_stops_the_run(spec, tmp_path, monkeypatch, capsys):
    """metrics.csv never holds a loss archc plot refuses: an infinite validation loss stops
    the run, as an infinite training loss does, and the epoch is not written."""
    data = make_folder(tmp_path / "data", train=4, val=2, size=8)
    monkeypatch.setattr(training, "_evaluate", lambda *args: (float("inf"), 0.5, 1.0))
    run = tmp_path / "run"
    assert main(["train", str(spec), "--data", str(data), "--epochs", "1", "--out", str(run),
                 *FAST, "--batch-size", "4"]) == 1
    assert "error[E807]: the validation loss became inf in epoch 1" in capsys.readouterr().err
    assert not (run / "metrics.csv").exists()
