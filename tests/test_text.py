"""Text as a report shows it: lines as a terminal shows them, values bounded, and what goes into
a header or a file name made safe there. Pure; properties over any text."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lognotify.text import (
    LINE_CHARS,
    bounded,
    file_safe,
    iso,
    neutralise,
    omitted_marker,
    readable_line,
    readable_text,
    utc_stamp,
)

HEADER_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]")


@pytest.mark.parametrize(
    ("line", "shown"),
    [
        ("plain words", "plain words"),
        ("\x1b[31mred\x1b[0m", "red"),
        ("\x1b]0;a window title\x07after", "after"),
        ("0%\r50%\r100%", "100%"),
        ("done\r", "done"),
        ("nul\x00byte", "nul\\x00byte"),
        ("bell\x07 and del\x7f", "bell\\x07 and del\\x7f"),
        ("caf\udce9", "caf\ufffd"),  # an undecodable byte, kept by surrogateescape
        ("tab\tkept", "tab\tkept"),
        ("ünïcödé ✓", "ünïcödé ✓"),
    ],
)
def test_a_line_reads_as_a_terminal_shows_it(line: str, shown: str) -> None:
    assert readable_line(line) == shown


def test_a_very_long_line_keeps_its_start_and_says_how_much_more() -> None:
    shown = readable_line("x" * (LINE_CHARS + 1234))
    assert shown == "x" * LINE_CHARS + "... [1,234 more characters]"


@given(st.text())
def test_no_line_shown_carries_a_control_character_or_an_escape(line: str) -> None:
    shown = readable_line(line)
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f\ud800-\udfff]", shown)
    assert len(shown) <= LINE_CHARS + len("... [999,999,999 more characters]")


@given(st.text())
def test_a_header_value_is_one_line_without_controls_or_direction_overrides(value: str) -> None:
    safe = neutralise(value)
    assert not HEADER_UNSAFE.search(safe)
    assert safe == safe.strip()
    assert "  " not in safe


def test_neutralise_turns_line_breaks_and_controls_into_single_spaces() -> None:
    assert neutralise(" etl\r\nBcc: x@example.com\x00\x1b[31m ") == "etl Bcc: x@example.com [31m"
    assert neutralise("invoice\u202egnp.exe") == "invoice gnp.exe"


def test_text_with_undecodable_bytes_shows_them_as_escapes() -> None:
    assert readable_text("caf\udce9.csv") == "caf\\xe9.csv"
    assert readable_text("plain") == "plain"
    assert readable_text("café") == "café"


@given(st.text(), st.integers(min_value=2, max_value=100))
def test_a_bounded_value_keeps_its_start_and_end(text: str, limit: int) -> None:
    shown = bounded(text, limit)
    if len(text) <= limit:
        assert shown == text
    else:
        assert shown.startswith(text[: limit // 2])
        assert shown.endswith(text[-(limit // 2) :])
        assert f"[... {len(text) - limit:,} characters omitted ...]" in shown


def test_the_omitted_marker_counts_lines_in_words() -> None:
    assert omitted_marker(1234, 1) == "[... 1,234 bytes (1 line) omitted ...]"
    assert omitted_marker(5_000_000, 2000) == "[... 5,000,000 bytes (2,000 lines) omitted ...]"


@given(st.text())
def test_a_file_name_part_has_only_safe_characters(text: str) -> None:
    assert re.fullmatch(r"[A-Za-z0-9._-]*", file_safe(text))


def test_times_are_utc() -> None:
    assert iso(1_790_000_000.0) == "2026-09-21T14:13:20Z"
    assert utc_stamp(1_790_000_000.9) == "20260921T141320Z"
    assert file_safe("nightly etl/v2") == "nightly_etl_v2"
