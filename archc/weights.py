"""Weight transfer: a checkpoint trained as spec A, into a model of spec B. Every tensor whose
meaning is unchanged (diff.py) is carried; the others keep B's initialisation. Needs torch."""

from __future__ import annotations

import io
import operator
import os
import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass

import torch

from .api import build_model, network_of
from .backends.torch.state import state_dict as expected_tensors
from .compiler import compile_spec
from .diff import CARRIED, GONE, MEANING, NEW, SHAPE, Comparison, compare, patterns, percent
from .errors import listing, printable, shortened
from .files import Unreadable, file_size
from .ir.graph import Network
from .limits import MAX_CHECKPOINT_BYTES, MAX_SEED, free_memory

MAX_SHOWN = 5  # name patterns shown in an error message
# The keys under which training scripts keep the model's weights in a checkpoint (timm's
# train.py, torchvision's references), and DistributedDataParallel's name prefix.
WRAPPERS = ("state_dict", "model")
DDP_PREFIX = "module."


class TransferError(ValueError):
    """A checkpoint that is not a state_dict of the source spec."""


@dataclass(frozen=True)
class Transfer:
    comparison: Comparison
    model: torch.nn.Module  # B's model, holding the carried tensors
    unwrapped: str = ""  # how the state_dict was found in the checkpoint, if it was wrapped

    @property
    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.model.state_dict()

    def report(self, limit: int = 4) -> str:
        """A few lines: what was carried, what was initialised, what was left out."""
        c = self.comparison
        size = sum(1 for change in c.changes if change.b is not None)
        lines = [f"carried {len(c.of(CARRIED)):,} of {size:,} tensors, "
                 f"{percent(c.carried_fraction)} of the parameters"
                 + (f" ({self.unwrapped})" if self.unwrapped else "")]
        for status, what in ((MEANING, "initialised, meaning changed"),
                             (SHAPE, "initialised, shape changed"), (NEW, "new"),
                             (GONE, f"left out, not in {c.b.name}")):
            count = len(c.of(status))
            if count:
                lines.append(f"{what}: {count:,} ({c.summary(status, limit)})")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.report()


def transfer(checkpoint: Mapping, target, *, source, seed: int = 0) -> Transfer:
    """Carry a checkpoint of `source` into a model of `target`.

    checkpoint: a state_dict of the source spec's model (or a training checkpoint that holds
        one under "state_dict" or "model"; a DistributedDataParallel `module.` prefix is
        taken off).
    target: the spec to carry it to (a path or a compiled Network), or a model built by
        archc.build_model, which receives the carried tensors.
    source: the spec the checkpoint was trained as (a path or a compiled Network).
    seed: the seed of a new model's initialisation, for the tensors that are not carried.

    Returns a Transfer: `.model` (B's model), `.state_dict`, `.report()`. Raises TransferError
    for a checkpoint that is not a state_dict of the source spec, SpecError for a spec that
    does not compile, and TypeError or ValueError for an argument of the wrong kind (a seed
    that is not an int in 0 .. 2**63 - 1, as archc migrate's --seed).
    """
    seed = _seed(seed)
    a = _compiled(source, "source")
    model = target if isinstance(target, torch.nn.Module) else None
    b = network_of(model) if model is not None else _compiled(target, "target")
    if b is None:
        raise TypeError("transfer() takes as its target a spec, or a model built by "
                        "archc.build_model (a generated module does not know its spec: pass "
                        "the spec, then load `.state_dict` into it)")
    weights, unwrapped = unwrap(checkpoint)
    _check_belongs(weights, a, b)
    comparison = compare(a, b)
    if model is None:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = build_model(b)
    state = model.state_dict()
    state.update({c.name: weights[c.name] for c in comparison.of(CARRIED) if c.name in weights})
    try:
        model.load_state_dict(state, strict=True)
    except (RuntimeError, TypeError) as e:  # names and shapes fit: a tensor that cannot be copied
        first = str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__
        raise TransferError(f"the checkpoint's tensors cannot be copied into {b.name}'s model: "
                            f"{_bounded(first)}") from None
    return Transfer(comparison, model, unwrapped)


def _seed(seed) -> int:
    """A seed as archc migrate's --seed takes it: an int (or an integer scalar) in
    0 .. 2**63 - 1."""
    try:
        if isinstance(seed, bool):
            raise TypeError
        seed = operator.index(seed)
    except TypeError:
        raise TypeError(f"transfer() takes an int seed, not the {type(seed).__name__} "
                        f"{seed!r:.40}") from None
    if not 0 <= seed <= MAX_SEED:
        raise ValueError("transfer() takes a seed in 0 .. 2**63 - 1")
    return seed


def _compiled(spec, role: str) -> Network:
    if isinstance(spec, Network):
        return spec
    if isinstance(spec, (str, os.PathLike)):
        return compile_spec(os.fspath(spec))
    raise TypeError(f"transfer() takes as its {role} a spec path or an archc Network, not "
                    f"{type(spec).__name__}")


def unwrap(checkpoint) -> tuple[dict[str, torch.Tensor], str]:
    """(the state_dict a checkpoint holds, how it was found: "" when it is one). Raises
    TransferError for anything that is not a mapping of names to tensors."""
    how = []
    if isinstance(checkpoint, Mapping):
        for key in WRAPPERS:
            if isinstance(checkpoint.get(key), Mapping):
                how.append(f"from checkpoint[{key!r}]")
                checkpoint = checkpoint[key]
                break
    if isinstance(checkpoint, (str, bytes, os.PathLike)):
        raise TransferError(f"the checkpoint is a path ({type(checkpoint).__name__}), not a "
                            "state_dict: read it first (archc.weights.read_checkpoint(path))")
    if not isinstance(checkpoint, Mapping):
        raise TransferError(f"the checkpoint is a {type(checkpoint).__name__}, not a state_dict "
                            "(a dict of tensor names to tensors)")
    names = list(checkpoint)
    odd = [name for name in names if not isinstance(name, str)
           or not isinstance(checkpoint[name], torch.Tensor)]
    if odd:
        shown = listing(shortened(printable(repr(name)), 60) for name in odd)
        raise TransferError(f"the checkpoint is not a state_dict: {len(odd):,} of its "
                            f"{len(names):,} entries {_are(len(odd))} not a tensor under a name "
                            f"({shown})")
    if names and all(name.startswith(DDP_PREFIX) for name in names):
        checkpoint = {name[len(DDP_PREFIX):]: value for name, value in checkpoint.items()}
        how.append(f"`{DDP_PREFIX}` taken off the names")
    return dict(checkpoint), ", ".join(how)


def _check_belongs(weights: dict[str, torch.Tensor], a: Network, b: Network) -> None:
    problems = _mismatch(weights, a)
    if not problems:
        return
    hint = ""
    if a is not b and not _mismatch(weights, b):
        hint = f"; it is a state_dict of {b.name} already"
    raise TransferError(f"the checkpoint is not a state_dict of {a.name} ({a.source}): "
                        f"{'; '.join(problems)}{hint}")


def _mismatch(weights: dict[str, torch.Tensor], network: Network) -> list[str]:
    """What keeps a state_dict from loading strictly into the network's model, in a few
    bounded phrases; [] when it loads."""
    expected = {t.name: t.shape for t in expected_tensors(network)}
    missing = [name for name in expected if name not in weights]
    unexpected = [name for name in weights if name not in expected]
    reshaped = [_bounded(f"{name} is {list(weights[name].shape)}, not {list(shape)}")
                for name, shape in expected.items()
                if name in weights and tuple(weights[name].shape) != shape]
    unusable = [_bounded(f"{name} {problem}") for name in expected if name in weights
                for problem in [_unusable(name, weights[name])] if problem]
    # torch loads a state_dict without BatchNorm's counters (as converted weights often are)
    if all(name.endswith(".num_batches_tracked") for name in missing) and not unexpected \
            and not reshaped and not unusable:
        return []
    problems = []
    if missing:
        shown = _names(missing, expected)
        problems.append(f"{len(missing):,} of its {len(expected):,} tensors "
                        f"{_are(len(missing))} missing ({_bounded(shown)})")
    if unexpected:
        shown = _names(unexpected, weights)
        problems.append(f"{len(unexpected):,} {_are(len(unexpected))} not in its model "
                        f"({_bounded(shown)})")
    if reshaped:
        verb = "has" if len(reshaped) == 1 else "have"
        problems.append(f"{len(reshaped):,} {verb} another shape ({_examples(reshaped)})")
    if unusable:
        problems.append(f"{len(unusable):,} cannot be loaded ({_examples(unusable)})")
    return problems


def _examples(items: list[str]) -> str:
    return "; ".join(items[:3]) + ("; ..." if len(items) > 3 else "")


def _unusable(name: str, tensor: torch.Tensor) -> str:
    """Why a tensor of the right name and shape cannot stand for the model's; "" if it can."""
    if tensor.is_meta:
        return "holds no data (a meta tensor)"
    if tensor.layout != torch.strided:
        return f"is a {str(tensor.layout).removeprefix('torch.')} tensor, not a dense one"
    if name.endswith(".num_batches_tracked"):
        ok = not (tensor.is_floating_point() or tensor.is_complex() or tensor.dtype == torch.bool)
        return "" if ok else f"is {tensor.dtype}, not an integer"
    return "" if tensor.is_floating_point() else f"is {tensor.dtype}, not floating point"


def _names(chosen: list[str], universe) -> str:
    """A few patterns for the chosen names; when they are all of them, the first few names."""
    found = [pattern or "''" for pattern in patterns(set(chosen), universe)]  # a name ""
    shown = [name or "''" for name in chosen]
    if found == ["*"] and len(chosen) <= 3:
        return ", ".join(shown)
    if found == ["*"]:
        return "all: " + ", ".join(shown[:3]) + (", ..." if len(chosen) > 3 else "")
    return ", ".join(found[:MAX_SHOWN]) + (", ..." if len(found) > MAX_SHOWN else "")


def _are(count: int) -> str:
    return "is" if count == 1 else "are"


def _bounded(text: str) -> str:
    return shortened(printable(text), 200)


# --------------------------------------------------------------------------- checkpoint files


class CheckpointError(Exception):
    """A checkpoint file that cannot be read: `path: error[CODE]: message`."""

    def __init__(self, path: str, code: str, message: str):
        super().__init__(printable(f"{path}: error[{code}]: {message}"))


def read_checkpoint(path: str):
    """What a checkpoint file holds: torch.save's format (loaded with weights_only, so that it
    runs no code), or safetensors' by its `.safetensors` name."""
    try:
        size = file_size(path, MAX_CHECKPOINT_BYTES, "a checkpoint file")
    except Unreadable as e:
        raise CheckpointError(path, e.code, e.message) from None
    free = free_memory()
    if free is not None and size > free:
        raise CheckpointError(path, "E104", f"the file is {size / 2**30:,.1f} GiB, more than "
                                            f"the {free / 2**30:,.1f} GiB of memory free to read "
                                            "it into")
    try:
        with warnings.catch_warnings():  # torch's notes on what a file holds (sparse or quantized
            warnings.simplefilter("ignore")  # tensors) are not archc's one line
            if path.endswith(".safetensors"):
                return _safetensors(path).load_file(path, device="cpu")
            return torch.load(path, map_location="cpu", weights_only=True)
    except (IsADirectoryError, PermissionError) as e:
        raise CheckpointError(path, "E103", f"the file cannot be read: {e.strerror}") from None
    except CheckpointError:
        raise
    except Exception as e:  # torch and safetensors raise many kinds for a bad file
        raise CheckpointError(path, "E701", _load_failure(e, path)) from None


def _safetensors(path: str):
    try:
        import safetensors.torch
    except ImportError:
        raise CheckpointError(path, "E703", "a .safetensors file needs the safetensors package, "
                                            "which is not installed: pip install "
                                            "'archc[torch]'") from None
    return safetensors.torch


def _load_failure(error: Exception, path: str) -> str:
    text = str(error)
    unsafe = re.search(r"Unsupported global: GLOBAL (\S+)", text)
    if "Weights only load failed" in text:
        what = f" (`{unsafe.group(1)}`)" if unsafe else ""
        return (f"it holds Python objects other than tensors{what}, which archc does not "
                "unpickle, since unpickling can run any code: save the model's state_dict()")
    first = text.strip().splitlines()[0] if text.strip() else ""
    kind = "safetensors file" if path.endswith(".safetensors") else "file torch.save wrote"
    return f"not a {kind} ({type(error).__name__}: {shortened(first, 200)})"


def checkpoint_bytes(state: dict[str, torch.Tensor], path: str) -> bytes:
    """A state_dict in the format the output's name asks for: safetensors for `.safetensors`,
    torch.save's for any other."""
    if path.endswith(".safetensors"):
        return _safetensors(path).save({name: t.contiguous() for name, t in state.items()})
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()
