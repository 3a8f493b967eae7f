"""The tracker of the first and last error lines of an output, in bounded memory."""

from __future__ import annotations

import tracemalloc

import pytest
from error_samples import FLAGGED, NOT_FLAGGED
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lognotify import fastscan
from lognotify.errorlines import BATCH, KEEP, LITTLE, ErrorLine, ErrorLines
from lognotify.errorrule import ErrorRule, looks_like_error
from lognotify.text import shown


def _tracked(
    chunks: list[tuple[bytes, int]],
    rule: ErrorRule | None = None,
    first: int = 5,
    last: int = 15,
    *,
    fast: bool = False,
) -> tuple[tuple[ErrorLine, ...], int, int]:
    """What the tracker finds; ``fast``: with Hyperscan from the first byte (``HYPERSCAN``)."""
    tracker = ErrorLines(rule, first=first, last=last, fast_after=0 if fast else None)
    for data, stream in chunks:
        tracker.feed(data, stream)
    tracker.finish()
    return (*tracker.result(), tracker.lines)


def _reference(
    chunks: list[tuple[bytes, int]], rule: ErrorRule, first: int = 5, last: int = 15
) -> tuple[tuple[ErrorLine, ...], int, int]:
    """Join everything, split at newlines, number, show, classify, take first and last."""
    data = b"".join(chunk for chunk, _ in chunks)
    owner: list[int] = []  # the stream of each byte
    for chunk, stream in chunks:
        owner += [stream] * len(chunk)
    lines = data.split(b"\n")
    if data.endswith(b"\n") or not data:
        lines.pop()
    errors: list[ErrorLine] = []
    at = 0
    for number, line in enumerate(lines, 1):
        text = shown(line[:KEEP], len(line) - len(line[:KEEP]))
        if rule.matches(text):
            name = "stderr" if owner[at] == 2 else "stdout"
            errors.append(ErrorLine(number=number, text=text, stream=name))
        at += len(line) + 1
    kept = errors if len(errors) <= first + last else errors[:first] + errors[len(errors) - last :]
    return tuple(kept), len(errors), len(lines)


SCANNING = ErrorRule()
SCANNING.scanner()  # so that small outputs go through the scanner too, not line by line
WITH_EXTRA = ErrorRule(["WARN", r"ok$"])
WITH_EXTRA.scanner()
# Hyperscan's databases, built here once: a tracker then uses them from its first chunk on.
HYPERSCAN = all(
    fastscan.database(rule.extra_patterns) is not None for rule in (SCANNING, WITH_EXTRA)
)
PATHS = (False, True) if HYPERSCAN else (False,)  # the RE2 scanner, and Hyperscan's prefilter

# Pieces of lines: words of the rule, near misses, and what does not show as itself (escape
# codes, also inside words; control characters; bytes that are not UTF-8; a CR).
PIECES = [
    b"ERROR",
    b"error:",
    b"Error",
    b"0 errors",
    b"failed",
    b"failed=0",
    b"0 failed",
    b"ok",
    b"level=error",
    b"level=info",
    b'"level":"error"',
    b"Traceback",
    b"panic:",
    b"Killed",
    b"E0101 12:00:00",
    b"MemoryError",
    b"[error]",
    b"WARN",
    b"processed",
    b"12345",
    b"x",
    b" ",
    b"\t",
    b":",
    b"-",
    b"=",
    b"\xc3\xa9",
    b"\xf0\x9f\x9a\x80",
    b"\xff",
    b"\xe2\x82",
    b"\x1b[31m",
    b"\x1b[0m",
    b"\x1b]0;title\x07",
    b"ER\x1b[0mROR",
    b"Fai\x1b[1mled",
    b"\r",
    b"\x01",
    b"\x0e",
    b"\x0fatal: x",
    b"\x7f",
    b"\x00",
]


@st.composite
def outputs(draw: st.DrawFn) -> list[tuple[bytes, int]]:
    words = st.lists(st.sampled_from(PIECES), max_size=8)
    line = st.tuples(st.sampled_from([b" ", b""]), words).map(lambda p: p[0].join(p[1]))
    long_line = st.tuples(st.sampled_from(PIECES), st.integers(1990, 2010), line).map(
        lambda p: p[0] + b"a" * p[1] + p[2]
    )
    lines = draw(st.lists(st.one_of(line, line, line, long_line), max_size=60))
    data = b"\n".join(lines) + draw(st.sampled_from([b"", b"\n", b"\r\n"]))
    if draw(st.booleans()):  # past BATCH: chunks scanned as they come, not gathered first
        data = b"INFO fine\n" * (BATCH // 10 + 1) + data
    if draw(st.booleans()):
        data += b"ERROR " + b"y" * draw(st.integers(KEEP - 10, 3 * KEEP))  # kept in part
    cuts = sorted(set(draw(st.lists(st.integers(0, len(data)), max_size=12))))
    pieces = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=False)]
    return [(piece, draw(st.sampled_from([1, 2]))) for piece in pieces]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(outputs(), st.integers(0, 6), st.integers(0, 6))
def test_the_tracker_finds_what_splitting_the_whole_output_finds(
    chunks: list[tuple[bytes, int]], first: int, last: int
) -> None:
    for rule in (SCANNING, WITH_EXTRA):
        expected = _reference(chunks, rule, first, last)
        for fast in PATHS:
            assert _tracked(chunks, rule, first, last, fast=fast) == expected


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(outputs())
def test_a_small_output_looked_at_line_by_line_gives_the_same(
    chunks: list[tuple[bytes, int]],
) -> None:
    fresh = ErrorRule()  # its scanner never compiled: output under LITTLE goes line by line
    small, size = [], 0
    for data, stream in chunks:
        if size + len(data) < LITTLE:
            small.append((data, stream))
            size += len(data)
    assert _tracked(small, fresh) == _reference(small, fresh)


COLORED = [
    b"\x1b[31mERROR\x1b[0m upload",
    b"\x1b[32mINFO\x1b[0m batch done, 0 errors",
    b"plain ERROR",
    b"\x1b[1mER\x1b[0mROR: split",
    b"\x1b]0;title\x07failed",
    b"\x1b[33mWARN\x1b[0m ok",
    b"ok",
    b"\x1b[0m\xffERROR",
    b"\x1b[0m\rERROR",
    b"\x1b[0mlevel=error",
    b"\x1b[2K\x1b[1G50%\r100%",
]
RARE = [
    b"\x1b\x1b[0m[31mERROR",
    b"\x1bERROR",
    b"\x1b[0m" * (KEEP // 4) + b"ERROR past KEEP",
    b"ERR\x1b",
]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.sampled_from(COLORED), min_size=100, max_size=600),
    st.lists(st.tuples(st.integers(0, 600), st.sampled_from(RARE)), max_size=2),
    st.lists(st.integers(0, 40_000), max_size=6),
    st.sampled_from([b"", b"\n"]),
)
def test_dense_colored_output_gives_the_same_with_its_escape_codes_dropped_at_once(
    lines: list[bytes], rare: list[tuple[int, bytes]], cuts: list[int], ending: bytes
) -> None:
    for at, line in rare:  # each of these makes dropping them all at once give way
        lines.insert(at, line)
    data = b"\n".join(lines) + ending
    bounds = sorted({min(cut, len(data)) for cut in cuts})
    chunks = [(data[a:b], 2) for a, b in zip([0, *bounds], [*bounds, len(data)], strict=False)]
    for rule in (SCANNING, WITH_EXTRA):
        for fast in PATHS:
            assert _tracked(chunks, rule, fast=fast) == _reference(chunks, rule)


def test_every_line_given_looks_like_an_error_as_shown() -> None:
    chunk = b"".join(b"INFO %d\nERROR \x1b[1m%d\x1b[0m\nWARN x\n" % (i, i) for i in range(5000))
    assert _tracked([(chunk, 2)], SCANNING, fast=True) == _tracked([(chunk, 2)], SCANNING)
    lines, total = _tracked([(chunk, 2)], SCANNING)[:2]
    assert total == 5000
    assert len(lines) == 20
    assert all(looks_like_error(line.text) and line.stream == "stderr" for line in lines)
    assert [line.number for line in lines[:2]] == [2, 5]
    assert lines[-1].number == 14999


SHOWN_OTHERWISE = [  # (raw line, whether it looks like an error once shown)
    (b"\x1b[31mERROR\x1b[0m upload", True),
    (b"ER\x1b[0mROR: split by an escape code", True),
    (b"\x1bERROR", False),  # ESC E is an escape code of its own: "RROR" is left
    (b"progress 10%\rprogress 100%\rERROR at the end", True),
    (b"ERROR at first\rthen overwritten", False),
    (b"\rERROR", True),
    (b"\xc3ERROR after a broken character", True),
    (b"\xe2\x82ERROR", True),
    (b"\xffpanic: x", True),
    (b"\x0fatal: shown as \\x0fatal", False),
    (b"\x01ERROR", False),  # shown as \x01ERROR: no word boundary before ERROR
    (b"ERROR\r", True),
    (b"\x00\x01\x02 binary ERR\x1b]0;t\x07OR", True),
]


@pytest.mark.parametrize(("raw", "expected"), SHOWN_OTHERWISE)
def test_a_line_that_does_not_show_as_it_is_is_judged_as_it_shows(
    raw: bytes, expected: bool
) -> None:
    filler = b"INFO fine\n" * (BATCH // 10)
    for chunks in ([(raw, 1)], [(filler + raw + b"\n" + filler, 1)]):
        for fast in PATHS:
            assert _tracked(chunks, SCANNING, fast=fast)[1] == expected
            assert _tracked(chunks, SCANNING, fast=fast) == _reference(chunks, SCANNING)


@pytest.mark.parametrize("insert", [b"\x1b[1m", b"\x1b]8;;x\x07", b"\x01", b"\xff", b"\r"])
def test_real_lines_with_something_inserted_anywhere_are_judged_as_they_show(insert: bytes) -> None:
    raw = [line.encode() for line in FLAGGED + NOT_FLAGGED]
    output = b"\n".join(line[:i] + insert + line[i:] for line in raw for i in range(len(line) + 1))
    for rule in (SCANNING, WITH_EXTRA):
        for fast in PATHS:
            assert _tracked([(output, 1)], rule, fast=fast) == _reference([(output, 1)], rule)


def test_a_line_keeps_the_stream_its_first_byte_came_from() -> None:
    chunks = [(b"ERROR one", 1), (b" goes on\nERR", 2), (b"OR two\n", 1), (b"ERROR three", 2)]
    lines, total, count = _tracked(chunks)
    assert (total, count) == (3, 3)
    assert [(line.text, line.stream) for line in lines] == [
        ("ERROR one goes on", "stdout"),
        ("ERROR two", "stderr"),
        ("ERROR three", "stderr"),
    ]


def test_a_long_line_is_shown_cut_with_what_was_left_out_counted() -> None:
    lines, _, _ = _tracked([(b"ERROR " + b"x" * 20_000 + b"\n", 1)])
    assert lines[0].text == "ERROR " + "x" * 1994 + "... [18,006 more characters]"


def test_finish_counts_a_last_line_once_and_later_output_is_a_new_line() -> None:
    tracker = ErrorLines()
    tracker.feed(b"ok\nERROR no newline", 1)
    assert tracker.lines == 1
    tracker.finish()
    tracker.finish()
    assert tracker.lines == 2
    tracker.feed(b"ERROR later\n", 2)
    tracker.finish()
    lines, total = tracker.result()
    assert total == 2
    assert [(x.number, x.stream) for x in lines] == [(2, "stdout"), (3, "stderr")]


def test_what_the_tracker_holds_stays_small_whatever_it_is_fed() -> None:
    one_line = b"x" * (1 << 20)
    error_lines = b"2026-01-01 ERROR record failed\n" * (1 << 15)
    colored = b"\x1b[31mERROR\x1b[0m record failed\n" * (1 << 14)
    for chunk in (one_line, error_lines, colored):
        tracker = ErrorLines(SCANNING)
        tracemalloc.start()
        try:
            for _ in range(32):  # 32 MiB (16 of them colored)
                tracker.feed(chunk, 1)
                tracker.feed(chunk[:1000], 2)  # small ones are gathered, then scanned
            held, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert held < 2 * BATCH + KEEP + 64 * 1024, (chunk[:20], held)
        assert peak < 2 << 20, (chunk[:20], peak)  # a block with its escape codes dropped


@pytest.mark.parametrize("fast", PATHS)
def test_a_line_cut_when_shown_is_judged_as_it_shows_on_either_path(fast: bool) -> None:
    # Cut after 2,000 characters, "ERRORS" leaves "ERROR" and then "... [": a word of the rule.
    cut = b"x" * 1994 + b" ERRORS and more"
    beyond = b"x" * 2100 + b" ERROR past the cut"  # not shown: not an error line
    filler = b"INFO fine\n" * (BATCH // 10)
    chunks = [(filler + cut + b"\n" + beyond + b"\n" + filler, 1)]
    lines, total, _ = _tracked(chunks, SCANNING, fast=fast)
    assert total == 1
    assert lines[0].number == BATCH // 10 + 1
    assert lines[0].text.startswith("x" * 1994 + " ERROR... [")
