"""The worst input of each phase, run by the `archc` command within a time and memory budget.

Each case is an input built to make one phase do as much work as archc lets it: a YAML file of
the largest size archc reads, all keys; a chain of 1,200 includes; blocks that all contain each
other; thousands of misspelt block names; repeats that multiply to millions of layers, channel
formulas that double at every repeat. Each must fail with its own error (or, for the largest
network archc accepts, succeed) in a subprocess whose wall time and peak memory stay within a
generous budget: a bound that a phase doing work before checking its bound would break by far
(the cases took minutes or gigabytes before their bounds came first), not a benchmark.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from archc.limits import MAX_BLOCK_DEPTH, MAX_LAYERS
from archc.spec.load import MAX_BYTES

SECONDS = 5.0
MIB = 500
HEADER = "name: hostile\ninput: {channels: 3, size: 8}\n"


pytestmark = pytest.mark.skipif(not Path("/proc/self/status").exists(),
                                reason="peak memory is read from /proc (Linux)")


def within_budget(*args: str, cwd: Path, seconds: float = SECONDS, mib: float = MIB) -> str:
    """Run archc in a fresh Python that reports its own peak memory; return stderr."""
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over exec, from the (large) pytest process.
    code = textwrap.dedent(f"""\
        import re, sys
        from archc.cli import main
        try:
            status = main({list(args)!r})
        except SystemExit as e:
            status = e.code
        status_file = open("/proc/self/status").read()
        peak = int(re.search(r"VmHWM:\\s*(\\d+) kB", status_file)[1]) / 1024
        print(f"PEAK {{peak:.0f}}", file=sys.stderr)
        sys.exit(status)
        """)
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True,
                            text=True, timeout=120)
    elapsed = time.perf_counter() - start
    *lines, peak_line = result.stderr.rstrip("\n").split("\n")
    assert peak_line.startswith("PEAK "), result.stderr[-2000:]
    peak = float(peak_line.split()[1])
    stderr = "\n".join(lines)
    assert "Traceback" not in stderr, stderr[-3000:]
    assert elapsed < seconds, f"{elapsed:.1f} s, budget {seconds} s: {stderr[:300]}"
    assert peak < mib, f"{peak:.0f} MiB, budget {mib} MiB: {stderr[:300]}"
    return stderr + f"\nexit {result.returncode}"


def write(folder: Path, name: str, text: str) -> str:
    (folder / name).write_text(text)
    return name


def codes(stderr: str) -> set[str]:
    return {line.split("error[", 1)[1][:4] for line in stderr.splitlines() if "error[" in line}


# ------------------------------------------------------------------------------ reading


def hostile(n: int) -> dict[str, str]:
    """Documents of about n bytes that cost PyYAML the most per byte, per token or per node."""
    return {
        "flow mapping": "{" + ", ".join(f"a{i}: {i}" for i in range(n // 9)) + "}",
        "dense flow sequence": "a: [" + "0," * (n // 2 - 4) + "]",
        "block sequence": "- 0\n" * (n // 4),
        "empty block entries": "-\n" * (n // 2),
        "block mapping": "".join(f"k{i}: {i}\n" for i in range(n // 12)),
        "complex keys": "? a\n" * (n // 4),
        "anchors": "a: [" + ", ".join(f"&a{i} x" for i in range(n // 12)) + "]",
        "aliases": "a: &a x\nb: [" + "*a," * (n // 3 - 4) + "]",
        "deep flow nesting": "[" * n,
        "deep block nesting": "- " * (n // 2),
        "long scalar": "a: " + "x" * (n - 3),
        "long quoted key": '"' + "k" * (n - 10) + '": 1',
        "long folded scalar": "a: x\n" + "  x\n" * (n // 4 - 2),
        "long literal scalar": "a: |\n" + "  x\n" * (n // 4 - 2),
        "escapes": 'a: "' + "\\n" * (n // 2 - 4) + '"',
        "long tag": "a: !" + "x" * (n - 10) + " 1",
        "long comment": "#" + "x" * (n - 1),
        "blank lines": "\n" * n,
        "comment lines": "#\n" * (n // 2),
        "document end markers": "a: 1\n" + "...\n" * (n // 4 - 2),
        "directives": "%X\n" * (n // 3 - 2) + "--- a",
        "line separators": "a: x" + "\u2028" * (n // 3),
    }


EXPECTED = {"flow mapping": "E116", "block sequence": "E116", "aliases": "E116",
            "deep flow nesting": "E114", "deep block nesting": "E114", "directives": "E116",
            "document end markers": "E116"}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(hostile(0)))
def test_hostile_yaml_of_the_largest_size_fails_fast(tmp_path, name):
    n = MAX_BYTES
    while len(text := hostile(n)[name].encode()) > MAX_BYTES:  # just under the bound
        n = n * MAX_BYTES // len(text) - 100
    (tmp_path / "spec.yaml").write_bytes(text)
    stderr = within_budget("check", "spec.yaml", cwd=tmp_path)
    assert stderr.endswith("exit 1") and codes(stderr), stderr[-500:]
    if name in EXPECTED:
        assert EXPECTED[name] in codes(stderr), stderr[:500]


def test_a_4_mib_file_is_not_read(tmp_path):
    (tmp_path / "spec.yaml").write_text("{" + "a: 0, " * (4 * 2**20 // 6) + "}\n")
    stderr = within_budget("check", "spec.yaml", cwd=tmp_path, mib=200)
    assert codes(stderr) == {"E104"}


def test_a_file_larger_than_the_bound_is_not_read(tmp_path):
    with open(tmp_path / "sparse.yaml", "wb") as f:
        f.truncate(4 * 2**30)  # 4 GiB of holes: nothing on disk, everything if read
    stderr = within_budget("check", "sparse.yaml", cwd=tmp_path, mib=200)
    assert codes(stderr) == {"E104"}


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="no /dev/zero")
def test_an_endless_device_is_not_read(tmp_path):
    stderr = within_budget("check", "/dev/zero", cwd=tmp_path, mib=200)
    assert codes(stderr) == {"E115"}


@pytest.mark.slow
def test_a_chain_of_1200_includes_stops_at_the_bound(tmp_path):
    for i in range(1200):
        write(tmp_path, f"lib{i}.yaml", f"include: [lib{i + 1}.yaml]\nblocks:\n  B{i}:\n"
                                        "    layers: [{p: maxpool 1x1}]\n")
    write(tmp_path, "lib1200.yaml", "blocks:\n  Last:\n    layers: [{p: maxpool 1x1}]\n")
    write(tmp_path, "spec.yaml", HEADER + "include: [lib0.yaml]\nlayers:\n  - b: B0\n")
    stderr = within_budget("check", "spec.yaml", cwd=tmp_path)
    assert codes(stderr) == {"E307"}, stderr[:500]


# ------------------------------------------------------------------------------ blocks


def test_blocks_that_all_contain_each_other_are_one_error(tmp_path):
    """14 blocks each using the 13 others: billions of distinct cycles, one report."""
    n = 14
    text = HEADER + "blocks:\n" + "".join(
        f"  C{i}:\n    layers:\n" + "".join(f"      - c{j}: C{j}\n" for j in range(n) if j != i)
        for i in range(n)) + "layers:\n  - top: C0\n"
    write(tmp_path, "spec.yaml", text)
    stderr = within_budget("check", "spec.yaml", cwd=tmp_path)
    assert codes(stderr) == {"E408"} and stderr.count("\n") == 1, stderr


def test_blocks_nested_300_deep_are_refused(tmp_path):
    text = HEADER + "blocks:\n  B0:\n    layers: [{p: maxpool 1x1}]\n" + "".join(
        f"  B{i}:\n    layers: [{{b: B{i - 1}}}]\n" for i in range(1, 300)) + \
        "layers:\n  - top: B299\n"
    write(tmp_path, "spec.yaml", text)
    stderr = within_budget("check", "spec.yaml", cwd=tmp_path)
    assert codes(stderr) == {"E411"}
    assert f"more than {MAX_BLOCK_DEPTH} deep" in stderr


@pytest.mark.slow
def test_many_misspelt_blocks_among_many_definitions(tmp_path):
    """1,500 unknown names among 1,500 blocks: a did-you-mean for each compared every name
    with every block (48 s before its cost was bounded)."""
    n = 1500
    text = HEADER + "blocks:\n" + "".join(
        f"  Block{i:05d}:\n    layers: [{{p: maxpool 1x1}}]\n" for i in range(n)) + \
        "layers:\n" + "".join(f"  - s{i}: Blokc{i:05d}\n" for i in range(n))
    write(tmp_path, "spec.yaml", text)
    stderr = within_budget("check", "spec.yaml", cwd=tmp_path)
    assert codes(stderr) == {"E402"} and stderr.count("error[E402]") == n
    assert max(len(line) for line in stderr.splitlines()) < 400  # listings are cut short


# ------------------------------------------------------------------------------ shapes


def growing(outer: int) -> str:
    """`outer` x 1000 blocks that each add a channel: no two instances are alike."""
    return HEADER + textwrap.dedent(f"""\
        blocks:
          Grow:
            layers:
              - concat:
                  a: maxpool 1x1
                  b: conv 1x1 1
          Many:
            layers:
              - g: 1000 x Grow
        layers:
          - m: {outer} x Many
        """)


def test_repeats_that_multiply_to_millions_of_layers_are_counted_before_inference(tmp_path):
    """Each repeat widens the tensor, so no two of the 1000 x 1000 instances are alike:
    inference would run them all."""
    write(tmp_path, "spec.yaml", growing(1000))
    stderr = within_budget("check", "spec.yaml", cwd=tmp_path)
    assert codes(stderr) == {"E508"}
    assert f"layers, more than archc's bound of {MAX_LAYERS:,}" in stderr


@pytest.mark.parametrize("command", ["check", "build"])
def test_a_channel_formula_that_doubles_at_every_repeat(tmp_path, command):
    """`in//2 + (in+1)//2` is `in`, but written out it doubles in length at each of the 40
    repeats: code generation once looped 2**40 times on it."""
    write(tmp_path, "spec.yaml", HEADER + textwrap.dedent("""\
        blocks:
          Same:
            layers:
              - concat:
                  a: conv 1x1 in//2
                  b: conv 1x1 (in+1)//2
          Outer:
            layers:
              - d: 40 x Same
        layers:
          - o1: Outer
          - c: conv 1x1 16
          - o2: Outer
        """))
    args = [command, "spec.yaml"] + (["-o", "."] if command == "build" else [])
    stderr = within_budget(*args, cwd=tmp_path)
    assert codes(stderr) == {"E508"} and "255 operations" in stderr
    assert not (tmp_path / "hostile.py").exists()


def test_channels_that_double_at_every_repeat(tmp_path):
    write(tmp_path, "spec.yaml", HEADER + textwrap.dedent("""\
        blocks:
          Double:
            layers:
              - concat:
                  a: maxpool 1x1
                  b: maxpool 1x1
        layers:
          - d: 1000 x Double
        head:
          - pool: avgpool global
        """))
    stderr = within_budget("check", "--json", "spec.yaml", cwd=tmp_path)
    assert "E508" in codes(stderr) and "65,536" in stderr


LARGEST = {
    # 20 blocks of 200 convs, each repeated 20 times: 80,000 layers, 20 distinct instances.
    "many_layers": HEADER + "blocks:\n" + "".join(
        f"  B{i}:\n    layers:\n" + "".join(f"      - c{j}: conv 1x1 {8 + i}\n"
                                           for j in range(200)) for i in range(20)) +
    "layers:\n" + "".join(f"  - s{i}: 20 x B{i}\n" for i in range(20)),
    # Each repeat adds a channel: 49,000 instances, none like another, 98,000 layers.
    "distinct_instances": growing(49),
}


@pytest.mark.slow
@pytest.mark.parametrize("command", [["check"], ["build", "-o", "."],
                                     ["render", "--format", "dot", "-o", "."]],
                         ids=lambda command: command[0])
@pytest.mark.parametrize("spec", list(LARGEST))
def test_the_largest_networks_within_the_bounds(tmp_path, spec, command):
    """What archc accepts, it handles in seconds: inference, the report's probes for the
    smallest input, code generation and figures."""
    write(tmp_path, "spec.yaml", LARGEST[spec])
    stderr = within_budget(command[0], "spec.yaml", *command[1:], cwd=tmp_path, seconds=30)
    assert stderr.endswith("exit 0"), stderr[-500:]
