"""Pump: one stream moved byte for byte, in a thread of its own, into a sink and onwards."""

from __future__ import annotations

import os
import threading

from lognotify.run.pump import Pump


def test_every_byte_reaches_the_sink_and_the_output_in_order() -> None:
    source_r, source_w = os.pipe()
    out_r, out_w = os.pipe()
    seen: list[bytes] = []
    ended = threading.Event()
    pump = Pump(source_r, out_w, seen.append, on_end=ended.set).start()
    data = bytes(range(256)) * 4000 + b"no newline at the end"
    writer = threading.Thread(target=lambda: (os.write(source_w, data), os.close(source_w)))
    writer.start()
    received = bytearray()
    while len(received) < len(data):
        received += os.read(out_r, 1 << 16)
    writer.join()
    assert pump.join(10) and ended.is_set()
    assert bytes(received) == data and b"".join(seen) == data
    assert pump.eof and pump.mid_line and pump.source_left_open is None
    os.close(out_r)
    os.close(out_w)


def test_when_the_reader_goes_away_the_writer_meets_a_closed_pipe() -> None:
    source_r, source_w = os.pipe()
    out_r, out_w = os.pipe()
    os.close(out_r)  # nobody reads our output any more
    pump = Pump(source_r, out_w, lambda data: None).start()
    os.write(source_w, b"first\n")
    assert pump.join(10) and pump.closed
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


def test_a_write_error_other_than_a_closed_pipe_is_told_and_capture_goes_on() -> None:
    source_r, source_w = os.pipe()
    full = os.open("/dev/full", os.O_WRONLY)
    seen: list[bytes] = []
    errors: list[OSError] = []
    pump = Pump(source_r, full, seen.append, on_write_error=errors.append).start()
    os.write(source_w, b"one\n")
    os.write(source_w, b"two\n")
    os.close(source_w)
    assert pump.join(10)
    assert b"".join(seen) == b"one\ntwo\n" and len(errors) == 1
    os.close(full)
