"""Pump: one stream moved byte for byte, in a thread of its own, into a sink and onwards.

Each behaviour holds both ways a pump moves bytes: read and written (``splice_after=-1``),
and moved by the kernel (tee(2) into the capture's pipe, splice(2) on: ``splice_after=0``).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from lognotify.run.pump import Pump, pair

WAYS = pytest.mark.parametrize("splice_after", [-1, 0], ids=["copied", "spliced"])


def _write_then_close(fd: int, data: bytes) -> threading.Thread:
    def write() -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.close(fd)

    writer = threading.Thread(target=write)
    writer.start()
    return writer


@WAYS
def test_every_byte_reaches_the_sink_and_the_output_in_order(splice_after: int) -> None:
    source_r, source_w = os.pipe()
    out_r, out_w = os.pipe()
    seen: list[bytes] = []
    ended = threading.Event()
    pump = Pump(source_r, out_w, seen.append, on_end=ended.set, splice_after=splice_after).start()
    data = bytes(range(256)) * 40_000 + b"no newline at the end"  # 10 MB: many chunks
    writer = _write_then_close(source_w, data)
    received = bytearray()
    while len(received) < len(data):
        received += os.read(out_r, 1 << 16)  # a slow reader: 64 KiB at a time
    writer.join()
    assert pump.join(10)
    assert ended.is_set()
    assert bytes(received) == data
    assert b"".join(seen) == data
    assert all(isinstance(chunk, bytes) for chunk in seen)
    assert pump.eof
    assert pump.mid_line
    assert pump.source_left_open is None
    assert pump.moved == len(data)
    os.close(out_r)
    os.close(out_w)


def test_a_large_stream_is_moved_by_the_kernel_and_a_small_one_is_not() -> None:
    for size, spliced in ((1000, False), (6 << 20, True)):
        source_r, source_w = os.pipe()
        out_r, out_w = os.pipe()
        seen: list[bytes] = []
        states: list[bool] = []
        pump = Pump(source_r, out_w, lambda d, s=seen: s.append(d)).start()
        writer = _write_then_close(source_w, b"x" * size)
        received = 0
        while received < size:
            received += len(os.read(out_r, 1 << 20))
            states.append(pump.spliced)
        writer.join()
        assert pump.join(10)
        assert sum(map(len, seen)) == size
        assert any(states) == spliced
        os.close(out_r)
        os.close(out_w)


@WAYS
def test_a_non_blocking_output_is_waited_on_not_dropped(splice_after: int) -> None:
    source_r, source_w = os.pipe()
    out_r, out_w = os.pipe()
    os.set_blocking(out_w, False)  # as someone else's code may have left it
    pump = Pump(source_r, out_w, lambda data: None, splice_after=splice_after).start()
    data = os.urandom(3 << 20)
    writer = _write_then_close(source_w, data)
    received = bytearray()
    while len(received) < len(data):
        received += os.read(out_r, 4096)
    writer.join()
    assert pump.join(10)
    assert bytes(received) == data
    os.close(out_r)
    os.close(out_w)


@WAYS
def test_an_output_the_kernel_cannot_splice_to_is_written_instead(
    tmp_path: Path, splice_after: int
) -> None:
    source_r, source_w = os.pipe()
    log = tmp_path / "out.log"
    out = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND)  # splice(2) refuses O_APPEND
    seen: list[bytes] = []
    pump = Pump(source_r, out, seen.append, splice_after=splice_after).start()
    data = b"line\n" * 500_000
    _write_then_close(source_w, data).join()
    assert pump.join(10)
    os.close(out)
    assert log.read_bytes() == data
    assert b"".join(seen) == data


@WAYS
def test_when_the_reader_goes_away_the_writer_meets_a_closed_pipe(splice_after: int) -> None:
    source_r, source_w = os.pipe()
    out_r, out_w = os.pipe()
    os.close(out_r)  # nobody reads our output any more
    seen: list[bytes] = []
    pump = Pump(source_r, out_w, seen.append, splice_after=splice_after).start()
    os.write(source_w, b"first\n")
    assert pump.join(10)
    assert pump.closed
    assert b"".join(seen) == b"first\n"  # captured, though it could not be written
    try:
        os.write(source_w, b"second\n")
        raised = False
    except BrokenPipeError:
        raised = True
    assert raised
    os.close(source_w)
    os.close(out_w)


def test_stop_takes_what_is_there_and_leaves_a_source_still_held_open() -> None:
    source_r, source_w = os.pipe()
    seen: list[bytes] = []
    pump = Pump(source_r, None, seen.append).start()
    os.write(source_w, b"already written\n")
    pump.stop()
    assert pump.join(10)
    assert b"".join(seen) == b"already written\n"
    assert pump.source_left_open == source_r  # a leftover still holds the other end
    os.close(source_r)
    os.close(source_w)


@WAYS
def test_a_write_error_other_than_a_closed_pipe_is_told_and_capture_goes_on(
    splice_after: int,
) -> None:
    source_r, source_w = os.pipe()
    full = os.open("/dev/full", os.O_WRONLY)
    seen: list[bytes] = []
    errors: list[OSError] = []
    pump = Pump(
        source_r, full, seen.append, on_write_error=errors.append, splice_after=splice_after
    ).start()
    os.write(source_w, b"one\n")
    os.write(source_w, b"two\n")
    os.close(source_w)
    assert pump.join(10)
    assert b"".join(seen) == b"one\ntwo\n"
    assert len(errors) == 1
    os.close(full)


def test_two_streams_reach_the_sink_in_the_order_they_were_written() -> None:
    # One line to stdout, then one to stderr, as a job writes them: the two pumps' threads
    # wake together and either could read first; their shared Order keeps the writing order.
    # (Without it about one run in five comes out the other way round.)
    for _ in range(200):
        assert _one_line_each() == [("stdout", b"loading\n"), ("stderr", b"ERROR: db down\n")]


def _one_line_each() -> list[tuple[str, bytes]]:
    seen: list[tuple[str, bytes]] = []
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    out = Pump(out_r, None, lambda data: seen.append(("stdout", data)))
    err = Pump(err_r, None, lambda data: seen.append(("stderr", data)))
    pair(out, err)
    out.start()
    err.start()
    os.write(out_w, b"loading\n")
    os.write(err_w, b"ERROR: db down\n")
    os.close(out_w)
    os.close(err_w)
    assert out.join(10)
    assert err.join(10)
    return seen


def test_a_peer_stuck_on_a_stalled_reader_never_holds_the_other_stream_up() -> None:
    # stdout's reader stops reading; stdout's pump blocks passing its output on. stderr's
    # lines still go through at once, and in the sink, although stdout's pipe holds older bytes.
    seen: list[bytes] = []
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    stalled_r, stalled_w = os.pipe()  # nobody reads this: the pipe fills and writes block
    passed_r, passed_w = os.pipe()
    out = Pump(out_r, stalled_w, lambda data: None)
    err = Pump(err_r, passed_w, seen.append)
    pair(out, err)
    out.start()
    err.start()
    flood = _write_then_close(out_w, b"x" * (8 << 20))  # far more than the stalled pipe takes
    for number in range(20):
        line = b"err %d\n" % number
        os.write(err_w, line)
        assert os.read(passed_r, 100) == line  # passed on before the next is written
    os.close(err_w)
    assert err.join(10)
    assert b"".join(seen) == b"".join(b"err %d\n" % n for n in range(20))
    drained = 0  # the stalled reader reads again: stdout's flood goes through whole
    while drained < 8 << 20:
        drained += len(os.read(stalled_r, 1 << 20))
    flood.join()
    assert out.join(10)
    os.close(stalled_r)
    for fd in (stalled_w, passed_r, passed_w):
        os.close(fd)
