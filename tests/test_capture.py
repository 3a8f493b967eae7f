"""The bounded capture: head, tail and what was left out between them, at any volume."""

from __future__ import annotations

import threading

from hypothesis import given, settings
from hypothesis import strategies as st

from lognotify.capture import (
    HEAD_SHARE,
    MAX_MARKS,
    PARTIAL_LIMIT,
    PENDING_LIMIT,
    STDERR,
    STDOUT,
    Capture,
)


def assembled(parts: list[tuple[bytes, int]]) -> tuple[bytes, bytes]:
    """What the capture stores, in its order, and the stream of each byte: each stream's lines
    whole (a line is held until its newline, or PARTIAL_LIMIT bytes), the rest at the end."""
    stored, owners = bytearray(), bytearray()
    partial = {STDOUT: b"", STDERR: b""}

    def put(data: bytes, stream: int) -> None:
        stored.extend(data)
        owners.extend(bytes([stream]) * len(data))

    for data, stream in parts:
        end = data.rfind(b"\n") + 1
        if not end:
            partial[stream] += data
            if len(partial[stream]) >= PARTIAL_LIMIT:
                put(partial[stream], stream)
                partial[stream] = b""
            continue
        put(partial[stream] + data[:end], stream)
        partial[stream] = data[end:]
    for stream in (STDOUT, STDERR):
        put(partial[stream], stream)
    return bytes(stored), bytes(owners)


chunks = st.lists(
    st.tuples(
        st.binary(max_size=300).map(lambda b: b.replace(b"\r", b"\n")),
        st.sampled_from([STDOUT, STDERR]),
    ),
    max_size=40,
)


@settings(max_examples=400, deadline=None)
@given(max_bytes=st.integers(min_value=0, max_value=2000), parts=chunks)
def test_head_and_tail_are_the_first_and_last_bytes_and_the_rest_is_counted(
    max_bytes: int, parts: list[tuple[bytes, int]]
) -> None:
    capture = Capture(max_bytes)
    for data, stream in parts:
        capture.append(data, stream)
    everything, _ = assembled(parts)
    snap = capture.snapshot()
    head_limit = int(max_bytes * HEAD_SHARE)
    tail_limit = max_bytes - head_limit
    assert snap.head == everything[:head_limit]
    rest = everything[len(snap.head) :]
    assert snap.tail == (rest[max(len(rest) - tail_limit, 0) :] if tail_limit else b"")
    omitted = everything[len(snap.head) : len(everything) - len(snap.tail)]
    assert snap.omitted_bytes == len(omitted)
    assert snap.omitted_lines == omitted.count(b"\n")
    assert snap.total_bytes == len(everything) == len(capture)
    assert len(snap.head) + len(snap.tail) <= max_bytes
    if len(everything) <= max_bytes:
        assert snap.data == everything


@settings(max_examples=200, deadline=None)
@given(parts=chunks)
def test_each_byte_remembers_its_stream(parts: list[tuple[bytes, int]]) -> None:
    capture = Capture(1000)
    for data, stream in parts:
        capture.append(data, stream)
    _, owners = assembled(parts)
    snap = capture.snapshot()

    def expand(part: bytes, marks: tuple[tuple[int, int], ...]) -> bytes:
        out = bytearray()
        for index, (start, stream) in enumerate(marks):
            end = marks[index + 1][0] if index + 1 < len(marks) else len(part)
            out += bytes([stream]) * (end - start)
        return bytes(out)

    assert expand(snap.head, snap.head_marks) == owners[: len(snap.head)]
    if snap.tail:
        assert expand(snap.tail, snap.tail_marks) == owners[len(owners) - len(snap.tail) :]


def test_memory_stays_at_max_bytes_whatever_flows_through() -> None:
    capture = Capture(64 * 1024)
    line = b"2026-01-01T00:00:00Z INFO etl: processed record 12345 of batch 42\n"
    block = line * 2000
    for index in range(2000):  # about 270 MB
        capture.append(block, STDERR if index % 7 == 0 else STDOUT)
    held = len(capture._head) + len(capture._tail)
    assert held == 64 * 1024
    assert len(capture._tail_marks) <= MAX_MARKS
    assert len(capture._head_marks) <= MAX_MARKS
    snap = capture.snapshot()
    assert snap.omitted_lines == snap.omitted_bytes // len(line) or snap.omitted_lines > 0
    assert snap.total_bytes == len(block) * 2000


def test_a_single_append_larger_than_the_capture_keeps_its_start_and_end() -> None:
    capture = Capture(100)
    data = bytes(range(256)) * 40
    capture.append(data)
    snap = capture.snapshot()
    assert snap.head == data[:25]
    assert snap.tail == data[-75:]
    assert snap.omitted_bytes == len(data) - 100


def test_appends_from_many_threads_are_never_torn() -> None:
    capture = Capture(10_000_000)
    records = [f"thread {n} record {i}\n".encode() for n in range(8) for i in range(2000)]

    def write(n: int) -> None:
        for i in range(2000):
            capture.append(f"thread {n} record {i}\n".encode())

    threads = [threading.Thread(target=write, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    lines = capture.snapshot().data.splitlines(keepends=True)
    assert sorted(lines) == sorted(records)


@settings(max_examples=100, deadline=None)
@given(
    max_bytes=st.integers(min_value=0, max_value=300_000),
    steps=st.lists(
        st.tuples(
            st.sampled_from([10, 1000, PENDING_LIMIT - 1, PENDING_LIMIT, 100_000]),
            st.sampled_from([STDOUT, STDERR]),
            st.booleans(),
        ),
        max_size=25,
    ),
)
def test_gathered_small_appends_and_big_ones_keep_their_order(
    max_bytes: int, steps: list[tuple[int, int, bool]]
) -> None:
    capture = Capture(max_bytes)
    everything = b""
    for index, (size, stream, look) in enumerate(steps):
        data = bytes([65 + index % 26]) * (size - 1) + b"\n"
        capture.append(data, stream)
        everything += data
        if look:  # a snapshot in the middle must see everything appended so far
            middle = capture.snapshot()
            assert middle.total_bytes == len(everything)
            assert middle.head + middle.tail == everything[: len(middle.head)] + (
                everything[len(everything) - len(middle.tail) :] if middle.tail else b""
            )
    snap = capture.snapshot()
    assert snap.head == everything[: len(snap.head)]
    assert snap.tail == (everything[len(everything) - len(snap.tail) :] if snap.tail else b"")
    omitted = everything[len(snap.head) : len(everything) - len(snap.tail)]
    assert (snap.omitted_bytes, snap.omitted_lines) == (len(omitted), omitted.count(b"\n"))


def test_a_line_written_in_pieces_is_kept_whole_with_its_own_stream() -> None:
    capture = Capture(1 << 20)
    capture.append(b"progress: 10%", STDOUT)
    capture.append(b"warning: disk slow\n", STDERR)  # arrives while stdout is mid-line
    capture.append(b" 100% done\n", STDOUT)
    snap = capture.snapshot()
    assert snap.data == b"warning: disk slow\nprogress: 10% 100% done\n"
    assert snap.head_marks == ((0, STDERR), (19, STDOUT))
    assert snap.total_lines == 2


def test_error_lines_of_the_whole_output_are_kept_with_their_numbers() -> None:
    capture = Capture(2000)
    for number in range(1, 5001):
        text = b"FATAL: out of disk" if number % 997 == 0 else b"INFO processed row %d" % number
        capture.append(text + b"\n", STDERR if number % 997 == 0 else STDOUT)
    snap = capture.snapshot()
    assert snap.omitted_lines > 4000
    assert [(line.number, line.stream) for line in snap.error_lines] == [
        (997 * k, "stderr") for k in range(1, 6)
    ]
    assert snap.error_lines_total == 5
    assert snap.total_lines == 5000
