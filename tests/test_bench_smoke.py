"""The benchmark script runs: ``benchmarks/bench.py --quick`` prints every figure.

Its targets are not asserted here: on a noisy two-core machine a tiny run means nothing.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "benchmarks" / "bench.py"
FIGURES = (
    "passthrough",
    "passthrough-1M",
    "memory",
    "start-up",
    "report cost",
    "handler",
    "import",
    "import-api",
)


def _quick(*flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(BENCH), "--quick", *flags],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_quick_run_prints_every_figure_with_its_target_and_verdict() -> None:
    run = _quick()
    assert run.returncode in (0, 1), run.stderr  # 2 would mean the benchmark itself broke
    lines = run.stdout.splitlines()
    assert lines[0].startswith("machine ")
    assert "nproc" in lines[0]
    for name in FIGURES:
        (row,) = [line for line in lines if line.startswith(f"{name} ")]
        assert "(target <= " in row
        assert " PASS" in row or " FAIL" in row


def test_json_output_lists_every_figure() -> None:
    run = _quick("--json", "--only", "start-up", "--only", "import")
    assert run.returncode in (0, 1), run.stderr
    result = json.loads(run.stdout)
    assert [figure["name"] for figure in result["figures"]] == ["start-up", "import", "import-api"]
    assert result["ok"] == all(f["passed"] for f in result["figures"] if f["gated"])
