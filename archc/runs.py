"""A training run: its options, and its folder as `archc train` writes it and `archc plot`
reads it: checkpoint.pt (all that resuming needs) and metrics.csv (a row of COLUMNS per epoch).
Does not import torch."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

from .errors import printable

CHECKPOINT = "checkpoint.pt"
METRICS = "metrics.csv"
COLUMNS = ("epoch", "lr", "train_loss", "train_top1", "val_loss", "val_top1", "val_top5",
           "images_per_s", "seconds")
VALIDATION = ("val_loss", "val_top1", "val_top5")  # empty in a run without validation data


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
    validation data)."""
    table = io.StringIO()
    writer = csv.DictWriter(table, COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in history:
        writer.writerow({k: "" if v is None else f"{v:.6g}" if isinstance(v, float) else v
                         for k, v in row.items()})
    return table.getvalue()


def read_metrics(run: str) -> list[dict[str, float | None]]:
    """A run's rows as numbers (None for an empty cell)."""
    path = Path(run) / METRICS
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RunError(run, f"no {METRICS} here: not a run folder of archc train, or no epoch "
                            "has finished") from None
    except (OSError, UnicodeDecodeError) as e:
        reason = getattr(e, "strerror", None) or str(e)
        raise RunError(path, f"the file cannot be read: {reason}") from None
    reader = csv.reader(io.StringIO(text))
    if tuple(next(reader, ())) != COLUMNS:
        raise RunError(path, f"not the metrics archc train writes (columns {', '.join(COLUMNS)})")
    rows = []
    for cells in reader:
        if not cells:  # a blank line
            continue
        where = f"{path}:{reader.line_num}"
        if len(cells) != len(COLUMNS):
            raise RunError(where, f"a row of {len(cells)} cells, not {len(COLUMNS)}")
        try:
            values = {k: float(v) if v else None for k, v in zip(COLUMNS, cells)}
        except ValueError:
            raise RunError(where, "a row that is not numbers") from None
        missing = [k for k in COLUMNS if values[k] is None and k not in VALIDATION]
        if missing:
            raise RunError(where, f"a row without {', '.join(missing)}")
        if len({values[k] is None for k in VALIDATION}) > 1:
            raise RunError(where, f"a row with some of {', '.join(VALIDATION)}, not all")
        rows.append(values)
    if not rows:
        raise RunError(path, "no epoch has finished")
    return rows
