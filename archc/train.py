"""`archc train`: a spec's model trained on an image folder (or on random data), on one device or,
under torchrun, on several with DistributedDataParallel. Only rank 0 writes: after each epoch
the run folder's checkpoint.pt (everything a resumed run needs) and metrics.csv, together and
atomically. Needs torch and torchvision."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import math
import os
import random
import signal
import stat
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn

from .api import build_model
from .compiler import compile_spec
from .diff import compare, format_summary
from .errors import SpecError, printable, shortened
from .files import Unreadable, file_kind, read_bounded
from .ir import graph as ir
from .ir.cost import CostModel
from .ir.graph import Network, fingerprint
from .limits import MAX_EXTENDS, MAX_INCLUDES, free_memory
from .output import write_all
from .runs import (
    CHECKPOINT,
    CHOICES,
    COLUMNS,
    LIMITS,
    MAX_EPOCHS,
    METRICS,
    RANGES,
    VALIDATION,
    Options,
    RunError,
    has_top5,
    metrics_text,
    read_metrics,
)
from .spec.load import MAX_BYTES
from .weights import TransferError, read_checkpoint, transfer

FORMAT = "archc-train-1"  # the checkpoint's `format`
ONE_CLASS = "a classifier learns nothing from one class (any prediction is right)"
KEYS = ("fingerprint", "spec", "options", "epoch", "model", "optimizer", "scheduler", "scaler",
        "rng", "history")
SYNC_EVERY = 20  # steps between the progress bar's updates, which wait for the device
# What a resumed run may change: where the data is and how it is read and shown, and how long
# the run goes on (unless its cosine schedule depends on it). Anything else would make it
# another run.
RESUMABLE = ("data", "epochs", "workers", "progress", "out", "resume", "device", "compile")
# An image folder is listed by archc's own walk (torchvision's os.walk(followlinks=True) goes
# round a link to a folder above it, and two such links make it exponential): links to folders
# are followed, each real folder entered once, and the walk is bounded as it goes.
# Files under train/ or val/: above ImageNet-21k's 14 million images (whose listing takes a
# few GiB of memory).
MAX_FILES = 20_000_000
MAX_DEPTH = 32  # folders below a class folder
# PIL refuses an image of more than 2 x 89,478,485 pixels as a decompression bomb; stored
# uncompressed as 8-bit RGB (BMP, TIFF), such an image takes 512 MiB.
MAX_IMAGE_BYTES = 512 * 2**20


class TrainError(Exception):
    """A problem with the data, the run folder or the options: `where: error[CODE]: message`;
    `detail`, if any, is information for standard output (archc diff's summary)."""

    def __init__(self, where, code: str, message: str, detail: str = ""):
        super().__init__(printable(f"{where}: error[{code}]: {message}"))
        self.detail = detail


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during a run; its message says what the run folder holds (archc's last line)."""


def _interrupted(folder: Path) -> str:
    """What an interrupted run leaves, read from its folder: checkpoint.pt and metrics.csv are
    written together or not at all (output.write_all), so metrics.csv's last row is the epoch
    of the checkpoint, whichever moment Ctrl-C came at (a save that it stopped rolls back)."""
    if not (folder / CHECKPOINT).is_file():
        return "archc: interrupted before the first epoch finished; nothing was saved"
    try:
        epoch = f"epoch {read_metrics(str(folder))[-1]['epoch']:.0f}"
    except RunError:  # not as archc wrote it: say no more than that there is a checkpoint
        epoch = "the last finished epoch"
    return printable(f"archc: interrupted; {folder} holds the checkpoint of {epoch} (continue "
                     "with --resume)")


class DataError(Exception):
    """An image that cannot be read: `path: error[E805]: message`. A DataLoader worker passes
    on only a traceback's text, whose last line is the message."""

    @classmethod
    def unwrapped(cls, error: Exception) -> DataError:
        return cls(str(error).strip().splitlines()[-1].split("DataError: ", 1)[-1])


@dataclass
class Run:
    model: nn.Module  # the trained model, unwrapped (no DDP, not compiled)
    history: list[dict]  # one row of COLUMNS per epoch
    folder: Path


def options_for(given: dict, stored: dict) -> Options:
    """A resumed run's options: those it was started with, where only RESUMABLE ones may be
    given anew."""
    resumable = [n for n in RESUMABLE if n != "epochs" or stored.get("schedule") != "cosine"]
    changed = [name for name, value in given.items()
               if name not in resumable and name != "spec" and stored.get(name) != value]
    if changed:
        shown = ", ".join(f"--{n.replace('_', '-')} {given[n]!r} (the run's: {stored.get(n)!r}"
                          + (", which its cosine schedule ends at" if n == "epochs" else "")
                          + ")" for n in changed)
        raise TrainError(given.get("out") or stored["out"], "E806",
                         f"a resumed run keeps its options, and these differ: {shown}; start a "
                         "new run (another --out) with --init-from to change them")
    known = {f.name for f in dataclasses.fields(Options)}
    merged = {**{k: v for k, v in stored.items() if k in known}, **given}
    return Options(**merged)


# ----------------------------------------------------------------------------------- the data


class Seeded(torch.utils.data.Dataset):
    """A dataset whose random augmentation depends only on (seed, epoch, index): the same
    images whatever the number of processes and DataLoader workers, and after a resume."""

    def __init__(self, dataset, seed: int):
        self.dataset, self.seed, self.epoch = dataset, seed, 0

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(((self.seed * 1_000_003 + self.epoch) * 1_000_003 + index) % 2**63)
            return self.dataset[index]


class _ImageFolder(torch.utils.data.Dataset):
    """torchvision's ImageFolder, listed by _image_listing: (image, class index) pairs."""

    def __init__(self, folder: Path, transform, loader):
        self.classes, self.samples = _image_listing(folder)
        self.transform, self.loader = transform, loader

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int):
        path, label = self.samples[index]
        return self.transform(self.loader(path)), label


def _image_listing(folder: Path) -> tuple[list[str], list[tuple[str, int]]]:
    """(classes, samples) as torchvision's ImageFolder finds them (the sorted subfolders; each
    file under one with an image extension, by folder and name), walked without going round:
    a class's walk enters each real folder once, and MAX_FILES and MAX_DEPTH bound it."""
    from torchvision.datasets.folder import IMG_EXTENSIONS

    classes = sorted(entry.name for entry, is_dir in _folder_entries(folder) if is_dir)
    if not classes:
        raise TrainError(folder, "E801", f"an image folder needs {folder.name}/<class>/<images> "
                         "(torchvision's ImageFolder layout), and this has no class folders")
    samples, files, empty = [], 0, []
    for label, name in enumerate(classes):
        images, entered, todo = [], set(), [(os.path.join(folder, name), 0)]
        while todo:
            path, depth = todo.pop()
            for entry, is_dir in _folder_entries(path, entered):
                files += 1
                if files > MAX_FILES:
                    raise TrainError(folder, "E801", f"more than {MAX_FILES:,} files, the most "
                                     "archc lists (a loop of links?)")
                if is_dir and depth == MAX_DEPTH:
                    raise TrainError(entry.path, "E801", f"a folder {MAX_DEPTH + 1} levels below "
                                     f"its class folder, deeper than archc goes (a loop of "
                                     "links?)")
                if is_dir:
                    todo.append((entry.path, depth + 1))
                elif entry.name.lower().endswith(IMG_EXTENSIONS):
                    images.append((path, entry.name))
        samples += [(os.path.join(*image), label) for image in sorted(images)]
        if not images:
            empty.append(name)
    if empty:
        raise TrainError(folder, "E801", f"no images in {', '.join(empty[:5])}"
                         f"{', ...' if len(empty) > 5 else ''} (an image is a "
                         f"{', '.join(IMG_EXTENSIONS)} file)")
    return classes, samples


def _folder_entries(path, entered: set | None = None) -> list[tuple[os.DirEntry, bool]]:
    """The entries of a folder and whether each is a folder (links followed), or none if its
    real folder is in `entered` (which it joins)."""
    try:
        if entered is not None:
            status = os.stat(path)
            if (status.st_dev, status.st_ino) in entered:
                return []
            entered.add((status.st_dev, status.st_ino))
        with os.scandir(path) as entries:
            return [(entry, _is_folder(entry)) for entry in entries]
    except OSError as e:
        raise TrainError(path, "E801", f"the folder cannot be read: {e.strerror}") from None


def _is_folder(entry: os.DirEntry) -> bool:
    try:
        return entry.is_dir()
    except OSError:  # as os.walk: a file
        return False


def _load_image(mode: str, path: str):
    """An image file, read as any file archc did not write (its kind and size checked first)."""
    from PIL import Image

    try:
        data = read_bounded(path, MAX_IMAGE_BYTES, "an image file")
        with Image.open(io.BytesIO(data)) as image:
            return image.convert(mode)
    except Unreadable as e:
        reason = e.message
    except Image.UnidentifiedImageError:  # PIL would name the BytesIO
        reason = f"the image cannot be read: cannot identify image file {path!r}"
    except (OSError, ValueError, Image.DecompressionBombError) as e:
        reason = "the image cannot be read: " + (e.strerror if isinstance(e, OSError)
                                                 and e.strerror else str(e))
    raise DataError(printable(f"{path}: error[E805]: {reason}"))


def _image_folders(options: Options, network: Network):
    """The train and val datasets of an ImageFolder root, checked against the spec."""
    import functools

    from torchvision import transforms

    root = Path(options.data)
    if not root.is_dir():
        raise TrainError(root, "E801", "the data folder does not exist" if not root.exists()
                         else "the data path is not a folder")
    channels, height, width = network.input_shape
    if channels not in (1, 3):
        raise TrainError(network.source, "E802", f"the network takes {channels}-channel "
                         "inputs; image files give 1 (greyscale) or 3 (RGB)")
    normalise = [transforms.PILToTensor(), transforms.ConvertImageDtype(torch.float32),
                 transforms.Normalize(network.mean, network.std)]
    mode = transforms.InterpolationMode(network.interpolation)
    # The shorter side to the spec's `resize`, as torchvision evaluates; else each side to
    # 1 / crop_pct of the crop's.
    resize = network.resize or tuple(round(side / ir.CROP_PCT) for side in (height, width))
    steps = {
        "train": [transforms.RandomResizedCrop((height, width), scale=(options.min_crop, 1.0),
                                               interpolation=mode, antialias=True),
                  transforms.RandomHorizontalFlip()],
        "val": [transforms.Resize(resize, interpolation=mode, antialias=True),
                transforms.CenterCrop((height, width))],
    }
    loader = functools.partial(_load_image, "RGB" if channels == 3 else "L")
    parts = {}
    for part, augment in steps.items():
        folder = root / part
        if not folder.is_dir():
            raise TrainError(folder, "E801", f"an image folder needs {part}/<class>/<images> "
                             "(torchvision's ImageFolder layout), and this is not a folder")
        parts[part] = _ImageFolder(folder, transforms.Compose(augment + normalise), loader)
    train, val = parts["train"], parts["val"]
    if train.classes != val.classes:
        only = sorted(set(train.classes) ^ set(val.classes))
        raise TrainError(root, "E801", "train/ and val/ have different classes "
                         f"({', '.join(only[:5])}{', ...' if len(only) > 5 else ''} in one only)")
    if len(train.classes) < 2:
        raise TrainError(root / "train", "E801", f"one class ({train.classes[0]}): {ONE_CLASS}; "
                         "add another")
    if len(train.classes) != network.num_classes:
        raise TrainError(network.source, "E802",
                         f"the data has {len(train.classes)} classes, the network "
                         f"{network.num_classes}: train with --set num_classes="
                         f"{len(train.classes)}")
    return train, val


class Synthetic:
    """Random images and labels made once on the device: a data loader that costs nothing, for
    smoke tests and throughput."""

    def __init__(self, network: Network, batch: int, steps: int, device, seed: int):
        generator = torch.Generator(device="cpu").manual_seed(seed)
        self.images = torch.randn(batch, *network.input_shape, generator=generator).to(device)
        self.labels = torch.randint(network.num_classes, (batch,), generator=generator).to(device)
        self.steps = steps

    def __len__(self) -> int:
        return self.steps

    def __iter__(self) -> Iterator:
        return iter([(self.images, self.labels)] * self.steps)


# ---------------------------------------------------------------------------------- training


class _Process:
    """This process's place: rank and world size under torchrun (one process otherwise)."""

    def __init__(self, device_kind: str):
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        if self.world > 1 and not dist.is_initialized():
            dist.init_process_group("nccl" if device_kind == "cuda" else "gloo")

    @property
    def main(self) -> bool:
        return self.rank == 0

    def sum(self, values: list[float], device) -> list[float]:
        tensor = torch.tensor(values, dtype=torch.float64, device=device)
        if self.world > 1:
            dist.all_reduce(tensor)
        return tensor.tolist()

    def gather(self, value) -> list:
        if self.world == 1:
            return [value]
        out = [None] * self.world
        dist.all_gather_object(out, value)
        return out

    def barrier(self) -> None:
        if self.world > 1:
            dist.barrier()

    def close(self) -> None:
        if self.world > 1 and dist.is_initialized():
            dist.destroy_process_group()


def train(spec: str, **given) -> Run:
    """Trains spec's model as the keyword arguments (Options' fields) say; a resumed run
    (resume=True) takes the options it was started with. Raises TrainError, DataError,
    CheckpointError and SpecError for the user's mistakes."""
    given = {"spec": spec, **given}
    if "overrides" in given:
        given["overrides"] = tuple(given["overrides"])
    options = Options(**given)
    network = compile_spec(spec, options.overrides)
    folder = Path(options.out or f"runs/{network.name}")
    options = dataclasses.replace(options, out=str(folder))
    checkpoint = _checkpoint(options, folder)
    _check_writable(folder)
    if checkpoint is not None:
        options = options_for(given, checkpoint["options"])
        network = compile_spec(spec, options.overrides)
        _check_same_network(checkpoint, network, folder / CHECKPOINT, spec)
    if network.num_classes < 2:
        raise TrainError(network.source, "E802", f"the network has 1 class: {ONE_CLASS}; train "
                         "with --set num_classes=N, N at least 2")
    if not (options.data or options.synthetic):
        raise TrainError(spec, "E806", "train on what? give --data DIR (an image folder) or "
                                       "--synthetic")
    device = torch.device(options.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if device.type == "cuda" and not torch.cuda.is_available():
        raise TrainError("--device", "E806", "CUDA was asked for and there is no GPU here")
    process = _Process(device.type)
    try:
        return _train(options, network, folder, checkpoint, process, device)
    except KeyboardInterrupt:
        raise Interrupted(_interrupted(folder)) from None
    except torch.OutOfMemoryError:
        raise TrainError(folder, "E806", f"out of memory on the GPU with batches of "
                         f"{options.batch_size // process.world} images per process: lower "
                         "--batch-size") from None
    finally:
        process.close()


def _train(options: Options, network: Network, folder: Path, checkpoint: dict | None,
           process: _Process, device: torch.device) -> Run:
    if device.type == "cuda":
        device = torch.device("cuda", process.local_rank)
        torch.cuda.set_device(device)
    if options.batch_size % process.world:
        raise TrainError("--batch-size", "E806", f"{options.batch_size} images do not divide "
                         f"among {process.world} processes")
    batch = options.batch_size // process.world
    if batch == 1 and (single := _single_value_batchnorm(network)):
        raise TrainError("--batch-size", "E806", f"a batch of 1 image per process gives the "
                         f"BatchNorm of {single} one value per channel (a 1 x 1 map), from "
                         "which it cannot compute statistics: raise --batch-size")
    if device.type == "cpu":
        _check_memory(network, batch, folder)
    if options.synthetic:
        train_data = Synthetic(network, batch, options.steps, device, options.seed)
        val_data, sampler = None, None
    else:
        train_set, val_set = _image_folders(options, network)
        train_data, val_data, sampler = _loaders(options, train_set, val_set, batch, process,
                                                 device)

    torch.manual_seed(options.seed)  # the same initial weights in every process
    model = build_model(network)
    if options.init_from and checkpoint is None:
        moved = _initialise(model, options, network)
        if process.main:
            print(f"{options.init_from}: {moved.report()}")
    layout = torch.channels_last if device.type == "cuda" else torch.preserve_format
    model.to(device, memory_format=layout)
    wrapped: nn.Module = model
    if process.world > 1:
        wrapped = nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None)
    if options.compile:
        wrapped = torch.compile(wrapped)

    optimizer = make_optimizer(options, model)
    scheduler = _scheduler(options, optimizer)
    precision = options.precision or ("bf16" if device.type == "cuda" else "fp32")
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": None}[precision]
    scaler = torch.amp.GradScaler(device.type, enabled=precision == "fp16")
    criterion = nn.CrossEntropyLoss(label_smoothing=options.label_smoothing)

    history: list[dict] = []
    start = 0
    if checkpoint is not None:
        path = folder / CHECKPOINT
        _load_model(model, checkpoint["model"], path)
        _load_optimizer(optimizer, checkpoint["optimizer"], path)
        _load_state(scheduler, checkpoint["scheduler"], "scheduler", path)
        _load_state(scaler, checkpoint["scaler"], "scaler", path)
        history, start = list(checkpoint["history"]), checkpoint["epoch"]
        _set_rng(checkpoint["rng"], process, path)
    else:
        torch.manual_seed(options.seed + process.rank)  # dropout differs between processes

    if start >= options.epochs and process.main:
        print(f"{folder}: the run has done its {start} epoch{'s' if start != 1 else ''}; train "
              "it further with --resume --epochs N")
    for epoch in range(start, options.epochs):
        began = time.perf_counter()
        lr = optimizer.param_groups[0]["lr"]
        if sampler is not None:
            sampler.set_epoch(epoch)
            train_data.dataset.epoch = epoch
        loss, top1, images = _train_epoch(wrapped, train_data, optimizer, scaler, criterion,
                                          options, dtype, layout, device, process, epoch)
        seconds = time.perf_counter() - began
        scheduler.step()
        row = {"epoch": epoch + 1, "lr": lr, "train_loss": loss, "train_top1": top1,
               "val_loss": None, "val_top1": None, "val_top5": None,
               "images_per_s": images / seconds, "seconds": None}
        if val_data is not None:
            row["val_loss"], row["val_top1"], row["val_top5"] = _evaluate(
                model, val_data, criterion, dtype, layout, device, process)
            if not has_top5(network.num_classes):
                row["val_top5"] = None  # every image is in the top 5 of fewer than 6 classes
            if not math.isfinite(row["val_loss"]):
                raise TrainError(options.out, "E807", f"the validation loss became "
                                 f"{row['val_loss']} in epoch {epoch + 1}: training diverged; "
                                 "lower --lr (the run folder keeps the last finished epoch)")
        row["seconds"] = time.perf_counter() - began
        history.append(row)
        rng = process.gather(_rng())
        if process.main:
            print(_epoch_line(row, options.epochs))
            _save(folder, network, options, epoch + 1, model, optimizer, scheduler, scaler,
                  rng, history)
    process.barrier()  # no process leaves while rank 0 still writes
    return Run(model, history, folder)


def _single_value_batchnorm(network: Network) -> str | None:
    """The key of a layer whose BatchNorm sees one value per channel of each image (a 1 x 1 map
    or a flat input), or None."""
    graphs = [(network.body, network.shapes.body), (network.head, network.shapes.head)]
    graphs += [(network.blocks[i.block].graph, i.shapes)
               for i in network.shapes.instances.values()]
    for g, shapes in graphs:
        for node, shape in shapes.items():
            op = ir.node(g, node).op
            if op.batch_statistics and shape is not None and math.prod(shape[1:]) == 1:
                return ir.node(g, node).key
    return None


def _check_memory(network: Network, batch: int, folder: Path) -> None:
    """Refuses a batch whose activations alone would not fit in the memory free now: the
    operating system would kill the process, with no error to show. Training keeps about two
    float32 values per value of a forward pass (the activations and their gradients)."""
    free = free_memory()
    if free is None:  # the system does not say: nothing to go by
        return
    needed = 2 * 4 * batch * CostModel(network, network.shapes).total().activations
    if needed > free:
        raise TrainError(folder, "E806", f"a batch of {batch} images needs about "
                         f"{needed / 2**30:,.1f} GiB for its activations, and {free / 2**30:,.1f} "
                         "GiB of memory are free: lower --batch-size")


def _checkpoint(options: Options, folder: Path) -> dict | None:
    """The checkpoint a resumed run continues from (None for a new run), after checking that
    the run folder fits what was asked."""
    path = folder / CHECKPOINT
    if not options.resume:
        if path.exists():
            raise TrainError(folder, "E803", "the run folder already holds a checkpoint: "
                             "continue it with --resume, or train into another --out")
        return None
    if not path.exists():
        raise TrainError(folder, "E803", f"there is no {CHECKPOINT} here to resume")
    checkpoint = read_checkpoint(str(path))
    if not isinstance(checkpoint, dict) or checkpoint.get("format") != FORMAT:
        raise TrainError(path, "E803", "not a checkpoint that archc train wrote")
    missing = [key for key in KEYS if key not in checkpoint]
    if missing:
        raise _damaged(path, f"it has no {', '.join(missing)}")
    problem = _checkpoint_problem(checkpoint)
    if problem:
        raise _damaged(path, problem)
    return checkpoint


def _damaged(path, problem: str) -> TrainError:
    return TrainError(path, "E803", f"a damaged checkpoint: {problem}")


def _checkpoint_problem(checkpoint: dict) -> str:
    """What keeps a checkpoint from being resumed ("" if nothing), found before any of it is
    used: it is data from a file, and may be anything. The states of the model, optimizer,
    scheduler and scaler are checked against the network's as they are loaded."""
    options, epoch, history = checkpoint["options"], checkpoint["epoch"], checkpoint["history"]
    problem = _options_problem(options) or _record_problem(checkpoint["spec"], options)
    if problem:
        return problem
    if not isinstance(checkpoint["fingerprint"], str):
        return "its fingerprint is not a text"
    if type(epoch) is not int or not 1 <= epoch <= MAX_EPOCHS:
        return f"its epoch is not a whole number from 1 to {MAX_EPOCHS:,}"
    if not isinstance(history, list) or len(history) != epoch \
            or not all(_is_row(row, n) for n, row in enumerate(history, 1)):
        return f"its history is not a row of metrics ({', '.join(COLUMNS)}) for each of its " \
               f"{epoch} epochs"
    model = checkpoint["model"]
    if not isinstance(model, dict) or not all(isinstance(name, str)
                                              and isinstance(tensor, torch.Tensor)
                                              for name, tensor in model.items()):
        return "its model is not a state_dict (tensors by name)"
    for key in ("optimizer", "scheduler", "scaler"):
        if not isinstance(checkpoint[key], dict):
            return f"its {key} state is not a table"
    rng = checkpoint["rng"]
    if not isinstance(rng, list) or not rng or not all(map(_is_rng_state, rng)):
        return "its rng is not a list of random states (torch, python, cuda), one per process"
    return ""


def _options_problem(options) -> str:
    """What keeps a checkpoint's options from being used ("" if nothing): each one it has
    must be one the command line could give."""
    if not isinstance(options, dict):
        return "its options are not a table"
    for field in dataclasses.fields(Options):
        if field.name not in options:  # a default
            continue
        value, (kind, _, optional) = options[field.name], field.type.partition(" | ")
        if not (value is None and optional or _fits(value, kind, field.name)):
            return f"its options' {field.name} is not a value that archc train takes"
    return ""


def _fits(value, kind: str, name: str) -> bool:
    """Whether an option's value is of its kind (an Options field's type) and range."""
    if kind == "bool" or isinstance(value, bool):
        return kind == "bool" and isinstance(value, bool)
    if kind in ("int", "float"):
        low, high = RANGES[name]
        return isinstance(value, int if kind == "int" else (int, float)) and low <= value <= high
    if kind == "str":
        return isinstance(value, str) and value in CHOICES.get(name, (value,))
    return isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value)


def _is_row(row, epoch: int) -> bool:
    """Whether a history row is what _train writes for the epoch: a number within LIMITS in
    each column (the validation columns may be empty)."""
    def fits(column: str) -> bool:
        value = row[column]
        if value is None:
            return column in VALIDATION
        low, high, _ = LIMITS[column]
        return _is_number(value) and low <= value <= high
    return isinstance(row, dict) and set(row) == set(COLUMNS) and row["epoch"] == epoch \
        and all(map(fits, COLUMNS))


def _is_rng_state(state) -> bool:
    """Whether a process's random state, as _rng records it, can be set: tried on generators
    of their own (the CUDA one is tried when it is set)."""
    if not isinstance(state, dict) or set(state) != {"torch", "python", "cuda"}:
        return False
    cuda = state["cuda"]
    if cuda is not None and not (isinstance(cuda, torch.Tensor) and cuda.dtype == torch.uint8):
        return False
    try:
        torch.Generator().set_state(state["torch"])
        random.Random().setstate(state["python"])
    except (LookupError, TypeError, ValueError, RuntimeError, OverflowError):
        return False
    return True


def _load_model(model: nn.Module, state: dict, path: Path) -> None:
    """A checkpoint's weights, each tensor's name and shape checked first, so that the message
    names the first one that does not fit."""
    expected = model.state_dict()
    for name, tensor in expected.items():
        if name not in state:
            raise _damaged(path, f"its model has no {name}")
        if state[name].shape != tensor.shape:
            raise _damaged(path, f"its model's {name} has the shape {tuple(state[name].shape)}, "
                           f"the network's {tuple(tensor.shape)}")
    extra = next((name for name in state if name not in expected), None)
    if extra is not None:
        raise _damaged(path, f"its model has {shortened(printable(extra), 80)}, which the "
                       "network does not")
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        raise _damaged(path, f"its model does not load ({shortened(printable(str(e)), 200)})") \
            from None


def _load_optimizer(optimizer: torch.optim.Optimizer, state: dict, path: Path) -> None:
    """A checkpoint's optimizer state, which must fit the model's parameters: torch checks the
    groups' sizes, and takes hyperparameters and per-parameter tensors as they are (a wrong
    one would fail at the first step), so those are checked here. The hyperparameters come
    from the run's options, which a resumed run keeps: only the learning rate has changed."""
    fresh = [{k: v for k, v in group.items() if k != "params"} for group in optimizer.param_groups]
    try:
        optimizer.load_state_dict(state)
    except (LookupError, TypeError, ValueError, RuntimeError, AttributeError):
        raise _damaged(path, "its optimizer state does not fit the network's parameters") \
            from None
    for group, before in zip(optimizer.param_groups, fresh):
        for key, value in before.items():
            if key not in group or not _same_form(group[key], value) \
                    or key != "lr" and group[key] != value:
                raise _damaged(path, f"its optimizer state's {key} is not a value that torch "
                               "writes there")
    sgd = isinstance(optimizer, torch.optim.SGD)  # whose momentum may not have begun (None)
    for param, values in optimizer.state.items():
        if not isinstance(param, torch.Tensor) or not isinstance(values, dict):
            raise _damaged(path, "its optimizer state holds more than the network's parameters")
        for key, value in values.items():
            fits = value is None and sgd or isinstance(value, torch.Tensor) and (
                value.numel() == 1 if key == "step"
                else value.shape == param.shape and value.is_floating_point())
            if not fits:
                raise _damaged(path, f"its optimizer state's {shortened(printable(str(key)), 40)} "
                               "does not fit its parameter")


def _load_state(thing, state: dict, what: str, path: Path) -> None:
    """A scheduler's or gradient scaler's state, which torch takes as it is: each value must be
    of the form of a fresh one's. Of torch's private entries (an underscore), which differ
    between its versions, a missing one keeps its fresh value."""
    fresh = thing.state_dict()
    for key, value in fresh.items():
        if key in state and not _same_form(state[key], value):
            raise _damaged(path, f"its {what} state's {key} is not a value that torch writes "
                           "there")
        if key not in state and not key.startswith("_"):
            raise _damaged(path, f"its {what} state has no {key}")
    thing.load_state_dict({**fresh, **{k: state[k] for k in fresh if k in state}})


def _same_form(value, fresh) -> bool:
    """Whether a state's value is of the form of a fresh one: a number for a number, a truth
    value (or None) for one, lists of the same length of such."""
    if fresh is None or isinstance(fresh, bool):
        return isinstance(value, bool) or value is None and fresh is None
    if isinstance(fresh, (int, float)):
        return _is_number(value)
    if isinstance(fresh, (list, tuple)):
        return isinstance(value, (list, tuple)) and len(value) == len(fresh) \
            and all(map(_same_form, value, fresh))
    return type(value) is type(fresh)


def _is_number(value) -> bool:
    """A finite int or float of 64 bits, not a truth value."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) \
        and (abs(value) < 2**63 if isinstance(value, int) else math.isfinite(value))


def _check_writable(folder: Path) -> None:
    """Before any training: the run folder, or the folder it will be made in, can be written,
    and what it holds can be replaced. A link to nothing or to itself is there (lexists, where
    os.path.exists says it is not), and is not a folder."""
    existing = folder
    while not os.path.lexists(existing) and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        what = "a link that leads to no folder" if existing.is_symlink() else "not a folder"
        raise TrainError(existing, "E803", f"the run folder cannot be made: this is {what}")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise TrainError(existing, "E803", "the run folder cannot be written: no permission")
    for name in (CHECKPOINT, METRICS):  # which _save replaces if they are files
        try:
            mode = os.lstat(folder / name).st_mode
        except OSError:  # none there (or the folder is not made yet)
            continue
        if not stat.S_ISREG(mode):
            kind = "a folder" if stat.S_ISDIR(mode) else file_kind(mode)
            raise TrainError(folder / name, "E803", f"this is {kind}, which archc does not "
                             f"replace with the run's {name}")


def _check_same_network(checkpoint: dict, network: Network, path: Path, spec: str) -> None:
    if checkpoint["fingerprint"] == fingerprint(network):
        return
    trained = _recorded_network(checkpoint, path)
    raise TrainError(path, "E804", f"the checkpoint is of another network than {spec} "
                     f"({trained.name}, trained as {checkpoint['spec']['path']}); what archc "
                     "diff says becomes of its tensors:",
                     detail=format_summary(compare(trained, network)) + "\nResume with the "
                     "spec it was trained as, or start a new run from its weights with "
                     "--init-from.")


def _initialise(model: nn.Module, options: Options, network: Network):
    """Carries what keeps its meaning from options.init_from (archc's weight transfer)."""
    checkpoint = read_checkpoint(options.init_from)
    if options.init_spec:
        source = compile_spec(options.init_spec)
    elif isinstance(checkpoint, dict) and checkpoint.get("format") == FORMAT:
        source = _recorded_network(checkpoint, options.init_from)
    else:
        source = network
    try:
        return transfer(checkpoint, model, source=source)
    except TransferError as e:
        hint = "" if options.init_spec else " (name the spec it was trained as with --init-spec)"
        raise TrainError(options.init_from, "E702", f"{e}{hint}") from None


def _loaders(options: Options, train_set, val_set, batch: int, process: _Process, device):
    """Each process reads its share: a DistributedSampler over the training images (the same
    order for any number of processes: batch b of all processes together is batch b of one
    process with their global batch) and every world-th validation image."""
    from torch.utils.data import DataLoader, DistributedSampler, Subset

    seeded = Seeded(train_set, options.seed)
    sampler = DistributedSampler(seeded, num_replicas=process.world, rank=process.rank,
                                 shuffle=True, seed=options.seed, drop_last=True)
    if len(sampler) < batch:
        raise TrainError(options.data, "E806", f"{len(train_set)} training images do not fill "
                         f"one batch of {options.batch_size}: lower --batch-size")
    common = {"num_workers": options.workers, "pin_memory": device.type == "cuda",
              "worker_init_fn": _leave_interrupts}
    train = DataLoader(seeded, batch_size=batch, sampler=sampler, drop_last=True, **common)
    shard = Subset(val_set, range(process.rank, len(val_set), process.world))
    return train, DataLoader(shard, batch_size=batch, **common), sampler


def make_optimizer(options: Options, model: nn.Module) -> torch.optim.Optimizer:
    # Weights decay; biases, norms' affine parameters and layer scales (C x 1 x 1) do not.
    decayed = [p for p in model.parameters() if p.squeeze().ndim > 1]
    plain = [p for p in model.parameters() if p.squeeze().ndim <= 1]
    groups = [{"params": decayed, "weight_decay": options.weight_decay},
              {"params": plain, "weight_decay": 0.0}]
    if options.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=options.lr, momentum=options.momentum, nesterov=True)
    # TensorFlow's RMSProp, which the paper used, adds epsilon inside the square root; torch's
    # outside: with epsilon 1.0 both divide small gradients by about 1.
    return torch.optim.RMSprop(groups, lr=options.lr, alpha=0.9, eps=1.0,
                               momentum=options.momentum)


def _scheduler(options: Options, optimizer):
    if options.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, max(options.epochs, 1))
    return torch.optim.lr_scheduler.StepLR(optimizer, options.decay_epochs, options.lr_decay)


def _train_epoch(model, data, optimizer, scaler, criterion, options: Options, dtype, layout,
                 device, process: _Process, epoch: int) -> tuple[float, float, int]:
    """(mean loss, top-1 accuracy, images seen by all processes) of one epoch."""
    from tqdm import tqdm

    model.train()
    totals = torch.zeros(3, dtype=torch.float64, device=device)  # loss sum, correct, images
    bar = tqdm(total=len(data), desc=f"epoch {epoch + 1}/{options.epochs}", unit="batch",
               leave=False, dynamic_ncols=True, file=sys.stderr,
               disable=not (options.progress and process.main))
    began = time.perf_counter()
    try:
        for step, (images, labels) in enumerate(_batches(data), 1):
            images = images.to(device, non_blocking=True, memory_format=layout)
            labels = labels.to(device, non_blocking=True)
            loss, logits = step_once(model, images, labels, optimizer, scaler, criterion,
                                     options.clip_grad, dtype)
            totals += torch.stack([loss.detach().double() * len(labels),
                                   (logits.argmax(1) == labels).sum().double(),
                                   torch.tensor(len(labels), dtype=torch.float64, device=device)])
            if step % SYNC_EVERY == 0 or step == len(data):
                loss_sum, _, seen = totals.tolist()
                _check_finite(loss_sum, options.out, epoch, step)
                rate = seen * process.world / (time.perf_counter() - began)
                bar.set_postfix_str(f"loss {loss_sum / seen:.3f}, {rate:,.0f} images/s")
            bar.update()
    finally:
        bar.close()
    loss_sum, correct, seen = process.sum(totals.tolist(), device)
    return loss_sum / seen, correct / seen, int(seen)


def step_once(model, images, labels, optimizer, scaler, criterion, clip_grad: float | None,
              dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """One optimizer step on a batch (autocast to dtype unless None); (loss, logits)."""
    with torch.autocast(images.device.type, dtype=dtype, enabled=dtype is not None):
        logits = model(images)
        loss = criterion(logits, labels)
    scaler.scale(loss).backward()
    if clip_grad is not None:
        scaler.unscale_(optimizer)
        nn.utils.clip_grad_norm_(model.parameters(), clip_grad)
    scaler.step(optimizer)
    scaler.update()
    optimizer.zero_grad(set_to_none=True)
    return loss, logits


def _leave_interrupts(worker: int) -> None:
    """A loader worker leaves Ctrl-C (which a terminal sends to every process of the job) to
    the main process, which stops the workers."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@contextlib.contextmanager
def _interrupts_held():
    """Ctrl-C held back until the block is done, then raised. A loader starts its workers with
    os.fork, and lets them go with multiprocessing's finalizers, both of which ignore a
    KeyboardInterrupt raised in their callbacks (the run went on); and one raised between two
    workers' starts leaves a half-made loader whose cleanup fails."""
    handler = signal.getsignal(signal.SIGINT)
    if threading.current_thread() is not threading.main_thread() or not callable(handler):
        yield  # only the main thread handles signals; an ignored one stays ignored
        return
    caught = []
    signal.signal(signal.SIGINT, lambda number, frame: caught.append(number))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, handler)
    if caught:
        handler(signal.SIGINT, None)


def _batches(data):
    """The loader's batches, with an unreadable image's message freed of the traceback a
    worker process wraps it in. Ctrl-C is held back while its workers start and go."""
    with _interrupts_held():
        batches = iter(data)
    try:
        yield from batches
    except DataError as e:
        raise DataError.unwrapped(e) from None
    finally:
        with _interrupts_held():
            del batches


def _check_finite(loss_sum: float, folder: str, epoch: int, step: int) -> None:
    if not math.isfinite(loss_sum):
        raise TrainError(folder, "E807", f"the loss became {loss_sum} in epoch {epoch + 1}, "
                         f"step {step}: training diverged; lower --lr, or keep --clip-grad on "
                         "(the run folder keeps the last finished epoch)")


@torch.no_grad()
def _evaluate(model, data, criterion, dtype, layout, device,
              process: _Process) -> tuple[float, float, float]:
    """(mean loss, top-1, top-5 accuracy) over the whole validation set, all processes'
    shares together. Runs the unwrapped model, whose forward needs no other process."""
    model.eval()
    totals = torch.zeros(4, dtype=torch.float64, device=device)  # loss, top-1, top-5, images
    for images, labels in _batches(data):
        images = images.to(device, non_blocking=True, memory_format=layout)
        labels = labels.to(device, non_blocking=True)
        with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            logits = model(images)
        loss = criterion(logits.float(), labels)
        best = logits.topk(min(5, logits.shape[1]), dim=1).indices
        hits = best == labels[:, None]
        totals += torch.stack([loss.double() * len(labels), hits[:, 0].sum().double(),
                               hits.any(1).sum().double(),
                               torch.tensor(len(labels), dtype=torch.float64, device=device)])
    loss_sum, top1, top5, seen = process.sum(totals.tolist(), device)
    return loss_sum / seen, top1 / seen, top5 / seen


def _epoch_line(row: dict, epochs: int) -> str:
    text = (f"epoch {row['epoch']}/{epochs}: train loss {row['train_loss']:.4f}, "
            f"top-1 {row['train_top1']:.1%}")
    if row["val_loss"] is not None:
        text += f"; val loss {row['val_loss']:.4f}, top-1 {row['val_top1']:.1%}"
        if row["val_top5"] is not None:
            text += f", top-5 {row['val_top5']:.1%}"
    return text + f"; {row['images_per_s']:,.1f} images/s, {row['seconds']:.1f} s"


# ------------------------------------------------------------------------------- checkpoints


def _rng() -> dict:
    return {"torch": torch.get_rng_state(), "python": random.getstate(),
            "cuda": torch.cuda.get_rng_state() if torch.cuda.is_available() else None}


def _set_rng(states: list[dict], process: _Process, path: Path) -> None:
    """Each process takes up its own random state; with another number of processes than the
    run had, each starts afresh (the run goes on, no longer bit for bit the same)."""
    if len(states) != process.world:
        torch.manual_seed(random.randrange(2**63) + process.rank)
        return
    state = states[process.rank]
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    if state["cuda"] is not None and torch.cuda.is_available():
        try:
            torch.cuda.set_rng_state(state["cuda"])
        except RuntimeError:
            raise _damaged(path, "its rng's CUDA state cannot be set") from None


def _spec_record(network: Network) -> dict:
    """The spec's files, so that a checkpoint can say how its network differs from another:
    each file's text by its path relative to their common folder."""
    paths = [os.path.abspath(path) for path, _ in network.sources]
    top = os.path.commonpath([os.path.dirname(p) for p in paths])
    files = {os.path.relpath(p, top): Path(p).read_text(encoding="utf-8") for p in paths}
    return {"path": network.source, "root": os.path.relpath(paths[0], top), "files": files}


def _recorded_network(checkpoint: dict, path) -> Network:
    """The network a checkpoint was trained as, compiled in memory from the spec files it
    records: a checkpoint's names never reach the disk."""
    record, options = checkpoint["spec"], checkpoint["options"]
    problem = _record_problem(record, options)
    if problem:
        raise TrainError(path, "E803", f"a damaged checkpoint: {problem}")
    try:
        network = compile_spec(record["root"], tuple(options["overrides"]), files=record["files"])
    except (SpecError, ValueError) as e:
        first = str(e.diagnostics[0]) if isinstance(e, SpecError) else str(e)
        raise TrainError(path, "E803", "a damaged checkpoint: the spec it records does not "
                         f"compile ({shortened(printable(first), 300)})") from None
    return dataclasses.replace(network, source=record["path"])


def _record_problem(record, options) -> str:
    """What keeps a checkpoint's record of its spec from being compiled ("" if nothing): the
    record is data from a file, and may be anything."""
    if not isinstance(record, dict) or not isinstance(record.get("files"), dict) \
            or not isinstance(record.get("root"), str) or not isinstance(record.get("path"), str):
        return "its spec record is not {path, root, files}"
    files = record["files"]
    if not 0 < len(files) <= MAX_INCLUDES + MAX_EXTENDS + 1:
        return f"its spec record holds {len(files):,} files"
    for name, text in files.items():
        if not isinstance(name, str) or not isinstance(text, str):
            return "its spec record's files are not texts by name"
        if os.path.isabs(name) or ".." in Path(name).parts or not name:
            return f"its spec record names `{shortened(printable(name), 80)}`, outside its folder"
        if len(text) > MAX_BYTES:
            return f"its spec record's `{shortened(printable(name), 80)}` is too large"
    if record["root"] not in files:
        return "its spec record does not hold its own spec"
    overrides = options.get("overrides") if isinstance(options, dict) else None
    if not isinstance(overrides, (list, tuple)) or not all(isinstance(o, str) for o in overrides):
        return "its options' overrides are not a list of KEY=VALUE texts"
    return ""


def _save(folder: Path, network: Network, options: Options, epoch: int, model, optimizer,
          scheduler, scaler, rng: list[dict], history: list[dict]) -> None:
    """checkpoint.pt and metrics.csv, both or neither (output.write_all)."""
    state = {"format": FORMAT, "network": network.name, "fingerprint": fingerprint(network),
             "spec": _spec_record(network), "options": dataclasses.asdict(options),
             "epoch": epoch, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
             "scheduler": scheduler.state_dict(), "scaler": scaler.state_dict(), "rng": rng,
             "history": history}
    buffer = io.BytesIO()
    torch.save(state, buffer)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise TrainError(folder, "E803", f"the run folder cannot be made: {e.strerror}") from None
    inputs = [path for path, _ in network.sources] + [options.init_from or ""]
    write_all({folder / CHECKPOINT: buffer.getvalue(), folder / METRICS: metrics_text(history)},
              [path for path in inputs if path])


