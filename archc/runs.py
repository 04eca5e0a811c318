"""A training run: its options, and its folder as `archc train` writes it and `archc plot`
reads it: checkpoint.pt (all that resuming needs) and metrics.csv (a row of COLUMNS per epoch).
Does not import torch."""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from pathlib import Path

from .errors import printable, shortened
from .files import Unreadable, read_bounded
from .limits import MAX_SEED

CHECKPOINT = "checkpoint.pt"
METRICS = "metrics.csv"
COLUMNS = ("epoch", "lr", "train_loss", "train_top1", "val_loss", "val_top1", "val_top5",
           "images_per_s", "seconds")
VALIDATION = ("val_loss", "val_top1", "val_top5")  # empty in a run without validation data
# Top-5 accuracy says something only where there are more than 5 classes (with 5 or fewer every
# label is among the top 5): below this, val_top5 is empty even with validation data.
TOP5_CLASSES = 6


def has_top5(num_classes: int) -> bool:
    """Whether top-5 accuracy means anything for a classifier of num_classes classes."""
    return num_classes >= TOP5_CLASSES


# metrics.csv is read as hostile input, every bound checked before the work it guards.
# Far above any real run (a thousand epochs is a long one); a row per epoch.
MAX_EPOCHS = 100_000
# archc train writes a row of 9 numbers of at most 13 characters each (6 significant digits,
# a sign, a point and an exponent), under 130 in all: twice that bounds a line, and so a cell,
# far below csv's field size limit (128 KiB).
MAX_LINE = 256
MAX_BYTES = (1 + MAX_EPOCHS) * MAX_LINE  # the header and MAX_EPOCHS rows: 24 MiB
# The loss is a float32 mean (cross-entropy, in float32 even under autocast): a finite one is
# at most the largest float32. matplotlib draws any loss up to it; one of 1e308 overflows the
# axis limits it computes.
MAX_LOSS = (2 - 2**-23) * 2**127  # 3.40282e+38
# What archc train writes into each column (train.py): the smallest and largest value, and
# what they mean, for the message that refuses another.
_ANY = (0, math.inf, "a finite number, 0 or more")
_LOSS = (0, MAX_LOSS, "a number from 0 to 3.40282e+38 (the largest float32)")
_FRACTION = (0, 1, "a fraction from 0 to 1")
LIMITS = {"epoch": (1, MAX_EPOCHS, f"a whole number from 1 to {MAX_EPOCHS}"), "lr": _ANY,
          "train_loss": _LOSS, "train_top1": _FRACTION, "val_loss": _LOSS,
          "val_top1": _FRACTION, "val_top5": _FRACTION, "images_per_s": _ANY, "seconds": _ANY}
# The bounds of archc train's numeric options: the command line holds them to these, and a
# resumed checkpoint's options are checked against them.
RANGES = {"epochs": (1, MAX_EPOCHS), "batch_size": (1, 10**9), "lr": (0, 1e6),
          "lr_decay": (0, 1e6), "decay_epochs": (1, 10**9), "momentum": (0, 1e6),
          "weight_decay": (0, 1e6), "label_smoothing": (0, 1), "min_crop": (0, 1),
          "clip_grad": (0, 1e6), "workers": (0, 1024), "steps": (1, 10**9),
          "seed": (0, MAX_SEED)}


# The options that take one of a few words.
CHOICES = {"optimizer": ("rmsprop", "sgd"), "schedule": ("step", "cosine"),
           "precision": ("bf16", "fp16", "fp32"), "device": ("cpu", "cuda")}


@dataclass(frozen=True)
class Options:
    """`archc train`'s options; the defaults are the paper's where it gives them (Section 4:
    RMSProp with decay 0.9 and epsilon 1.0, learning rate 0.045 decayed every two epochs by
    0.94, gradient clipping) and timm's label smoothing."""

    spec: str
    data: str | None = None  # an ImageFolder root: train/<class>/*, val/<class>/*
    synthetic: bool = False  # random images on the device instead of data
    overrides: tuple[str, ...] = ()  # --set KEY=VALUE
    out: str | None = None  # the run folder; runs/<network name> by default
    resume: bool = False
    init_from: str | None = None  # a checkpoint whose carried tensors start the run
    init_spec: str | None = None  # the spec init_from was trained as (default: its own record)
    epochs: int = 10
    batch_size: int = 32  # over all processes together
    optimizer: str = "rmsprop"  # or "sgd" (momentum, Nesterov)
    lr: float = 0.045
    schedule: str = "step"  # step: times lr_decay every decay_epochs; cosine: to 0 at the end
    lr_decay: float = 0.94
    decay_epochs: int = 2
    momentum: float = 0.9
    weight_decay: float = 4e-5  # TF-Slim's Inception models'; not on biases or BatchNorm
    label_smoothing: float = 0.1
    clip_grad: float | None = 2.0  # the largest gradient norm; None: no clipping
    min_crop: float = 0.08  # the smallest random crop, as a fraction of the image's area
    precision: str | None = None  # bf16 (default on CUDA), fp16 or fp32 (default on the CPU)
    device: str | None = None  # cuda when there is a GPU, else cpu
    compile: bool = False
    workers: int = 4
    seed: int = 0
    steps: int = 50  # batches per epoch with synthetic data
    progress: bool = True

    def __post_init__(self):
        for name, allowed in CHOICES.items():
            value = getattr(self, name)
            if value not in allowed and not (value is None and name in ("precision", "device")):
                raise ValueError(f"{name} must be one of {', '.join(allowed)}, not {value!r:.40}")


class RunError(Exception):
    def __init__(self, where, message: str):
        super().__init__(printable(f"{where}: error[E808]: {message}"))


def metrics_text(history: list[dict]) -> str:
    """metrics.csv: floats to 6 significant digits, an empty cell for a missing value (no
    validation data; no top-5 for fewer than TOP5_CLASSES classes)."""
    table = io.StringIO()
    writer = csv.DictWriter(table, COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in history:
        writer.writerow({k: "" if v is None else f"{v:.6g}" if isinstance(v, float) else v
                         for k, v in row.items()})
    return table.getvalue()


def read_metrics(run: str) -> list[dict[str, float | None]]:
    """A run's rows as numbers (None for an empty cell), each within LIMITS."""
    path = Path(run) / METRICS
    try:
        text = read_bounded(path, MAX_BYTES, "a file").decode("utf-8")
    except Unreadable as e:
        if e.code == "E101":
            raise RunError(run, f"no {METRICS} here: not a run folder of archc train, or no "
                                "epoch has finished") from None
        raise RunError(path, e.message) from None
    except UnicodeDecodeError as e:
        raise RunError(path, f"the file cannot be read: {e}") from None
    # QUOTE_NONE: archc train quotes nothing, and a cell cannot span lines, so no cell is
    # longer than a line.
    reader = csv.reader(_lines(text, path), quoting=csv.QUOTE_NONE)
    try:
        if tuple(next(reader, ())) != COLUMNS:
            raise RunError(path, "not the metrics archc train writes "
                                 f"(columns {', '.join(COLUMNS)})")
        rows = [row for cells in reader if (row := _row(cells, f"{path}:{reader.line_num}"))]
    except csv.Error as e:
        raise RunError(f"{path}:{reader.line_num}", f"not CSV: {e}") from None
    if not rows:
        raise RunError(path, "no epoch has finished")
    return rows


def _lines(text: str, path: Path):
    """The lines of text, the header and at most MAX_EPOCHS more, each of at most MAX_LINE
    characters."""
    for number, line in enumerate(io.StringIO(text, newline=""), 1):
        if number > 1 + MAX_EPOCHS:
            raise RunError(f"{path}:{number}", f"more than {MAX_EPOCHS:,} rows (epochs)")
        if len(line) > MAX_LINE:
            raise RunError(f"{path}:{number}", f"a line of more than {MAX_LINE} characters")
        yield line


def _row(cells: list[str], where: str) -> dict[str, float | None] | None:
    """A row's numbers; None for a blank line."""
    if not cells:
        return None
    if len(cells) != len(COLUMNS):
        raise RunError(where, f"a row of {len(cells)} cells, not {len(COLUMNS)}")
    try:
        values = {k: float(v) if v else None for k, v in zip(COLUMNS, cells)}
    except ValueError:
        raise RunError(where, "a row that is not numbers") from None
    missing = [k for k in COLUMNS if values[k] is None and k not in VALIDATION]
    if missing:
        raise RunError(where, f"a row without {', '.join(missing)}")
    # val_top5 may be empty where val_loss and val_top1 are not (fewer than TOP5_CLASSES).
    if values["val_loss"] is None and values["val_top5"] is not None or \
            (values["val_loss"] is None) != (values["val_top1"] is None):
        raise RunError(where, f"a row with some of {', '.join(VALIDATION)}, not all")
    for (k, value), cell in zip(values.items(), cells):
        low, high, meaning = LIMITS[k]
        if value is not None and not (math.isfinite(value) and low <= value <= high
                                      and (k != "epoch" or value.is_integer())):
            raise RunError(where, f"{k} must be {meaning}, not {shortened(cell)}")
    return values
