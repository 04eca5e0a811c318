"""The `archc` command line."""

from __future__ import annotations

import argparse
import json
import sys

from .compiler import compile_spec
from .ir.cost import CostModel
from .ir.shapes import show, smallest_input
from .spec.errors import SpecError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="archc", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    check = commands.add_parser("check", help="validate specs and print their shapes and costs")
    check.add_argument("specs", nargs="+", metavar="SPEC")
    check.add_argument("--json", action="store_true", help="print the report as JSON")
    check.add_argument("--layers", action="store_true",
                       help="also list the layers of every block (of one instance when repeated)")

    commands.add_parser("schema", help="print the JSON Schema of the spec language")

    args = parser.parse_args(argv)
    if args.command == "schema":
        from .spec.schema import json_schema

        print(json.dumps(json_schema(), indent=2, sort_keys=True))
        return 0
    return _check(args.specs, args.json, args.layers)


def _check(paths: list[str], as_json: bool, layers: bool) -> int:
    reports, failed = [], False
    for path in paths:
        try:
            network = compile_spec(path)
        except SpecError as e:
            failed = True
            for diagnostic in e.diagnostics:
                print(diagnostic, file=sys.stderr)
            continue
        reports.append(report(network, layers))
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
