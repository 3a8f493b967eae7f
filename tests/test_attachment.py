"""The attachment: the redacted log gzipped within the room the message leaves it, its middle
left out at line ends when it must, with one marker saying how much in all."""

from __future__ import annotations

import gzip
import os
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from lognotify.report.attachment import SMALLEST, fit
from lognotify.report.shown import Log

MARKER = re.compile(rb"\[\.\.\. ([\d,]+) bytes \(([\d,]+) lines?\) omitted \.\.\.\]\n")


def number(text: bytes) -> int:
    return int(text.replace(b",", b""))


def test_a_log_that_fits_is_attached_whole() -> None:
    log = Log(head=b"one\ntwo\n", total_bytes=8)
    attached = fit(log, 100_000, mtime=1_790_000_000)
    assert gzip.decompress(attached.data) == b"one\ntwo\n"
    assert (attached.kept_bytes, attached.omitted_bytes) == (8, 0)
    assert attached.data[4:8] == (1_790_000_000).to_bytes(4, "little")  # gzip's own mtime


def test_the_same_log_and_time_give_the_same_bytes() -> None:
    log = Log(head=b"x\n" * 1000, total_bytes=2000)
    assert fit(log, 100_000, mtime=5).data == fit(log, 100_000, mtime=5).data


def test_what_the_capture_left_out_is_one_marker_between_head_and_tail() -> None:
    log = Log(
        head=b"first\n", tail=b"last\n", omitted_bytes=1234, omitted_lines=56, total_bytes=1245
    )
    data = gzip.decompress(fit(log, 100_000, mtime=0).data)
    assert data == b"first\n[... 1,234 bytes (56 lines) omitted ...]\nlast\n"


def test_a_head_cut_mid_line_still_puts_the_marker_on_a_line_of_its_own() -> None:
    log = Log(head=b"no newline", tail=b"end\n", omitted_bytes=10, omitted_lines=1, total_bytes=24)
    data = gzip.decompress(fit(log, 100_000, mtime=0).data)
    assert data == b"no newline\n[... 10 bytes (1 line) omitted ...]\nend\n"


def test_a_log_too_big_for_the_room_loses_its_middle_at_line_ends() -> None:
    lines = [b"%06d %s\n" % (n, os.urandom(20).hex().encode()) for n in range(20_000)]
    whole = b"".join(lines)
    room = 200_000
    attached = fit(Log(head=whole, total_bytes=len(whole)), room, mtime=0)
    assert len(attached.data) <= (room - 1024) * 3 // 4
    data = gzip.decompress(attached.data)
    marker = MARKER.search(data)
    assert marker is not None
    head, tail = data[: marker.start()], data[marker.end() :]
    assert whole.startswith(head)
    assert whole.endswith(tail)
    assert head.endswith(b"\n")
    assert tail.startswith(b"0")
    assert number(marker[1]) == attached.omitted_bytes == len(whole) - len(head) - len(tail)
    assert number(marker[2]) == whole.count(b"\n") - head.count(b"\n") - tail.count(b"\n")
    assert attached.kept_bytes == len(head) + len(tail)
    assert len(tail) > 2 * len(head)  # the end, where failures show, gets the larger share


def test_a_second_cut_is_counted_in_the_one_marker_with_the_first() -> None:
    head, tail = os.urandom(300_000), os.urandom(300_000)
    log = Log(
        head=head, tail=tail, omitted_bytes=1_000_000, omitted_lines=10, total_bytes=1_600_000
    )
    attached = fit(log, 100_000, mtime=0)
    data = gzip.decompress(attached.data)
    assert len(MARKER.findall(data)) == 1
    assert data.startswith(head[:1000])
    assert data.endswith(tail[-1000:])
    assert attached.kept_bytes + attached.omitted_bytes == 1_600_000
    assert attached.omitted_bytes > 1_000_000


def test_without_room_the_attachment_is_the_marker_alone() -> None:
    whole = os.urandom(50_000)
    attached = fit(Log(head=whole, total_bytes=len(whole)), 0, mtime=0)
    assert (attached.kept_bytes, attached.omitted_bytes) == (0, 50_000)
    assert gzip.decompress(attached.data) == b"[... 50,000 bytes (%d lines) omitted ...]\n" % (
        whole.count(b"\n")
    )


@settings(max_examples=60, deadline=None)
@given(
    head=st.lists(st.binary(max_size=200), max_size=40),
    tail=st.lists(st.binary(max_size=200), max_size=40),
    gap=st.integers(min_value=0, max_value=10_000),
    room=st.integers(min_value=0, max_value=20_000),
)
def test_kept_and_left_out_always_add_up_and_the_ends_are_kept(
    head: list[bytes], tail: list[bytes], gap: int, room: int
) -> None:
    head_bytes, tail_bytes = b"\n".join(head), b"\n".join(tail)
    total = len(head_bytes) + gap + len(tail_bytes)
    log = Log(
        head=head_bytes,
        tail=tail_bytes,
        omitted_bytes=gap,
        omitted_lines=gap // 10,
        total_bytes=total,
    )
    attached = fit(log, room, mtime=0)
    assert attached.kept_bytes + attached.omitted_bytes == total
    data = gzip.decompress(attached.data)
    found = list(MARKER.finditer(data))
    if attached.omitted_bytes:
        assert number(found[-1][1]) == attached.omitted_bytes
    else:
        assert data == head_bytes + tail_bytes
    budget = max((room - 1024) * 3 // 4, 0)
    assert len(attached.data) <= budget or attached.kept_bytes <= SMALLEST
