"""The scale benchmark runs: ``benchmarks/watch_scale.py --quick`` prints every figure.

Its time targets are not asserted here (a tiny run on a shared machine means nothing); that
every report came, once, and that the watch ran through the churn, is.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "benchmarks" / "watch_scale.py"


def test_the_quick_run_prints_every_figure_and_gets_every_report_once() -> None:
    run = subprocess.run(
        [sys.executable, str(BENCH), "--quick"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    lines = run.stdout.splitlines()
    assert [line.split(":")[0] for line in lines] == [
        "cluster",
        "import and client",
        "first pass (--once)",
        "second pass (--once)",
        "target",
        "churn",
        "target",
    ]
    assert ", 4 reported, exit 0" in lines[2], run.stdout
    assert ", 0 reported, exit 0" in lines[3], run.stdout
    assert "4 reports" in lines[4], run.stdout
    assert "exit 0" in lines[5], run.stdout
