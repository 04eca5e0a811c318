"""`archc plot`: training curves of several runs in one figure, top-1 error and loss against
epochs, training and validation, as the paper's Figures 21-26 compare a residual network with
its plain twin. Reads each run folder's metrics.csv (archc train); needs matplotlib."""

from __future__ import annotations

import io
from pathlib import Path

from .runs import read_metrics

FORMATS = ("png", "svg", "pdf")
# Without these, matplotlib writes its version and the date into the file: the same curves
# would not give the same bytes.
METADATA = {"png": {"Software": None}, "svg": {"Date": None, "Creator": None},
            "pdf": {"CreationDate": None, "Creator": None, "Producer": None}}
# Up to this many epochs a run's curves have a dot per epoch; beyond, the dots would only blur
# the lines and swell the file (an svg of 100,000 epochs: 32 MB with them, 0.7 MB without).
DOTTED = 100


def figure(runs: dict[str, list[dict]]):
    """Top-1 error and loss against epochs: each run's training curves (solid) and, where its
    metrics have them, its validation curves (dashed), in one colour per run. Top-5 is not
    drawn: with fewer than 6 classes it is 100% whatever the network does."""
    from matplotlib.figure import Figure  # no pyplot: no global figures, no GUI backend
    from matplotlib.ticker import MaxNLocator

    fig = Figure(figsize=(11, 4.2), layout="constrained")
    error, loss = fig.subplots(1, 2)
    for label, rows in runs.items():
        epochs = [row["epoch"] for row in rows]
        val = all(row["val_top1"] is not None for row in rows)
        marker = "." if len(rows) <= DOTTED else None
        (line,) = error.plot(epochs, [100 * (1 - row["train_top1"]) for row in rows],
                             marker=marker, label=f"{label} (train)")
        loss.plot(epochs, [row["train_loss"] for row in rows], color=line.get_color(),
                  marker=marker, label=f"{label} (train)")
        if val:
            error.plot(epochs, [100 * (1 - row["val_top1"]) for row in rows],
                       color=line.get_color(), marker=marker, linestyle="--",
                       label=f"{label} (val)")
            loss.plot(epochs, [row["val_loss"] for row in rows], color=line.get_color(),
                      marker=marker, linestyle="--", label=f"{label} (val)")
    error.set(xlabel="epoch", ylabel="top-1 error (%)", title="Top-1 error")
    loss.set(xlabel="epoch", ylabel="loss", title="Loss")
    for axes in (error, loss):
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))  # whole epochs
        axes.grid(alpha=0.3)
        axes.legend(fontsize="small")
    return fig


def plot(runs: list[str], output: str) -> bytes:
    """The figure's file content, in the format output's suffix names (one of FORMATS). Every
    value it draws is one read_metrics bounds (epochs, fractions, losses up to the largest
    float32), which matplotlib's axes take without overflowing."""
    fmt = Path(output).suffix.lstrip(".").lower()
    rows = {run: read_metrics(run) for run in runs}
    import matplotlib

    # The salt of the ids an svg gives its paths, random by default.
    with matplotlib.rc_context({"svg.hashsalt": "archc"}):
        buffer = io.BytesIO()
        figure(rows).savefig(buffer, format=fmt, dpi=120, metadata=METADATA[fmt])
    return buffer.getvalue()
