"""Ctrl-C during `archc train`: the interruption says what the run folder holds, as it is on
disk (checkpoint.pt and metrics.csv are written together): nothing when no epoch had finished,
else the checkpoint's epoch, also when Ctrl-C comes as an epoch is being saved."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from archc import train as training  # noqa: E402

TINY = """\
name: tiny
input: {size: 8}
num_classes: 3
layers:
  - conv: conv 3x3 8
  - pool: avgpool global
head:
  - fc: linear num_classes
"""
FAST = {"synthetic": True, "steps": 1, "batch_size": 2, "workers": 0, "device": "cpu",
        "progress": False}


@pytest.fixture
def spec(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY)
    return path


def interrupt_epoch(monkeypatch, number: int) -> None:
    """Ctrl-C in the middle of the `number`th epoch trained (from 1)."""
    real, calls = training._train_epoch, []

    def epoch(*args, **kwargs):
        calls.append(True)
        if len(calls) == number:
            raise KeyboardInterrupt
        return real(*args, **kwargs)
    monkeypatch.setattr(training, "_train_epoch", epoch)


def interrupted(spec, run, **options) -> str:
    with pytest.raises(KeyboardInterrupt) as e:
        training.train(str(spec), out=str(run), **{**FAST, **options})
    assert isinstance(e.value, training.Interrupted)
    return str(e.value)


def test_in_the_first_epoch_nothing_was_saved(spec, tmp_path, monkeypatch):
    interrupt_epoch(monkeypatch, 1)
    run = tmp_path / "run"
    assert interrupted(spec, run, epochs=3) == \
        "archc: interrupted before the first epoch finished; nothing was saved"
    assert not (run / "checkpoint.pt").exists()


def test_later_the_last_saved_epoch_is_named(spec, tmp_path, monkeypatch):
    interrupt_epoch(monkeypatch, 3)
    run = tmp_path / "run"
    assert interrupted(spec, run, epochs=5) == \
        f"archc: interrupted; {run} holds the checkpoint of epoch 2 (continue with --resume)"
    assert torch.load(run / "checkpoint.pt", weights_only=False)["epoch"] == 2


def test_a_resumed_run_interrupted_at_once_still_holds_its_checkpoint(spec, tmp_path,
                                                                      monkeypatch):
    run = tmp_path / "run"
    training.train(str(spec), out=str(run), epochs=1, **FAST)
    interrupt_epoch(monkeypatch, 1)
    with pytest.raises(KeyboardInterrupt) as e:
        training.train(str(spec), out=str(run), resume=True, epochs=3)
    assert str(e.value) == \
        f"archc: interrupted; {run} holds the checkpoint of epoch 1 (continue with --resume)"


@pytest.mark.parametrize("written", [True, False], ids=["after the write", "before it"])
def test_ctrl_c_as_an_epoch_is_saved(spec, tmp_path, monkeypatch, written):
    """The files on disk decide: an epoch whose files were written is saved, one whose write
    was stopped (and rolled back) is not."""
    real, saves = training.write_all, []

    def write_all(files, inputs):
        saves.append(True)
        if len(saves) == 2 and not written:
            raise KeyboardInterrupt
        real(files, inputs)
        if len(saves) == 2:
            raise KeyboardInterrupt
    monkeypatch.setattr(training, "write_all", write_all)
    run = tmp_path / "run"
    assert interrupted(spec, run, epochs=3) == \
        (f"archc: interrupted; {run} holds the checkpoint of epoch {2 if written else 1} "
         "(continue with --resume)")
