"""The `archc` command line."""

from __future__ import annotations

import argparse
import difflib
import errno
import json
import os
import shlex
import shutil
import sys
from pathlib import Path
from typing import Any, TypeVar

from .compiler import compile_spec
from .errors import SpecError, close_match, listing, printable
from .ir.cost import human, summary
from .ir.shapes import show
from .limits import MAX_SEED
from .output import OutputError, write_all
from .runs import RANGES, Options
from .spec.inherit import SCALE, split_override

FORMATS = ("svg", "png", "pdf", "dot")
SPEC_HELP = "spec files (default: specs/*.yaml, specs/variants/*.yaml and specs/zoo/*.yaml)"
T = TypeVar("T")


def main(argv: list[str] | None = None) -> int:
    """Runs one command. Whatever it prints goes through a guard, so that a closed or full
    standard output and Ctrl-C end archc with one line, not a traceback."""
    stdout = sys.stdout
    sys.stdout = _GuardedStdout(stdout)
    try:
        try:
            return _run(argv)
        finally:
            sys.stdout.flush()  # here, not at exit, where a failure could only be ignored
    except KeyboardInterrupt:
        _error("archc: interrupted; nothing was written")
        return 130
    except StdoutError as e:
        _silence(stdout)
        if e.errno != errno.EPIPE:  # a reader that stops reading (`| head`) is not a failure
            _error(f"error[E609]: standard output cannot be written: {e.strerror}")
        return 1
    finally:
        sys.stdout = stdout


class StdoutError(Exception):
    """Standard output cannot be written (a pipe closed early, a full disk). Not an OSError, which
    argparse would swallow when it prints --help."""

    def __init__(self, error: OSError):
        super().__init__(error.strerror)
        self.errno, self.strerror = error.errno, error.strerror


class _GuardedStdout:
    """sys.stdout while a command runs: a failed write raises StdoutError, which cannot be
    mistaken for a failure to read or write one of archc's own files."""

    def __init__(self, stream):
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            if self._stream is None:  # archc was started with standard output closed (`>&-`)
                raise OSError(errno.EBADF, os.strerror(errno.EBADF))
            return self._stream.write(text)
        except OSError as e:
            raise StdoutError(e) from None

    def writelines(self, lines) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        try:
            if self._stream is not None:
                self._stream.flush()
        except OSError as e:
            raise StdoutError(e) from None

    def __getattr__(self, name):
        return getattr(self._stream, name)


def _silence(stdout) -> None:
    """Points standard output at /dev/null, so that Python's own flush at exit, which would
    fail the same way, finds nothing to complain about."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stdout.fileno())
        os.close(devnull)
    except (AttributeError, OSError, ValueError):  # None or not a file (a test's capture)
        pass


def shell_quote(word: str) -> str:
    """`word` as a shell reads it back: shlex's quoting, or bash's $'...' for a word with line
    breaks or control characters, which must survive being printed on one line."""
    if word.isprintable():
        return shlex.quote(word)
    escapes = {"\n": "\\n", "\t": "\\t", "\r": "\\r", "\\": "\\\\", "'": "\\'"}
    return "$'" + "".join(escapes.get(c) or (c if c.isprintable() else f"\\U{ord(c):08x}")
                          for c in word) + "'"


def _error(message: str) -> None:
    print(printable(message), file=sys.stderr)


def _nonempty(text: str) -> str:
    """An empty path would mean the current folder (Path("") == Path(".")): almost always an
    unset shell variable, so a usage mistake rather than a file that is not there."""
    if not text:
        raise argparse.ArgumentTypeError("must not be empty")
    return text


def _run(argv: list[str] | None) -> int:
    parser = argparse.ArgumentParser(prog="archc", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    check = commands.add_parser("check", help="validate specs and print their shapes and costs")
    check.add_argument("specs", nargs="*", type=_nonempty, metavar="SPEC", help=SPEC_HELP)
    check.add_argument("--json", action="store_true", help="print the report as JSON")
    check.add_argument("--layers", action="store_true",
                       help="also list the layers of every block (of one instance when repeated)")

    build = commands.add_parser("build", help="generate PyTorch modules from specs")
    build.add_argument("specs", nargs="*", type=_nonempty, metavar="SPEC", help=SPEC_HELP)
    build.add_argument("-o", "--output", default="generated", type=_nonempty, metavar="DIR",
                       help="the folder to write <name>.py into (default: generated)")
    build.add_argument("--check", action="store_true",
                       help="write nothing; fail with a diff if the files are not up to date")
    build.add_argument("--deploy", action="store_true",
                       help="write the inference modules, <name>_deploy.py: BatchNorm and "
                            "residual scales folded into the convs, channels_last")

    render = commands.add_parser("render", help="draw the paper's block diagrams and overviews")
    render.add_argument("specs", nargs="*", type=_nonempty, metavar="SPEC", help=SPEC_HELP)
    render.add_argument("--block", metavar="NAME",
                        help="only this figure: a block definition's, stem or overview")
    render.add_argument("--format", action="append", choices=FORMATS, metavar="FORMAT",
                        help="svg (default), png, pdf or dot; repeat for several")
    render.add_argument("-o", "--output", default="figures", type=_nonempty, metavar="DIR",
                        help="the folder to write <network>-<figure>.<format> into "
                             "(default: figures)")
    render.add_argument("--shapes", action="store_true",
                        help="write the tensor shape on every edge")

    for command in (check, build, render):
        command.add_argument("--set", action="append", default=[], type=_override,
                             metavar="KEY=VALUE", dest="overrides",
                             help="change the spec as a variant would, e.g. num_classes=10, "
                                  "input.size=224, layers.repeat_1.repeat=10 (repeatable)")
        command.add_argument("--scale", metavar="NAME", type=_nonempty,
                             help="build with this entry of the spec's `scales` (the same as "
                                  "--set scale=NAME)")

    diff = commands.add_parser("diff", help="compare two specs: each stage's shapes and costs, "
                                            "and which trained tensors carry over")
    diff.add_argument("a", type=_nonempty, metavar="A",
                      help="the spec compared from (the one a checkpoint was trained as)")
    diff.add_argument("b", type=_nonempty, metavar="B", help="the spec compared with (a variant)")
    diff.add_argument("--json", action="store_true", help="print the comparison as JSON")
    for side, which in (("", "both specs"), ("-a", "A"), ("-b", "B")):
        diff.add_argument(f"--set{side}", action="append", default=[], type=_override,
                          metavar="KEY=VALUE", dest=f"overrides{side.replace('-', '_')}",
                          help=f"change {which} as a variant would (repeatable)")
        diff.add_argument(f"--scale{side}", metavar="NAME", type=_nonempty,
                          dest=f"scale{side.replace('-', '_')}",
                          help=f"build {which} with this entry of its `scales`")

    migrate = commands.add_parser("migrate", help="carry a checkpoint of spec A over to spec B: "
                                                  "every tensor whose meaning is unchanged")
    migrate.add_argument("checkpoint", type=_nonempty, metavar="CKPT",
                         help="a state_dict of A, or a training checkpoint holding one: "
                              "torch.save's format, or .safetensors")
    migrate.add_argument("--from", dest="source", required=True, type=_nonempty, metavar="A",
                         help="the spec the checkpoint was trained as")
    migrate.add_argument("--to", dest="target", required=True, type=_nonempty, metavar="B",
                         help="the spec to carry it to")
    migrate.add_argument("-o", "--output", required=True, type=_nonempty, metavar="OUT",
                         help="the state_dict of B to write: .safetensors, or torch.save's "
                              "format for any other name")
    migrate.add_argument("--seed", type=_seed, default=0,
                         help="the seed of B's initialisation, for the tensors not carried "
                              "(default 0)")

    _train_parser(commands)

    plot = commands.add_parser("plot", help="draw training curves of runs (archc train): top-1 "
                                            "error and loss against epochs, in one figure")
    plot.add_argument("runs", nargs="+", type=_nonempty, metavar="RUN",
                      help="run folders, each with the metrics.csv archc train writes")
    plot.add_argument("-o", "--output", default="curves.png", type=_figure_name, metavar="FILE",
                      help="the figure to write: .png (default curves.png), .svg or .pdf")

    commands.add_parser("schema", help="print the JSON Schema of the spec language")

    args = parser.parse_args(argv)
    if args.command == "train":
        return _train(args)
    if args.command == "plot":
        return _plot(args.runs, args.output)
    if args.command == "diff":
        sides = []
        for side in ("_a", "_b"):
            overrides = [*args.overrides, *getattr(args, f"overrides{side}")]
            for scale in (args.scale, getattr(args, f"scale{side}")):
                if scale is not None:
                    overrides.append(f"{SCALE}{scale}")
            sides.append(overrides)
        return _diff(args.a, args.b, args.json, sides)
    if args.command == "migrate":
        return _migrate(args.checkpoint, args.source, args.target, args.output, args.seed)
    if args.command != "schema" and not args.specs:
        args.specs = [str(p) for folder in (Path("specs"), Path("specs/variants"),
                                            Path("specs/zoo"))
                      for p in sorted(folder.glob("*.yaml"))]
        if not args.specs:
            parser.error(f"{args.command}: no SPEC given and no specs/*.yaml here")
    if args.command == "schema":
        from .spec.models import json_schema

        print(json.dumps(json_schema(), indent=2, sort_keys=True))
        return 0
    if args.scale is not None:
        args.overrides.append(f"{SCALE}{args.scale}")
    networks, failed = _compile_all(args.specs, args.overrides)
    if args.command == "build":
        return 1 if failed else _build(networks, Path(args.output), args.check, args.overrides,
                                       args.deploy)
    if args.command == "render":
        return 1 if failed else _render(networks, args.block, args.format or ["svg"],
                                        Path(args.output), args.shapes)
    return _check(networks, failed, args.json, args.layers)


def _train_parser(commands) -> None:
    """`archc train`'s options. Their defaults are archc.train.Options': an option left out is
    not in the namespace, so that a resumed run can tell what was given anew."""
    from .runs import CHOICES

    defaults = Options(spec="")

    def default(name: str) -> str:
        value = getattr(defaults, name)
        return "none" if value is None else str(value)

    train = commands.add_parser(
        "train", argument_default=argparse.SUPPRESS,
        help="train a spec's model on an image folder (or random data); under torchrun "
             "--nproc_per_node N, on N processes with DistributedDataParallel",
        description="Defaults follow the paper (RMSProp, decay 0.9, epsilon 1.0, learning rate "
                    "0.045 times 0.94 every two epochs, gradient clipping) and timm (label "
                    "smoothing 0.1). Each epoch writes RUN/checkpoint.pt and RUN/metrics.csv.")
    train.add_argument("spec", type=_nonempty, metavar="SPEC", help="the spec to train")
    source = train.add_mutually_exclusive_group()
    source.add_argument("--data", type=_nonempty, metavar="DIR",
                        help="an image folder: DIR/train/<class>/*, DIR/val/<class>/*")
    source.add_argument("--synthetic", action="store_true",
                        help="random images made on the device: a smoke test and a throughput "
                             "figure")
    train.add_argument("--set", action="append", type=_override, metavar="KEY=VALUE",
                       dest="overrides", help="change the spec as a variant would "
                                              "(e.g. num_classes=10; repeatable)")
    train.add_argument("--scale", metavar="NAME", type=_nonempty,
                       help="train this entry of the spec's `scales` (as --set scale=NAME)")
    train.add_argument("--out", type=_nonempty, metavar="RUN",
                       help="the run folder (default: runs/<network name>)")
    train.add_argument("--resume", action="store_true",
                       help="continue the run in the run folder from its last epoch, with its "
                            "options")
    train.add_argument("--init-from", type=_nonempty, metavar="CKPT",
                       help="start from a checkpoint's weights, each tensor whose meaning is "
                            "unchanged (as archc migrate carries them)")
    train.add_argument("--init-spec", type=_nonempty, metavar="SPEC",
                       help="the spec CKPT was trained as (default: the one an archc train "
                            "checkpoint records, else SPEC)")
    numbers = [("epochs", "N", "epochs"),
               ("batch_size", "N", "images per step, over all processes"),
               ("lr", "LR", "learning rate"), ("lr_decay", "F", "the step schedule's factor"),
               ("decay_epochs", "N", "epochs between the step schedule's decays"),
               ("momentum", "F", "momentum"),
               ("weight_decay", "F", "weight decay of conv and linear weights"),
               ("label_smoothing", "F", "label smoothing"),
               ("min_crop", "F", "the smallest random crop, as a fraction of an image's area"),
               ("workers", "N", "data loading processes"),
               ("steps", "N", "batches per epoch with --synthetic")]
    for name, metavar, what in numbers:
        train.add_argument(f"--{name.replace('_', '-')}", type=_option(name), metavar=metavar,
                           help=f"{what} (default {default(name)})")
    train.add_argument("--seed", type=_seed, metavar="N",
                       help=f"the seed of the initialisation and data order (default "
                            f"{default('seed')})")
    train.add_argument("--clip-grad", type=_optional_rate, metavar="NORM",
                       help=f"clip the gradients' norm to NORM, or `none` "
                            f"(default {default('clip_grad')})")
    train.add_argument("--optimizer", choices=CHOICES["optimizer"],
                       help="rmsprop (default) or sgd (Nesterov momentum)")
    train.add_argument("--schedule", choices=CHOICES["schedule"],
                       help="step (default: times --lr-decay every --decay-epochs) or cosine")
    train.add_argument("--precision", choices=CHOICES["precision"],
                       help="autocast precision (default bf16 on CUDA, fp32 on the CPU)")
    train.add_argument("--device", choices=CHOICES["device"],
                       help="default: cuda when there is a GPU")
    train.add_argument("--compile", action="store_true", help="run the model with torch.compile")
    train.add_argument("--no-progress", action="store_false", dest="progress",
                       help="no progress bar (each epoch still prints a line)")


def _number(text: str, low: float, high: float, whole: bool) -> float | int:
    try:
        value = int(text) if whole else float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be {'a whole number' if whole else 'a number'}, not {text!r:.40}") from None
    if not low <= value <= high:
        raise argparse.ArgumentTypeError(f"must be from {low:g} to {high:g}")
    return value


def _option(name: str):
    """The parser of a numeric option of archc train: its kind is its Options field's, its
    bounds are runs.RANGES'."""
    low, high = RANGES[name]
    whole = Options.__dataclass_fields__[name].type.startswith("int")

    def parse(text: str) -> int | float:
        return _number(text, low, high, whole)
    return parse


def _optional_rate(text: str) -> float | None:
    return None if text == "none" else _option("clip_grad")(text)


def _figure_name(text: str) -> str:
    from .plot import FORMATS

    if Path(_nonempty(text)).suffix.lstrip(".").lower() not in FORMATS:
        raise argparse.ArgumentTypeError(f"must end in .{', .'.join(FORMATS)}")
    return text


def _seed(text: str) -> int:
    try:
        seed = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, not {text!r:.40}") from None
    if not 0 <= seed <= MAX_SEED:
        raise argparse.ArgumentTypeError("must be in 0 .. 2**63 - 1")
    return seed


def _override(text: str) -> str:
    try:
        split_override(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return text


def _compile_all(paths: list[str], overrides: list[str]) -> tuple[list, bool]:
    """The networks that compile, and whether any spec failed (its errors are printed)."""
    networks, failed = [], False
    for path in paths:
        try:
            networks.append(compile_spec(path, overrides))
        except SpecError as e:
            failed = True
            for diagnostic in e.diagnostics:
                print(diagnostic, file=sys.stderr)
    return networks, failed


def _merge(outputs: list[tuple[Any, dict[Path, T]]]) -> dict[Path, T] | None:
    """The files of every network's spec in one dict; None, with error E605, when two specs
    would write the same file (one would silently replace the other's)."""
    files: dict[Path, T] = {}
    writer: dict[Path, Any] = {}
    for network, written in outputs:
        for target, content in written.items():
            if target in writer:
                other = writer[target]
                same = (f" (both networks are named `{network.name}`)"
                        if other.name == network.name else "")
                _error(f"{network.source}: error[E605]: {other.source} also writes {target}{same}")
                return None
            writer[target] = network
            files[target] = content
    return files


def _write(files: dict[Path, str | bytes], summary: list[str], inputs=()) -> int:
    try:
        write_all(files, inputs)
    except OutputError as e:
        _error(str(e))
        return 1
    try:
        for line in summary:
            print(printable(line))
    except KeyboardInterrupt:
        _error("archc: interrupted; the files were written")
        return 130
    return 0


def _spec_files(networks: list) -> list[str]:
    """Every file the networks were compiled from: no output may replace one."""
    return [path for network in networks for path, _ in network.sources]


def _build(networks: list, folder: Path, check: bool, overrides: list[str],
           deploy: bool) -> int:
    """Nothing is written unless every spec compiled (the caller checks)."""
    from .backends.torch import generate

    suffix = "_deploy" if deploy else ""
    sources = _merge([(n, {folder / f"{n.name}{suffix}.py": n}) for n in networks])
    if sources is None:
        return 1
    files = {target: generate(network, deploy) for target, network in sources.items()}
    if check:
        options = [*(["-o", str(folder)] if folder != Path("generated") else []),
                   *(["--deploy"] if deploy else []),
                   *(word for text in overrides
                     for word in (text.split(" ", 1) if text.startswith(SCALE) else
                                  ("--set", text)))]
        return _check_fresh(files, sources, options)
    return _write(files, [f"wrote {target}" for target in files], _spec_files(networks))


def _render(networks: list, block: str | None, formats: list[str], folder: Path,
            shapes: bool) -> int:
    from .backends.graphviz import DotError, draw, figures
    from .backends.graphviz.render import figure_names

    drawn = [f for f in formats if f != "dot"]
    if drawn and shutil.which("dot") is None:
        _error(f"error[E606]: {drawn[0]} output needs the graphviz `dot` program: install "
               "graphviz (Debian: apt-get install graphviz), or use --format dot")
        return 1
    outputs = []
    for network in networks:
        if block is not None and block not in figure_names(network):
            close = close_match(block, figure_names(network))
            hint = f"did you mean `{close}`? " if close else ""
            known = listing(network.blocks, quote=False) or "none"
            _error(f"{network.source}: error[E607]: no block `{block}` in this network "
                   f"({hint}its blocks: {known})")
            return 1
        outputs.append((network, {folder / f"{network.name}-{stem}.{fmt}": (figure, fmt)
                                  for stem, figure in figures(network, block, shapes).items()
                                  for fmt in dict.fromkeys(formats)}))
    jobs = _merge(outputs)
    if jobs is None:
        return 1
    files: dict[Path, str | bytes] = {}
    for target, (figure, fmt) in jobs.items():
        try:
            files[target] = figure.source if fmt == "dot" else draw(figure, fmt)
        except DotError as e:
            _error(f"{target}: error[E610]: graphviz dot failed: {e}")
            return 1
    return _write(files, [f"wrote {len(files)} file{'s' if len(files) != 1 else ''} to {folder}"],
                  _spec_files(networks))


def _check_fresh(files: dict[Path, str], sources: dict[Path, Any], options: list[str]) -> int:
    """Compares each file's bytes with what its spec generates now; a diff and E608, naming the
    command that updates it, for each that differs."""
    from .files import Unreadable, read_bounded

    stale = 0
    for target, content in files.items():
        expected = content.encode()
        try:  # a FIFO, /dev/zero or a huge file in its place is not read (past what would do)
            current = read_bounded(target, len(expected) + 2**20, "a generated module")
            state = "out of date"
        except Unreadable as e:
            current, state = (b"", "missing") if e.code == "E101" else \
                (None, f"out of date ({e.message})") if e.code == "E104" else \
                (None, f"cannot be read ({e.message})")
        if current == expected:
            continue
        stale += 1
        spec = sources[target].source
        if current is not None and current.replace(b"\r\n", b"\n") == expected:
            state = "out of date: CRLF line endings"  # a diff would show no difference
        elif current is not None:
            sys.stdout.writelines(difflib.unified_diff(
                current.decode(errors="replace").splitlines(True), content.splitlines(True),
                fromfile=printable(str(target)), tofile=printable(f"{target} (from {spec})")))
        command = ["archc", "build", *options, spec]
        _error(f"{target}: error[E608]: {state}: run `{' '.join(map(shell_quote, command))}`")
    return 1 if stale else 0


def _train(args: argparse.Namespace) -> int:
    """Runs archc.train; every process of a torchrun job runs this."""
    given = {k: v for k, v in vars(args).items() if k not in ("command", "spec", "scale")}
    if "scale" in args:
        given["overrides"] = [*given.get("overrides", []), _override(f"scale={args.scale}")]
    try:
        from .train import DataError, TrainError, train
        from .weights import CheckpointError
    except ModuleNotFoundError as e:
        return _not_installed(e, "train")
    # Under torchrun every process finds the same mistakes; one says so. An image is read by
    # one process only, which says so itself.
    first = os.environ.get("RANK", "0") == "0"
    try:
        train(args.spec, **given)
    except SpecError as e:
        if first:
            for diagnostic in e.diagnostics:
                print(diagnostic, file=sys.stderr)
        return 1
    except (TrainError, DataError, CheckpointError, OutputError) as e:
        if first or isinstance(e, DataError):
            _error(str(e))
            for line in getattr(e, "detail", "").splitlines():  # information, as diff's is
                print(printable(line))
        return 1
    except ModuleNotFoundError as e:
        return _not_installed(e, "train")
    except KeyboardInterrupt as e:  # train.Interrupted says what the run folder holds
        _error(str(e) or "archc: interrupted; nothing was written")
        return 130
    return 0


def _plot(runs: list[str], output: str) -> int:
    from .runs import METRICS, RunError

    try:
        from .plot import plot
        data = plot(runs, output)
    except ModuleNotFoundError as e:
        return _not_installed(e, "plot")
    except RunError as e:
        _error(str(e))
        return 1
    return _write({Path(output): data}, [f"wrote {output}"],
                  [Path(run, METRICS) for run in runs])


# The packages the commands that run models need beyond the compiler's, and the extra of
# archc's that installs them.
NEEDS = {"migrate": (("torch",), "torch"),
         "train": (("torch", "torchvision", "tqdm", "PIL"), "train"),
         "plot": (("matplotlib",), "train")}


def _not_installed(error: ModuleNotFoundError, command: str) -> int:
    """E703 for a package the command needs; any other missing module is archc's own bug."""
    packages, extra = NEEDS[command]
    if error.name not in packages:
        raise error
    _error(f"error[E703]: archc {command} needs {error.name}, which is not installed: "
           f"pip install 'archc[{extra}]'")
    return 1


def _diff(a: str, b: str, as_json: bool, overrides: list[list[str]]) -> int:
    from .diff import compare, format_text, to_json

    networks_a, failed_a = _compile_all([a], overrides[0])
    networks_b, failed_b = _compile_all([b], overrides[1])
    if failed_a or failed_b:
        return 1
    comparison = compare(networks_a[0], networks_b[0])
    print(json.dumps(to_json(comparison), indent=2) if as_json else format_text(comparison))
    return 0


def _migrate(checkpoint: str, source: str, target: str, output: str, seed: int) -> int:
    networks, failed = _compile_all([source, target], [])
    if failed:
        return 1
    try:
        from .weights import (
            CheckpointError,
            TransferError,
            checkpoint_bytes,
            read_checkpoint,
            transfer,
        )
    except ModuleNotFoundError as e:
        return _not_installed(e, "migrate")
    try:
        moved = transfer(read_checkpoint(checkpoint), networks[1], source=networks[0],
                         seed=seed)
        data = checkpoint_bytes(moved.state_dict, output)
    except CheckpointError as e:
        _error(str(e))
        return 1
    except TransferError as e:
        _error(f"{checkpoint}: error[E702]: {e}")
        return 1
    return _write({Path(output): data}, [*moved.report().splitlines(), f"wrote {output}"],
                  [checkpoint, *_spec_files(networks)])


def _check(networks: list, failed: bool, as_json: bool, layers: bool) -> int:
    reports = [summary(network, layers) for network in networks]
    if as_json:
        print(json.dumps({"networks": reports}, indent=2))
    elif reports:
        print("\n\n".join(format_report(r) for r in reports))
    return 1 if failed else 0


def format_report(r: dict) -> str:
    c, h, w = r["input"]
    lines = [f"{r['name']} ({printable(r['spec'])}): input {c} x {h} x {w}, "
             f"{r['num_classes']} classes", ""]
    rows = [("stage", "layer", "output (C x H x W)", "params", "MACs")]

    def add(stage: dict, indent: str) -> None:
        rows.append((indent + stage["name"], stage["layer"], show(tuple(stage["output"])),
                     f"{stage['params']:,}", human(stage["macs"])))
        for layer in stage.get("layers", []):
            add(layer, indent + "  ")

    for stage in r["stages"]:
        add(stage, "")
    t = r["total"]
    rows.append(("total", "", "", f"{t['params']:,}", human(t["macs"])))
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    for i, row in enumerate(rows):
        if i == len(rows) - 1:
            lines.append("  ".join("-" * width for width in widths))
        cells = [row[0].ljust(widths[0]), row[1].ljust(widths[1]), row[2].rjust(widths[2]),
                 row[3].rjust(widths[3]), row[4].rjust(widths[4])]
        lines.append("  ".join(cells).rstrip())
    side = r["smallest_input"]
    lines += [
        "",
        f"parameters   {t['params']:,} ({t['params'] / 1e6:.2f} M)",
        f"MACs         {t['macs'] / 1e9:.2f} G multiply-accumulates "
        f"(about {2 * t['macs'] / 1e9:.2f} GFLOPs) at {h} x {w}",
        f"activations  {t['activations'] / 1e6:.2f} M values per image "
        f"({4 * t['activations'] / 2**20:.1f} MiB in float32)",
        f"smallest input  {f'{side} x {side}' if side else 'none up to the declared size'}",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
