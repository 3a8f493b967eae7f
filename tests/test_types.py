"""The package is typed throughout: mypy --strict finds nothing."""

from __future__ import annotations

from pathlib import Path

from mypy import api

PACKAGE = Path(__file__).resolve().parent.parent / "lognotify"


def test_the_package_passes_mypy_strict(tmp_path: Path) -> None:
    report, errors, status = api.run(
        ["--strict", "--cache-dir", str(tmp_path / "mypy-cache"), str(PACKAGE)]
    )
    assert status == 0, report + errors
    assert (PACKAGE / "py.typed").exists()
