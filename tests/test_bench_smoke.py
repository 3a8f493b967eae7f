"""The benchmark script runs: ``benchmarks/bench.py --quick`` prints every figure and the table.

Its targets are not asserted here: on a noisy two-core machine a tiny run means nothing.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "benchmarks" / "bench.py"
FIGURES = (
    "passthrough-1M",
    "passthrough",
    "cpu",
    "memory",
    "start-up",
    "report cost",
    "handler",
    "library",
    "watch-pass",
    "watch-memory",
    "import",
    "import-api",
)


def _quick(*flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(BENCH), "--quick", *flags],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_quick_run_prints_every_figure_with_its_target_and_verdict_then_the_table() -> None:
    run = _quick()
    assert run.returncode in (0, 1), run.stderr  # 2 would mean the benchmark itself broke
    lines = run.stdout.splitlines()
    assert lines[0].startswith("machine ")
    assert "nproc" in lines[0]
    assert lines[1].startswith("load before ")
    assert any(line.startswith("load after ") for line in lines)
    for name in FIGURES:
        (row,) = [line for line in lines if line.startswith(f"{name} ")]
        assert "(target <= " in row or (name == "cpu" and "(no target: printed)" in row)
        assert " PASS" in row or " FAIL" in row or " INFO" in row
    table = [line for line in lines if line.startswith("| ")]
    assert table[0] == "| figure | lognotify | target | verdict |"
    assert len(table) == 1 + len(FIGURES)  # the header, then a row a figure
    assert all(
        row.endswith(("PASS |", "FAIL |", "(informational) |", "printed |")) for row in table[1:]
    )


@pytest.mark.skipif(shutil.which("chronic") is None, reason="moreutils' chronic is not installed")
def test_a_peer_is_measured_in_the_same_table() -> None:
    chronic = shutil.which("chronic")
    run = _quick("--only", "start-up", "--peer", f"chronic={chronic}")
    assert run.returncode in (0, 1), run.stderr
    table = [line for line in run.stdout.splitlines() if line.startswith("| ")]
    assert table[0] == "| figure | lognotify | chronic | target | verdict |"
    cells = table[1].split(" | ")
    assert cells[1].endswith("x")
    assert cells[2].endswith("x")


def test_json_output_lists_every_figure() -> None:
    run = _quick("--json", "--only", "start-up", "--only", "import")
    assert run.returncode in (0, 1), run.stderr
    result = json.loads(run.stdout)
    assert [figure["name"] for figure in result["figures"]] == ["start-up", "import", "import-api"]
    assert result["ok"] == all(f["passed"] for f in result["figures"] if f["gated"])
    assert result["machine"]["load_before"]
    assert result["machine"]["load_after"]
