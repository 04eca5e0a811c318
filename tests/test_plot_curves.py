"""What `archc plot` draws: for each run, top-1 error and loss of training (solid) and, where
the metrics have them, of validation (dashed), in the run's colour; never top-5, which says
nothing with fewer than 6 classes. Also: metrics.csv of such a run has no top-5."""

from __future__ import annotations

import pytest

from archc import runs
from archc.runs import COLUMNS, read_metrics

matplotlib = pytest.importorskip("matplotlib")

from archc.plot import figure  # noqa: E402


def row(epoch, train_top1, val_top1=None, val_top5=None):
    val = val_top1 is not None
    return {"epoch": epoch, "lr": 0.01, "train_loss": 2.0 / epoch, "train_top1": train_top1,
            "val_loss": 2.5 / epoch if val else None, "val_top1": val_top1,
            "val_top5": val_top5, "images_per_s": 10.0, "seconds": 1.0}


def curves(axes) -> dict[str, tuple[list, list, str]]:
    return {line.get_label(): (list(line.get_xdata()), [round(y, 6) for y in line.get_ydata()],
                               line.get_linestyle()) for line in axes.get_lines()}


def test_top1_error_of_training_and_validation_are_both_drawn():
    fig = figure({"a": [row(1, 0.5, 0.25, 0.9), row(2, 0.75, 0.5, 1.0)],
                  "b": [row(1, 0.2), row(2, 0.4)]})
    error, loss = fig.axes
    assert curves(error) == {"a (train)": ([1, 2], [50.0, 25.0], "-"),
                             "a (val)": ([1, 2], [75.0, 50.0], "--"),
                             "b (train)": ([1, 2], [80.0, 60.0], "-")}
    assert set(curves(loss)) == {"a (train)", "a (val)", "b (train)"}
    colour = {line.get_label(): line.get_color() for line in error.get_lines()}
    assert colour["a (train)"] == colour["a (val)"] != colour["b (train)"]
    assert [t.get_text() for t in error.get_legend().get_texts()] == \
        ["a (train)", "a (val)", "b (train)"]
    assert all("top-5" not in axes.get_ylabel() for axes in fig.axes)


def test_a_run_of_fewer_than_6_classes_has_no_top5(tmp_path):
    """With 5 classes or fewer every label is among the top 5: metrics.csv leaves val_top5
    empty, and it reads back and plots."""
    assert not runs.has_top5(3) and not runs.has_top5(5) and runs.has_top5(6)
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.csv").write_text(runs.metrics_text([row(1, 0.5, 0.4), row(2, 0.6, 0.5)]))
    assert (run / "metrics.csv").read_text().splitlines()[1:] == [
        "1,0.01,2,0.5,2.5,0.4,,10,1", "2,0.01,1,0.6,1.25,0.5,,10,1"]
    rows = read_metrics(str(run))
    assert [(r["val_top1"], r["val_top5"]) for r in rows] == [(0.4, None), (0.5, None)]
    assert set(curves(figure({"run": rows}).axes[0])) == {"run (train)", "run (val)"}


@pytest.mark.parametrize("cells", [",,0.9", "1.0,,0.9", ",0.5,"],
                         ids=["top-5 alone", "no top-1", "no loss"])
def test_validation_columns_still_come_together(tmp_path, cells):
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.csv").write_text(f"{','.join(COLUMNS)}\n1,0.01,2,0.5,{cells},10,1\n")
    with pytest.raises(runs.RunError, match="a row with some of val_loss, val_top1, val_top5, "
                                            "not all"):
        read_metrics(str(run))
