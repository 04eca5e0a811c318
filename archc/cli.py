"""The `archc` command line."""

from __future__ import annotations

import argparse
import difflib
import json
import shutil
import sys
from pathlib import Path

from .compiler import compile_spec
from .errors import SpecError
from .ir.cost import CostModel
from .ir.shapes import show, smallest_input
from .output import OutputError, write_all

FORMATS = ("svg", "png", "pdf", "dot")
SPEC_HELP = "spec files (default: specs/*.yaml)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="archc", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    check = commands.add_parser("check", help="validate specs and print their shapes and costs")
    check.add_argument("specs", nargs="*", metavar="SPEC", help=SPEC_HELP)
    check.add_argument("--json", action="store_true", help="print the report as JSON")
    check.add_argument("--layers", action="store_true",
                       help="also list the layers of every block (of one instance when repeated)")

    build = commands.add_parser("build", help="generate PyTorch modules from specs")
    build.add_argument("specs", nargs="*", metavar="SPEC", help=SPEC_HELP)
    build.add_argument("-o", "--output", default="generated", metavar="DIR",
                       help="the folder to write <name>.py into (default: generated)")
    build.add_argument("--check", action="store_true",
                       help="write nothing; fail with a diff if the files are not up to date")

    render = commands.add_parser("render", help="draw the paper's block diagrams and overviews")
    render.add_argument("specs", nargs="*", metavar="SPEC", help=SPEC_HELP)
    render.add_argument("--block", metavar="NAME", help="only this block definition's figure")
    render.add_argument("--format", action="append", choices=FORMATS, metavar="FORMAT",
                        help="svg (default), png, pdf or dot; repeat for several")
    render.add_argument("-o", "--output", default="figures", metavar="DIR",
                        help="the folder to write <network>-<figure>.<format> into "
                             "(default: figures)")
    render.add_argument("--shapes", action="store_true",
                        help="write the tensor shape on every edge")

    commands.add_parser("schema", help="print the JSON Schema of the spec language")

    args = parser.parse_args(argv)
    if args.command != "schema" and not args.specs:
        args.specs = sorted(str(p) for p in Path("specs").glob("*.yaml"))
        if not args.specs:
            parser.error(f"{args.command}: no SPEC given and no specs/*.yaml here")
    if args.command == "schema":
        from .spec.models import json_schema

        print(json.dumps(json_schema(), indent=2, sort_keys=True))
        return 0
    if args.command == "build":
        return _build(args.specs, Path(args.output), args.check)
    if args.command == "render":
        return _render(args.specs, args.block, args.format or ["svg"], Path(args.output),
                       args.shapes)
    return _check(args.specs, args.json, args.layers)


def _compile_all(paths: list[str]) -> tuple[list, bool]:
    """The networks that compile, and whether any spec failed (its errors are printed)."""
    networks, failed = [], False
    for path in paths:
        try:
            networks.append(compile_spec(path))
        except SpecError as e:
            failed = True
            for diagnostic in e.diagnostics:
                print(diagnostic, file=sys.stderr)
    return networks, failed


def _build(paths: list[str], folder: Path, check: bool) -> int:
    from .backends.torch import render

    networks, failed = _compile_all(paths)
    if failed:
        return 1  # nothing is written unless every spec compiles
    files: dict[Path, str] = {}
    for network in networks:
        target = folder / f"{network.name}.py"
        if target in files:
            print(f"{network.source}: error[E605]: another spec also writes {target} (both are "
                  f"named `{network.name}`)", file=sys.stderr)
            return 1
        files[target] = render(network)
    if check:
        command = "archc build" + (f" -o {folder}" if folder != Path("generated") else "")
        return _check_fresh(files, {target: (f"{command} {network.source}", network.source)
                                    for target, network in zip(files, networks)})
    try:
        write_all(files)
    except OutputError as e:
        print(e, file=sys.stderr)
        return 1
    for target in files:
        print(f"wrote {target}")
    return 0


def _render(paths: list[str], block: str | None, formats: list[str], folder: Path,
            shapes: bool) -> int:
    from .backends.graphviz import figures

    drawn = [f for f in formats if f != "dot"]
    if drawn and shutil.which("dot") is None:
        print(f"error[E606]: {drawn[0]} output needs the graphviz `dot` program: install "
              "graphviz (Debian: apt-get install graphviz), or use --format dot", file=sys.stderr)
        return 1
    networks, failed = _compile_all(paths)
    if failed:
        return 1
    files: dict[Path, str | bytes] = {}
    for network in networks:
        if block is not None and block not in network.blocks:
            close = difflib.get_close_matches(block, list(network.blocks), n=1)
            hint = f"did you mean `{close[0]}`? " if close else ""
            known = ", ".join(network.blocks) or "none"
            print(f"{network.source}: error[E607]: no block `{block}` in this network "
                  f"({hint}its blocks: {known})", file=sys.stderr)
            return 1
        for stem, figure in figures(network, block, shapes).items():
            for fmt in dict.fromkeys(formats):
                target = folder / f"{network.name}-{stem}.{fmt}"
                files[target] = figure.source if fmt == "dot" else figure.pipe(format=fmt)
    try:
        write_all(files)
    except OutputError as e:
        print(e, file=sys.stderr)
        return 1
    print(f"wrote {len(files)} file{'s' if len(files) != 1 else ''} to {folder}")
    return 0


def _check_fresh(files: dict[Path, str], fixes: dict[Path, tuple[str, str]]) -> int:
    """Diffs for the files that differ; `fixes` gives each file's command and spec."""
    stale = 0
    for target, content in files.items():
        current = target.read_text() if target.is_file() else None
        if current == content:
            continue
        stale += 1
        sys.stdout.writelines(difflib.unified_diff(
            (current or "").splitlines(True), content.splitlines(True),
            fromfile=str(target), tofile=f"{target} (from {fixes[target][1]})"))
        state = "missing" if current is None else "out of date"
        print(f"{target}: error[E608]: {state}: run `{fixes[target][0]}`", file=sys.stderr)
    return 1 if stale else 0


def _check(paths: list[str], as_json: bool, layers: bool) -> int:
    networks, failed = _compile_all(paths)
    reports = [report(network, layers) for network in networks]
    if as_json:
        print(json.dumps({"networks": reports}, indent=2))
    elif reports:
        print("\n\n".join(format_report(r) for r in reports))
    return 1 if failed else 0


def _row(row, layers: bool) -> dict:
    out = {"name": row.name, "layer": row.layer, "output": list(row.output),
           "params": row.cost.params, "macs": row.cost.macs,
           "activations": row.cost.activations}
    if layers and row.layers:
        out["layers"] = [_row(r, layers) for r in row.layers]
    return out


def report(network, layers: bool = False) -> dict:
    model = CostModel(network, network.shapes)
    total = model.total()
    return {
        "spec": network.source,
        "name": network.name,
        "input": list(network.input_shape),
        "num_classes": network.num_classes,
        "stages": [_row(row, layers) for row in model.stages()],
        "total": {"params": total.params, "macs": total.macs, "activations": total.activations},
        "smallest_input": smallest_input(network),
    }


def _human(n: float) -> str:
    for size, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if n >= size:
            return f"{n / size:.2f} {suffix}"
    return f"{n:g}"


def format_report(r: dict) -> str:
    c, h, w = r["input"]
    lines = [f"{r['name']} ({r['spec']}): input {c} x {h} x {w}, {r['num_classes']} classes", ""]
    rows = [("stage", "layer", "output (C x H x W)", "params", "MACs")]

    def add(stage: dict, indent: str) -> None:
        rows.append((indent + stage["name"], stage["layer"], show(tuple(stage["output"])),
                     f"{stage['params']:,}", _human(stage["macs"])))
        for layer in stage.get("layers", []):
            add(layer, indent + "  ")

    for stage in r["stages"]:
        add(stage, "")
    t = r["total"]
    rows.append(("total", "", "", f"{t['params']:,}", _human(t["macs"])))
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
