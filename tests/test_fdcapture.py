"""Capturing descriptors 1 and 2: real child programs, their real stdout and stderr, their sinks."""

from __future__ import annotations

import hashlib
import json
import os
import pty
import selectors
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

# Each child program starts with this: sinks that append to a real Capture, can be waited on
# ("settle": until the sink has received a given text), and a dump of what they hold.
PRELUDE = """
import json, os, subprocess, sys, threading
from lognotify.capture import Capture
from lognotify.fdcapture import capture_output

DUMP = sys.argv[1]


class Recorder:
    def __init__(self, max_bytes=1 << 26, track=True):
        self.capture = Capture(max_bytes)
        self.track = track
        self.seen = {1: bytearray(), 2: bytearray()}
        self.arrived = threading.Condition()

    def __call__(self, data, stream):
        self.capture.append(data, stream)
        if self.track:
            with self.arrived:
                self.seen[stream] += data
                self.arrived.notify_all()

    def settle(self, stream, needle):
        with self.arrived:
            if not self.arrived.wait_for(lambda: needle in self.seen[stream], timeout=30):
                raise SystemExit(f"never captured on {stream}: {needle!r}")

    def lines(self):
        snap = self.capture.snapshot()
        out = []
        for part, marks in ((snap.head, snap.head_marks), (snap.tail, snap.tail_marks)):
            for index, (start, stream) in enumerate(marks):
                end = marks[index + 1][0] if index + 1 < len(marks) else len(part)
                out += [[stream, line] for line in part[start:end].decode().splitlines(True)]
        return out


def dump(**values):
    with open(DUMP, "w") as file:
        json.dump(values, file)

"""


def child_env() -> dict[str, str]:
    # As a job runs: stdout block-buffered on a pipe (the tests' own runner sets it unbuffered).
    env = dict(os.environ)
    env.pop("PYTHONUNBUFFERED", None)
    return env


class Child:
    """A running child program; its dump, and what it wrote on its real stdout and stderr."""

    def __init__(self, tmp_path: Path, body: str, **popen: Any) -> None:
        script = tmp_path / "job.py"
        script.write_text(PRELUDE + textwrap.dedent(body))
        self.dump_path = tmp_path / "dump.json"
        self.dir = tmp_path
        popen.setdefault("stdout", subprocess.PIPE)
        popen.setdefault("stderr", subprocess.PIPE)
        self.proc = subprocess.Popen(
            [sys.executable, str(script), str(self.dump_path)],
            cwd=tmp_path,
            env=child_env(),
            stdin=subprocess.PIPE,
            **popen,
        )
        self.out = {1: b"", 2: b""}

    def _fd(self, stream: int) -> int:
        pipe = self.proc.stdout if stream == 1 else self.proc.stderr
        assert pipe is not None
        return pipe.fileno()

    def read_until(self, stream: int, needle: bytes, timeout: float = 30) -> None:
        """Read the child's real stdout (1) or stderr (2) until ``needle`` is in it."""
        fd = self._fd(stream)
        deadline = time.monotonic() + timeout
        with selectors.DefaultSelector() as selector:
            selector.register(fd, selectors.EVENT_READ)
            while needle not in self.out[stream]:
                left = deadline - time.monotonic()
                if left <= 0 or not selector.select(left):
                    raise AssertionError(f"no {needle!r} on {stream}; got {self.out[stream]!r}")
                chunk = os.read(fd, 1 << 16)
                if not chunk:
                    raise AssertionError(f"{stream} closed before {needle!r}: {self.out[stream]!r}")
                self.out[stream] += chunk

    def say(self, line: bytes) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + b"\n")
        self.proc.stdin.flush()

    def finish(self, timeout: float = 60) -> dict[str, Any]:
        """Wait for the end; the rest of stdout and stderr are read, the dump returned."""
        out, err = self.proc.communicate(timeout=timeout)
        self.out[1] += out or b""
        self.out[2] += err or b""
        assert self.dump_path.exists(), self.out[2].decode(errors="replace")
        return json.loads(self.dump_path.read_text())  # type: ignore[no-any-return]


@contextmanager
def child(tmp_path: Path, body: str, **popen: Any) -> Iterator[Child]:
    running = Child(tmp_path, body, **popen)
    try:
        yield running
    finally:
        if running.proc.poll() is None:
            running.proc.kill()
            running.proc.communicate()


def test_every_kind_of_write_is_captured_once_in_order_with_its_stream_and_passed_through(
    tmp_path: Path,
) -> None:
    body = """
    import ctypes, multiprocessing
    rec = Recorder()
    cap = capture_output(rec)
    print("print", flush=True); rec.settle(1, b"print\\n")
    sys.stdout.write("write\\n"); sys.stdout.flush(); rec.settle(1, b"write\\n")
    os.write(1, b"os-write-1\\n"); rec.settle(1, b"os-write-1\\n")
    os.write(2, b"os-write-2\\n"); rec.settle(2, b"os-write-2\\n")
    subprocess.run(["sh", "-c", "echo sub-out"], check=True); rec.settle(1, b"sub-out\\n")
    subprocess.run(["sh", "-c", "echo sub-err >&2"], check=True); rec.settle(2, b"sub-err\\n")
    libc = ctypes.CDLL(None)
    libc.puts(b"c-puts"); libc.fflush(None); rec.settle(1, b"c-puts\\n")
    forked = multiprocessing.get_context("fork").Process(target=print, args=("forked",))
    forked.start(); forked.join(); rec.settle(1, b"forked\\n")
    sys.stderr.write("stderr-write\\n")
    cap.close()
    print("after", flush=True)
    dump(lines=rec.lines())
    """
    with child(tmp_path, body) as job:
        dumped = job.finish()
    assert dumped["lines"] == [
        [1, "print\n"],
        [1, "write\n"],
        [1, "os-write-1\n"],
        [2, "os-write-2\n"],
        [1, "sub-out\n"],
        [2, "sub-err\n"],
        [1, "c-puts\n"],
        [1, "forked\n"],
        [2, "stderr-write\n"],
    ]
    assert job.out[1] == b"print\nwrite\nos-write-1\nsub-out\nc-puts\nforked\nafter\n"
    assert job.out[2] == b"os-write-2\nsub-err\nstderr-write\n"


def test_output_passes_through_as_it_is_written_before_the_block_ends(tmp_path: Path) -> None:
    body = """
    rec = Recorder()
    cap = capture_output(rec)
    os.write(1, b"\\x00raw\\xff bytes, no newline")
    os.write(2, b"err\\r\\n")
    sys.stdin.readline()  # the test has seen both
    cap.close()
    dump(data=rec.capture.snapshot().data.decode("latin-1"))
    """
    with child(tmp_path, body) as job:
        job.read_until(1, b"\x00raw\xff bytes, no newline")
        job.read_until(2, b"err\r\n")
        assert job.proc.poll() is None
        job.say(b"go")
        dumped = job.finish()
    assert job.out[1] == b"\x00raw\xff bytes, no newline"
    assert job.out[2] == b"err\r\n"
    assert sorted(dumped["data"].splitlines(True)) == ["\x00raw\xff bytes, no newline", "err\r\n"]


def test_descriptors_are_put_back_and_what_is_written_after_close_is_not_captured(
    tmp_path: Path,
) -> None:
    body = """
    import stat
    def ident(fd):
        st = os.fstat(fd)
        return [st.st_dev, st.st_ino, stat.S_ISFIFO(st.st_mode)]
    before = [ident(1), ident(2)]
    rec = Recorder()
    cap = capture_output(rec)
    during = [ident(1), ident(2)]
    os.write(1, b"in\\n")
    cap.close()
    after = [ident(1), ident(2)]
    os.write(1, b"out\\n"); os.write(2, b"out-err\\n")
    subprocess.run(["sh", "-c", "echo sub-after; echo sub-after-err >&2"], check=True)
    dump(before=before, during=during, after=after, lines=rec.lines())
    """
    with child(tmp_path, body) as job:
        dumped = job.finish()
    assert dumped["after"] == dumped["before"]
    assert all(
        ident != original
        for ident, original in zip(dumped["during"], dumped["before"], strict=True)
    )
    assert dumped["lines"] == [[1, "in\n"]]
    assert job.out[1] == b"in\nout\nsub-after\n"
    assert job.out[2] == b"out-err\nsub-after-err\n"


def test_sys_stdout_answers_isatty_and_keeps_its_settings_under_a_real_terminal(
    tmp_path: Path,
) -> None:
    body = """
    def state():
        return dict(
            tty=[sys.stdout.isatty(), sys.stdout.buffer.isatty(), sys.stderr.isatty()],
            encoding=[sys.stdout.encoding, sys.stdout.errors],
            line_buffering=sys.stdout.line_buffering,
            same=sys.stdout is sys.__stdout__,
        )
    before = state()
    rec = Recorder()
    cap = capture_output(rec)
    during = state()
    print("line-buffered")  # no flush: a terminal's stdout is line-buffered
    sys.stdin.readline()
    cap.close()
    dump(before=before, during=during, after=state(), lines=rec.lines())
    """
    master, slave = pty.openpty()
    try:
        with child(tmp_path, body, stdout=slave) as job:
            os.close(slave)
            seen = b""
            while b"line-buffered" not in seen:  # before the block ends
                seen += os.read(master, 1024)
            job.say(b"go")
            dumped = job.finish()
    finally:
        os.close(master)
    assert dumped["before"]["tty"] == [True, True, False]
    assert dumped["during"] == dumped["before"]
    assert dumped["after"] == dumped["before"]
    assert dumped["before"]["line_buffering"] is True
    assert dumped["lines"] == [[1, "line-buffered\n"]]


def test_nothing_written_just_before_close_is_lost(tmp_path: Path) -> None:
    body = """
    import ctypes
    rec = Recorder()
    cap = capture_output(rec)
    big = b"y" * (3 << 20) + b"\\n"  # more than the pipe holds
    os.write(1, big)
    ctypes.CDLL(None).puts(b"c-unflushed")  # sits in C's stdout buffer
    sys.stdout.write("py-unflushed\\n")  # sits in sys.stdout's buffer
    sys.stderr.write("err-unflushed")
    cap.close()
    dump(lines=rec.lines(), total=len(rec.capture))
    """
    with child(tmp_path, body) as job:
        dumped = job.finish()
    big = "y" * (3 << 20) + "\n"
    assert dumped["total"] == len(big) + len("c-unflushed\npy-unflushed\nerr-unflushed")
    assert sorted(map(tuple, dumped["lines"])) == [
        (1, "c-unflushed\n"),
        (1, "py-unflushed\n"),
        (1, big),
        (2, "err-unflushed"),
    ]
    # Which of Python's and C's buffers is flushed first is not the program's to know.
    assert job.out[1].startswith(big.encode())
    assert sorted(job.out[1][len(big) :].splitlines()) == [b"c-unflushed", b"py-unflushed"]
    assert job.out[2] == b"err-unflushed"


LATE = """
rec = Recorder()
cap = capture_output(rec)
late = subprocess.Popen(
    ["sh", "-c", "while [ ! -e go ]; do sleep 0.01; done; echo late; echo late-err >&2; echo done"]
)
print("in-block", flush=True)
cap.close()
dump(lines=rec.lines())
os.write(2, b"closed\\n")
"""


def test_a_child_left_running_passes_through_into_no_sink_after_the_block(tmp_path: Path) -> None:
    body = LATE + "sys.stdin.readline()\n"
    with child(tmp_path, body) as job:
        job.read_until(2, b"closed\n")
        (tmp_path / "go").touch()
        job.read_until(1, b"late\ndone\n")
        job.read_until(2, b"late-err\n")
        assert job.proc.poll() is None  # passed through while this process still runs
        job.say(b"exit")
        dumped = job.finish()
    assert dumped["lines"] == [[1, "in-block\n"]]
    assert job.out[1] == b"in-block\nlate\ndone\n"


def test_a_child_left_running_neither_holds_the_exit_nor_dies_of_sigpipe(tmp_path: Path) -> None:
    with child(tmp_path, LATE) as job:
        started = time.monotonic()
        assert job.proc.wait(timeout=10) == 0
        exited = time.monotonic() - started
        (tmp_path / "go").touch()  # only now does the late writer write
        dumped = job.finish()  # to the end of the pipes: the late writer has gone too
    assert exited < 5
    assert job.out[1] == b"in-block\nlate\ndone\n"  # "done": echo did not die of SIGPIPE
    assert job.out[2] == b"closed\nlate-err\n"
    assert dumped["lines"] == [[1, "in-block\n"]]


def test_a_stalled_stdout_does_not_hold_up_stderr(tmp_path: Path) -> None:
    body = """
    import fcntl
    pipe_size = fcntl.fcntl(1, fcntl.F_GETPIPE_SZ)
    rec = Recorder()
    cap = capture_output(rec)
    done = threading.Event()
    def flood():
        for _ in range(128):
            os.write(1, b"x" * 65535 + b"\\n")
        done.set()
    flooder = threading.Thread(target=flood)
    flooder.start()
    with rec.arrived:  # more than the real stdout holds: its pump now waits for the reader
        rec.arrived.wait_for(lambda: len(rec.seen[1]) > pipe_size)
    for n in range(5):
        os.write(2, b"err %d\\n" % n)
        rec.settle(2, b"err %d\\n" % n)
    stalled = not done.is_set()
    os.write(2, b"stderr-done\\n")
    flooder.join()
    cap.close()
    dump(stalled=stalled, stdout=len(rec.seen[1]))
    """
    with child(tmp_path, body) as job:
        job.read_until(2, b"stderr-done\n")  # stdout not read at all so far
        assert job.out[1] == b""
        dumped = job.finish()
    assert job.out[2] == b"err 0\nerr 1\nerr 2\nerr 3\nerr 4\nstderr-done\n"
    assert dumped["stalled"] is True
    assert job.out[1] == (b"x" * 65535 + b"\n") * 128
    assert dumped["stdout"] == len(job.out[1])


SIGTERM_PRELUDE = """
import signal
from lognotify.run.signals import critical, deferred, install

def stop():
    raise SystemExit(143)

install([signal.SIGTERM], lambda signum, frame: deferred(stop))
"""


def test_sigterm_during_a_flood_ends_promptly_with_what_was_printed_in_the_sink(
    tmp_path: Path,
) -> None:
    body = SIGTERM_PRELUDE + textwrap.dedent("""
    rec = Recorder(track=False)
    cap = capture_output(rec)
    try:
        n = 0
        while True:
            print(f"line {n:08d}")
            n += 1
    finally:
        cap.close()
        dump(data=rec.capture.snapshot().data.decode(), total=len(rec.capture))
    """)
    with child(tmp_path, body) as job:
        job.read_until(1, b"line 00020000\n")
        job.proc.send_signal(signal.SIGTERM)
        started = time.monotonic()
        dumped = job.finish(timeout=20)
    assert time.monotonic() - started < 10
    assert job.proc.returncode == 143
    assert dumped["total"] == len(job.out[1]) < 1 << 26
    assert dumped["data"].encode() == job.out[1]
    assert b"line 00020000\n" in job.out[1]


@pytest.mark.parametrize("after", [1, 7, 40, 150, 400])
def test_sigterm_at_any_point_of_opening_and_closing_leaves_the_descriptors_back(
    tmp_path: Path, after: int
) -> None:
    body = SIGTERM_PRELUDE + textwrap.dedent("""
    before = [os.fstat(1).st_ino, os.fstat(2).st_ino]
    rec = Recorder(track=False)
    n = 0
    try:
        while True:
            held = []
            try:
                with critical:
                    held.append(capture_output(rec))
                os.write(1, b"in %d\\n" % n)
            finally:
                for cap in held:
                    cap.close()
            n += 1
    finally:
        restored = [os.fstat(1).st_ino, os.fstat(2).st_ino] == before
        size = len(rec.capture)
        os.write(1, b"after\\n")
        dump(restored=restored, captured_after=len(rec.capture) - size)
    """)
    with child(tmp_path, body) as job:
        job.read_until(1, b"in %d\n" % after)
        job.proc.send_signal(signal.SIGTERM)
        dumped = job.finish(timeout=20)
    assert job.proc.returncode == 143
    assert dumped == {"restored": True, "captured_after": 0}
    assert job.out[1].endswith(b"after\n")


def test_overlapping_captures_in_two_threads_each_get_what_was_written_while_active(
    tmp_path: Path,
) -> None:
    body = """
    a, b = Recorder(), Recorder()
    b_open, a_closed = threading.Event(), threading.Event()
    def first():
        cap = capture_output(a)
        os.write(1, b"A1\\n"); a.settle(1, b"A1\\n")
        threading.Thread(target=second).start()
        b_open.wait()
        cap.close()
        a_closed.set()
    def second():
        cap = capture_output(b)
        os.write(2, b"B1\\n"); b.settle(2, b"B1\\n")
        b_open.set()
        a_closed.wait()
        os.write(1, b"B2\\n")
        cap.close()
        done.set()
    done = threading.Event()
    threading.Thread(target=first).start()
    done.wait()
    os.write(1, b"after\\n")
    dump(a=a.lines(), b=b.lines())
    """
    with child(tmp_path, body) as job:
        dumped = job.finish()
    assert dumped["a"] == [[1, "A1\n"], [2, "B1\n"]]
    assert dumped["b"] == [[2, "B1\n"], [1, "B2\n"]]
    assert job.out[1] == b"A1\nB2\nafter\n"
    assert job.out[2] == b"B1\n"


def test_a_capture_inside_a_capture_gets_only_its_own_part(tmp_path: Path) -> None:
    body = """
    outer_rec, inner_rec = Recorder(), Recorder()
    outer = capture_output(outer_rec)
    print("outer-1", flush=True)
    inner = capture_output(inner_rec)
    print("inner", flush=True)
    inner.close()
    print("outer-2", flush=True)
    outer.close()
    dump(outer=outer_rec.lines(), inner=inner_rec.lines())
    """
    with child(tmp_path, body) as job:
        dumped = job.finish()
    assert dumped["outer"] == [[1, "outer-1\n"], [1, "inner\n"], [1, "outer-2\n"]]
    assert dumped["inner"] == [[1, "inner\n"]]
    assert job.out[1] == b"outer-1\ninner\nouter-2\n"


def test_100_mb_pass_through_byte_exact_in_bounded_memory(tmp_path: Path) -> None:
    body = """
    import hashlib
    rec = Recorder(max_bytes=1 << 20, track=False)
    printed = hashlib.sha256()
    cap = capture_output(rec)
    for block in range(1000):
        lines = [f"{block:04d} {n:04d} " + "x" * 89 + "\\n" for n in range(1000)]
        printed.update("".join(lines).encode())
        for line in lines:
            print(line, end="")
    cap.close()
    with open("/proc/self/status") as status:
        hwm = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    dump(sha256=printed.hexdigest(), total=len(rec.capture), vm_hwm_kib=hwm)
    """
    with child(tmp_path, body) as job:
        received = hashlib.sha256()
        size = 0
        while chunk := os.read(job._fd(1), 1 << 20):
            received.update(chunk)
            size += len(chunk)
        dumped = job.finish(timeout=120)
    assert size == dumped["total"] == 100 * 1000 * 1000
    assert received.hexdigest() == dumped["sha256"]
    assert dumped["vm_hwm_kib"] < 64 * 1024, dumped


def test_captures_in_asyncio_tasks_may_close_in_any_order(tmp_path: Path) -> None:
    body = """
    import asyncio
    a, b = Recorder(), Recorder()
    async def job(rec, name, opened, other_opened, close_first, closed):
        cap = capture_output(rec)
        opened.set()
        await other_opened.wait()
        os.write(1, name + b"-both\\n")
        rec.settle(1, name + b"-both\\n")
        await close_first.wait()
        cap.close()
        closed.set()
        os.write(1, name + b"-closed\\n")
    async def main():
        a_open, b_open, a_closed, b_closed = (asyncio.Event() for _ in range(4))
        go = asyncio.Event()
        go.set()
        await asyncio.gather(  # a opens first and closes first: not a nest
            job(a, b"a", a_open, b_open, go, a_closed),
            job(b, b"b", b_open, a_open, a_closed, b_closed),
        )
    asyncio.run(main())
    dump(a=a.lines(), b=b.lines())
    """
    with child(tmp_path, body) as job:
        dumped = job.finish()
    # b writes first (a is waiting for it); both are active until a closes, first.
    assert dumped["a"] == [[1, "b-both\n"], [1, "a-both\n"]]
    assert dumped["b"] == [[1, "b-both\n"], [1, "a-both\n"], [1, "a-closed\n"]]
    assert job.out[1] == b"b-both\na-both\na-closed\nb-closed\n"
