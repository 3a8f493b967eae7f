"""TeeHandler on its own: each record to a stream (flushed at once) and into the bounded capture."""

from __future__ import annotations

import io
import logging
import logging.config
import os
import re
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from lognotify import TeeHandler

pytestmark = pytest.mark.timeout(60)


class FlushCountingStream(io.StringIO):
    """A text stream that remembers what had been written at each flush."""

    def __init__(self) -> None:
        super().__init__()
        self.flushed: list[str] = []

    def flush(self) -> None:
        self.flushed.append(self.getvalue())
        super().flush()


@pytest.fixture
def logger(request: pytest.FixtureRequest) -> Iterator[logging.Logger]:
    """A private logger that does not propagate, cleaned up after the test."""
    log = logging.getLogger(f"test_handler.{request.node.name}")
    log.propagate = False
    log.setLevel(logging.DEBUG)
    yield log
    for handler in list(log.handlers):
        log.removeHandler(handler)
        handler.close()


def test_each_record_goes_to_the_stream_flushed_and_into_the_capture(
    logger: logging.Logger,
) -> None:
    stream = FlushCountingStream()
    handler = TeeHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    logger.addHandler(handler)

    logger.info("first %d", 1)
    logger.warning("second")

    assert stream.flushed == ["INFO first 1\n", "INFO first 1\nWARNING second\n"]
    assert handler.getvalue() == "INFO first 1\nWARNING second\n"
    snapshot = handler.capture.snapshot()
    assert snapshot.head + snapshot.tail == b"INFO first 1\nWARNING second\n"
    assert snapshot.total_bytes == len(b"INFO first 1\nWARNING second\n")
    assert (snapshot.omitted_bytes, snapshot.omitted_lines) == (0, 0)


def test_records_reach_a_piped_stdout_at_once(tmp_path: Path) -> None:
    # stdout is a pipe, so it is block-buffered: the line shows before the job goes on only
    # because the handler flushes per record.
    script = tmp_path / "job.py"
    script.write_text(
        textwrap.dedent(
            """
            import logging, sys
            from lognotify import TeeHandler
            logging.basicConfig(level=logging.INFO, handlers=[TeeHandler()],
                                format="%(levelname)s %(message)s")
            logging.info("before the wait")
            sys.stdin.readline()
            logging.info("after the wait")
            """
        )
    )
    env = dict(os.environ)
    env.pop("PYTHONUNBUFFERED", None)
    proc = subprocess.Popen(
        [sys.executable, str(script)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=env,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()  # blocks until the line is flushed (or the test times out)
        assert first == "INFO before the wait\n"
        out, _ = proc.communicate("go\n", timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0
    assert out == "INFO after the wait\n"


def test_the_default_stream_is_sys_stdout_at_the_time_of_the_record(
    logger: logging.Logger, monkeypatch: pytest.MonkeyPatch
) -> None:
    handler = TeeHandler()
    logger.addHandler(handler)
    early, late = io.StringIO(), io.StringIO()
    monkeypatch.setattr(sys, "stdout", early)
    logger.info("one")
    monkeypatch.setattr(sys, "stdout", late)
    logger.info("two")

    assert (early.getvalue(), late.getvalue()) == ("one\n", "two\n")
    assert handler.getvalue() == "one\ntwo\n"


def test_echo_false_writes_to_the_capture_only(logger: logging.Logger) -> None:
    stream = io.StringIO()
    handler = TeeHandler(stream, echo=False)
    logger.addHandler(handler)
    logger.info("kept quietly")

    assert stream.getvalue() == ""
    assert handler.getvalue() == "kept quietly\n"


def test_a_record_the_stream_cannot_take_is_still_captured(
    logger: logging.Logger, capsys: pytest.CaptureFixture[str]
) -> None:
    stream = io.StringIO()
    handler = TeeHandler(stream)
    logger.addHandler(handler)
    logger.info("before close")
    stream.close()
    logger.error("after close")

    assert handler.getvalue() == "before close\nafter close\n"
    assert handler.error_seen is True
    assert "Logging error" in capsys.readouterr().err  # the stream's failure is still reported


def test_error_seen_turns_true_at_the_first_error_record(logger: logging.Logger) -> None:
    handler = TeeHandler(io.StringIO())
    logger.addHandler(handler)
    logger.debug("debug")
    logger.info("info")
    logger.warning("warning")
    assert handler.error_seen is False
    logger.error("error")
    assert handler.error_seen is True
    logger.info("later success does not reset it")
    assert handler.error_seen is True


def test_records_below_the_handler_level_are_neither_shown_nor_captured(
    logger: logging.Logger,
) -> None:
    stream = io.StringIO()
    handler = TeeHandler(stream, level="WARNING")
    logger.addHandler(handler)
    logger.info("too low")
    logger.warning("shown")

    assert stream.getvalue() == handler.getvalue() == "shown\n"


def test_max_bytes_keeps_the_start_and_the_end_and_counts_what_was_left_out(
    logger: logging.Logger,
) -> None:
    handler = TeeHandler(io.StringIO(), max_bytes=1000)
    logger.addHandler(handler)
    lines = [f"line {n:04d} " + "x" * 40 + "\n" for n in range(200)]
    for line in lines:
        logger.info(line.rstrip("\n"))

    snapshot = handler.capture.snapshot()
    everything = "".join(lines).encode()
    assert snapshot.total_bytes == len(everything)
    assert len(snapshot.head) + len(snapshot.tail) <= 1000
    assert len(snapshot.head) + snapshot.omitted_bytes + len(snapshot.tail) == len(everything)
    assert everything.startswith(snapshot.head)
    assert everything.endswith(snapshot.tail)
    assert snapshot.head.startswith(b"line 0000 ")
    assert snapshot.tail.endswith(b"line 0199 " + b"x" * 40 + b"\n")
    omitted = everything[len(snapshot.head) : len(everything) - len(snapshot.tail)]
    assert snapshot.omitted_lines == omitted.count(b"\n")
    assert handler.getvalue() == (snapshot.head + snapshot.tail).decode()


def test_text_that_is_not_utf8_encodable_is_captured_not_lost(logger: logging.Logger) -> None:
    stream = io.StringIO()
    handler = TeeHandler(stream)
    logger.addHandler(handler)
    logger.info("lone surrogate \udcff and é")

    assert stream.getvalue() == "lone surrogate \udcff and é\n"
    assert "and é" in handler.getvalue()
    assert handler.capture.snapshot().total_bytes > 0


def test_dict_config_builds_a_tee_handler_with_max_bytes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    out = io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    name = "test_handler.dictconfig"
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "formatters": {"short": {"format": "%(levelname)s:%(name)s:%(message)s"}},
            "handlers": {
                "tee": {
                    "class": "lognotify.TeeHandler",
                    "formatter": "short",
                    "level": "INFO",
                    "max_bytes": "4K",  # as LOGNOTIFY_MAX_BYTES is written
                    "stream": "ext://sys.stdout",
                }
            },
            "loggers": {name: {"handlers": ["tee"], "level": "DEBUG", "propagate": False}},
        }
    )
    log = logging.getLogger(name)
    try:
        (handler,) = log.handlers
        assert isinstance(handler, TeeHandler)
        assert handler.capture.max_bytes == 4096
        log.debug("filtered out by the handler level")
        log.info("configured by dictConfig")
        log.error("and an error")

        expected = f"INFO:{name}:configured by dictConfig\nERROR:{name}:and an error\n"
        assert out.getvalue() == expected
        assert handler.getvalue() == expected
        assert handler.error_seen is True
    finally:
        for handler in list(log.handlers):
            log.removeHandler(handler)
            handler.close()


THREADS = 16
RECORDS = 2000
RECORD = re.compile(r"^t(\d\d) r(\d{4}) (?:payload-){8}end$")


def _log_from_many_threads(logger: logging.Logger, handler: TeeHandler) -> None:
    """THREADS threads log RECORDS records each, all at once, while another reads snapshots."""
    start = threading.Barrier(THREADS + 1)
    done = threading.Event()

    def work(thread: int) -> None:
        start.wait()
        for n in range(RECORDS):
            logger.info("t%02d r%04d %send", thread, n, "payload-" * 8)

    def read() -> None:
        start.wait()
        while not done.wait(0.001):  # a reader spinning on the lock would starve the writers
            handler.capture.snapshot()
            handler.getvalue()

    threads = [threading.Thread(target=work, args=(t,)) for t in range(THREADS)]
    reader = threading.Thread(target=read)
    for thread in [*threads, reader]:
        thread.start()
    for thread in threads:
        thread.join(timeout=50)
        assert not thread.is_alive(), "a logging thread is stuck"
    done.set()
    reader.join(timeout=10)
    assert not reader.is_alive(), "the snapshot reader is stuck"


@pytest.mark.timeout(60)
def test_many_threads_logging_at_once_lose_or_tear_no_record(
    logger: logging.Logger, tmp_path: Path
) -> None:
    # Issue case 14: 16 threads x 2000 records, a real file as the stream, a capture big
    # enough for all of it; every record arrives whole, in each thread's order, exactly once.
    with open(tmp_path / "stream.log", "w", encoding="utf-8") as stream:
        handler = TeeHandler(stream, max_bytes=16 << 20)
        logger.addHandler(handler)
        _log_from_many_threads(logger, handler)
    snapshot = handler.capture.snapshot()

    for source in (handler.getvalue(), (tmp_path / "stream.log").read_text()):
        assert source.endswith("\n")
        lines = source.splitlines()
        assert len(lines) == THREADS * RECORDS
        seen: dict[int, list[int]] = {t: [] for t in range(THREADS)}
        for line in lines:
            match = RECORD.match(line)
            assert match, f"torn or interleaved line: {line!r}"
            seen[int(match[1])].append(int(match[2]))
        assert all(numbers == list(range(RECORDS)) for numbers in seen.values())
    assert snapshot.omitted_bytes == 0
    assert snapshot.total_bytes == len(handler.getvalue().encode())


@pytest.mark.timeout(60)
def test_many_threads_with_a_small_capture_keep_the_accounting_exact(
    logger: logging.Logger,
) -> None:
    handler = TeeHandler(io.StringIO(), max_bytes=64 * 1024)
    logger.addHandler(handler)
    _log_from_many_threads(logger, handler)

    snapshot = handler.capture.snapshot()
    line_bytes = len("t00 r0000 " + "payload-" * 8 + "end\n")
    total = THREADS * RECORDS * line_bytes
    assert snapshot.total_bytes == total
    assert len(snapshot.head) + snapshot.omitted_bytes + len(snapshot.tail) == total
    assert len(snapshot.head) + len(snapshot.tail) <= 64 * 1024
    kept_lines = snapshot.head.count(b"\n") + snapshot.tail.count(b"\n")
    assert kept_lines + snapshot.omitted_lines == THREADS * RECORDS
    # Records are whole: all but the lines cut at the edges of the omitted part are intact.
    head_lines = snapshot.head.decode().split("\n")[:-1]
    tail_lines = snapshot.tail.decode().split("\n")[1:-1]
    assert head_lines
    assert tail_lines
    assert all(RECORD.match(line) for line in head_lines + tail_lines)
