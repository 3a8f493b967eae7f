"""Hyperscan's prefilter of the error lines: what it points out, and its cache of databases.

That it finds every error line the rule finds is tested with the tracker, on both paths, in
test_errorlines.py; here, what is its own.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from lognotify import fastscan, hscache
from lognotify.errorrule import ErrorRule

hyperscan = pytest.importorskip("hyperscan")


def _entries(folder: Path) -> list[Path]:
    return sorted(folder.rglob("errorlines-*.hs"))


def test_a_compiled_database_is_kept_private_and_loaded_from_there(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    os.umask(0o022)
    assert fastscan._build(False) is not None
    (entry,) = _entries(tmp_path)
    assert stat.S_IMODE(entry.stat().st_mode) == 0o600
    assert stat.S_IMODE(entry.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "cache").stat().st_mode) == 0o700
    written = entry.stat().st_mtime_ns
    assert fastscan._build(False) is not None  # read back, not compiled and written again
    assert entry.stat().st_mtime_ns == written


def test_an_entry_someone_else_could_write_or_made_otherwise_is_not_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    fastscan._build(False)
    (entry,) = _entries(tmp_path)
    entry.write_bytes(b"('0.0', [])\nnot a database")  # another version's, or damaged
    assert fastscan._build(False) is not None
    assert entry.read_bytes().startswith(
        repr((hyperscan.__version__, fastscan.patterns(False))).encode()
    )
    entry.parent.chmod(0o777)  # a folder others can write: its entries could be anyone's
    assert hscache.read(str(entry)) is None
    entry.parent.chmod(0o700)
    assert hscache.read(str(entry)) is not None


def test_the_lines_to_judge_are_pointed_out_once_each_and_too_many_give_way() -> None:
    prefilter = fastscan.load(ErrorRule(), background=False).prefilter()
    assert prefilter is not None
    data = b"INFO fine\nERROR one ERROR\n\x1b[1mbold\nok\n" + b"x" * 3000 + b"\nlast ok\n"
    starts = prefilter.lines(data, 0, len(data))
    assert starts == [10, 26, 38]  # the error, the escape code, the long line
    dense = b"ERROR again\n" * (fastscan.LIMIT + 1)
    assert prefilter.lines(dense, 0, len(dense)) is None  # the RE2 scanner does better


def test_extra_patterns_are_found_by_re2_among_the_lines() -> None:
    rule = ErrorRule([r"WARN\b", r"done$"])
    prefilter = fastscan.load(rule, background=False).prefilter()
    assert prefilter is not None
    data = b"INFO a\nWARN b\nnot done\r\nINFO c\n"
    assert prefilter.lines(data, 0, len(data)) == [7, 14]  # a match, and a line with a CR
