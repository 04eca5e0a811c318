"""archc plot reads every metrics.csv as hostile: a path that is not a regular file, a file too
large, too many rows, a line too long and a value archc train could not have written are each
refused with one located line (E808) and exit status 1, before they cost time or memory and
before matplotlib sees them; nothing is written."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from archc import files, runs
from archc.cli import main
from archc.runs import COLUMNS, MAX_BYTES, MAX_EPOCHS, MAX_LOSS, RunError, read_metrics

HEADER = ",".join(COLUMNS) + "\n"
ROW = "1,0.045,2.0,0.5,,,,10,1\n"  # a run without validation data
POSIX = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")


@pytest.fixture
def run(tmp_path) -> Path:
    path = tmp_path / "run"
    path.mkdir()
    return path


def refused(run: Path, capsys) -> list[str]:
    """`archc plot RUN -o c.png`'s stderr lines, which must be an error that writes nothing."""
    out = run.parent / "c.png"
    assert main(["plot", str(run), "-o", str(out)]) == 1
    assert not out.exists()
    return capsys.readouterr().err.splitlines()


def plot_in_a_subprocess(run: Path) -> subprocess.CompletedProcess:
    """`archc plot`, in a process of its own: a regression here would hang or fill memory."""
    return subprocess.run([sys.executable, "-m", "archc.cli", "plot", str(run), "-o",
                           str(run.parent / "c.png")], capture_output=True, text=True,
                          timeout=60)


# ------------------------------------------------------------- the path, checked before it is read


@POSIX
def test_a_fifo_is_not_opened(run):
    os.mkfifo(run / "metrics.csv")  # opening it to read would wait for a writer
    result = plot_in_a_subprocess(run)
    assert result.stderr == \
        f"{run / 'metrics.csv'}: error[E808]: is a FIFO (named pipe), not a file\n"
    assert result.returncode == 1
    assert not (run.parent / "c.png").exists()


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="no /dev/zero")
def test_a_link_to_a_device_is_not_read(run):
    (run / "metrics.csv").symlink_to("/dev/zero")  # endless zeros
    result = plot_in_a_subprocess(run)
    assert result.stderr == \
        f"{run / 'metrics.csv'}: error[E808]: is a character device, not a file\n"
    assert result.returncode == 1


def test_a_folder_is_refused(run, capsys):
    (run / "metrics.csv").mkdir()
    assert refused(run, capsys) == [f"{run / 'metrics.csv'}: error[E808]: is a folder, not a file"]


@POSIX
def test_a_path_replaced_by_a_fifo_is_checked_again_once_open(run, monkeypatch):
    """A path that was a file when it was checked and is a FIFO when it is opened: opened
    without waiting for a writer, and refused."""
    os.mkfifo(run / "metrics.csv")
    checked = []
    check = files.checked_size

    def check_after_open(status, limit, what):  # let the check before opening pass
        checked.append(status)
        return check(status, limit, what) if len(checked) > 1 else 0

    monkeypatch.setattr(files, "checked_size", check_after_open)

    def hung(signum, frame):
        raise TimeoutError("opening the FIFO waited for a writer")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(10)
    try:
        with pytest.raises(RunError) as raised:
            read_metrics(str(run))
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    assert str(raised.value) == \
        f"{run / 'metrics.csv'}: error[E808]: is a FIFO (named pipe), not a file"
    assert len(checked) == 2


# ------------------------------------------------------------- sizes, bounded before the work


TOO_LARGE = f"file is larger than {MAX_BYTES:,} bytes"


def test_a_sparse_file_past_the_bound_is_refused_by_its_size(run, capsys):
    with open(run / "metrics.csv", "wb") as f:
        f.truncate(MAX_BYTES + 1)  # zeros that take no disk space
    assert refused(run, capsys) == [f"{run / 'metrics.csv'}: error[E808]: {TOO_LARGE}"]


def test_at_most_one_byte_more_than_the_bound_is_read(run, monkeypatch):
    """A file that grows after its size was checked: pretend the checks saw a small file."""
    (run / "metrics.csv").write_text(HEADER + ROW * (MAX_BYTES // len(ROW) + 1))
    monkeypatch.setattr(files, "checked_size", lambda status, limit, what: 0)
    with pytest.raises(RunError) as raised:
        read_metrics(str(run))
    assert str(raised.value) == f"{run / 'metrics.csv'}: error[E808]: {TOO_LARGE}"


@pytest.mark.parametrize("line", [ROW, "\n"], ids=["rows", "blank lines"])
def test_more_rows_than_epochs_are_refused(run, line):
    """The file is within the size bound, but no run has this many epochs."""
    (run / "metrics.csv").write_text(HEADER + line * (MAX_EPOCHS + 1))
    with pytest.raises(RunError) as raised:
        read_metrics(str(run))
    assert str(raised.value) == (f"{run / 'metrics.csv'}:{MAX_EPOCHS + 2}: error[E808]: more "
                                 f"than {MAX_EPOCHS:,} rows (epochs)")


@pytest.mark.parametrize("line, message", [
    ("1," + "9" * 200_000 + ",2.0,0.5,,,,10,1", "a line of more than 256 characters"),
    ('1,"' + "x\n" * 100_000 + '",2.0,0.5,,,,10,1', "a row of 2 cells, not 9"),  # no quoting
], ids=["a long cell", "a quoted cell over many lines"])
def test_a_huge_cell_is_refused_by_its_line(run, capsys, line, message):
    """csv's own limit (128 KiB a cell) is never reached: a line is at most MAX_LINE long, and
    a quote is a character like any other, so no cell spans lines."""
    (run / "metrics.csv").write_text(HEADER + ROW + line + "\n")
    assert refused(run, capsys) == [f"{run / 'metrics.csv'}:3: error[E808]: {message}"]


def test_any_csv_error_left_is_located(run, capsys):
    """A csv.Error that no bound foresaw (here csv's own cell limit, lowered) is E808 too."""
    (run / "metrics.csv").write_text(HEADER + ROW + "2,0.045,2.0,0.5,,,,1234567890123,1\n")
    limit = csv.field_size_limit(12)  # the longest column name
    try:
        assert refused(run, capsys) == [f"{run / 'metrics.csv'}:3: error[E808]: not CSV: "
                                        "field larger than field limit (12)"]
    finally:
        csv.field_size_limit(limit)


# ------------------------------------------------------------- values archc train cannot write


LOSS = "a number from 0 to 3.40282e+38 (the largest float32)"
FRACTION = "a fraction from 0 to 1"
ANY = "a finite number, 0 or more"


@pytest.mark.parametrize("row, message", [
    ("2,0.045,inf,0.5,,,,10,1", f"train_loss must be {LOSS}, not inf"),
    ("2,0.045,-inf,0.5,,,,10,1", f"train_loss must be {LOSS}, not -inf"),
    ("2,0.045,nan,0.5,,,,10,1", f"train_loss must be {LOSS}, not nan"),
    ("2,0.045,1e308,0.5,,,,10,1", f"train_loss must be {LOSS}, not 1e308"),
    ("2,0.045,-0.5,0.5,,,,10,1", f"train_loss must be {LOSS}, not -0.5"),
    ("2,0.045,2.0,0.5,1e39,0.5,0.9,10,1", f"val_loss must be {LOSS}, not 1e39"),
    ("2,0.045,2.0,1.5,,,,10,1", f"train_top1 must be {FRACTION}, not 1.5"),
    ("2,0.045,2.0,0.5,1.0,-0.1,0.9,10,1", f"val_top1 must be {FRACTION}, not -0.1"),
    ("2,0.045,2.0,0.5,1.0,0.5,NaN,10,1", f"val_top5 must be {FRACTION}, not NaN"),
    ("0,0.045,2.0,0.5,,,,10,1", f"epoch must be a whole number from 1 to {MAX_EPOCHS}, not 0"),
    ("2.5,0.045,2.0,0.5,,,,10,1", f"epoch must be a whole number from 1 to {MAX_EPOCHS}, "
                                  "not 2.5"),
    ("1e300,0.045,2.0,0.5,,,,10,1", f"epoch must be a whole number from 1 to {MAX_EPOCHS}, "
                                    "not 1e300"),
    ("2,-0.045,2.0,0.5,,,,10,1", f"lr must be {ANY}, not -0.045"),
    ("2,infinity,2.0,0.5,,,,10,1", f"lr must be {ANY}, not infinity"),
    ("2,0.045,2.0,0.5,,,,nan,1", f"images_per_s must be {ANY}, not nan"),
    ("2,0.045,2.0,0.5,,,,10,-1", f"seconds must be {ANY}, not -1"),
], ids=["inf", "-inf", "nan", "1e308", "negative loss", "val loss 1e39", "top-1 1.5",
        "top-1 -0.1", "top-5 NaN", "epoch 0", "epoch 2.5", "epoch 1e300", "negative lr",
        "lr infinity", "images_per_s nan", "negative seconds"])
def test_a_value_outside_what_archc_train_writes_is_refused(run, capsys, row, message):
    (run / "metrics.csv").write_text(HEADER + ROW + row + "\n")
    assert refused(run, capsys) == [f"{run / 'metrics.csv'}:3: error[E808]: {message}"]


def test_the_extremes_archc_train_can_write_are_drawn(run, capsys):
    """The largest finite loss (a float32 mean), a loss of 0, top-1 of 0 and 1, the last epoch
    allowed, as metrics_text writes them: read back and drawn."""
    pytest.importorskip("matplotlib")
    history = [{"epoch": 1, "lr": 0.0, "train_loss": MAX_LOSS, "train_top1": 0.0,
                "val_loss": 0.0, "val_top1": 0.0, "val_top5": 0.0, "images_per_s": 0.0,
                "seconds": 0.0},
               {"epoch": MAX_EPOCHS, "lr": 1e6, "train_loss": 0.0, "train_top1": 1.0,
                "val_loss": MAX_LOSS, "val_top1": 1.0, "val_top5": 1.0, "images_per_s": 1e9,
                "seconds": 1e9}]
    (run / "metrics.csv").write_text(runs.metrics_text(history))
    assert [row["epoch"] for row in read_metrics(str(run))] == [1, MAX_EPOCHS]
    out = run.parent / "c.png"
    assert main(["plot", str(run), "-o", str(out)]) == 0
    assert out.read_bytes().startswith(b"\x89PNG")
