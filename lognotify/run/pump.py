"""Pump: one stream moved from a pipe to where it was going, byte for byte, and into a sink.

A pump is a thread of its own, so that a reader who stops reading one stream (a stalled
``kubectl logs``, a full pipe) never holds up the other: each stream blocks, as it would
without lognotify, only on its own reader. Each chunk goes to the sink (the capture) before
it is written on, so output that cannot be written still reaches the report.
"""

from __future__ import annotations

import errno
import os
import select
from _thread import allocate_lock, start_new_thread  # threading itself costs ~2 ms at start-up

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

CHUNK = 1 << 20
# After stop(): how many reads may still take what is already in the pipe. A leftover
# process still writing must not keep the pump for ever.
STOP_READS = 64


class Pump:
    """Moves ``source`` (a pipe's read end, made non-blocking here) to ``out`` and ``sink``.

    ``out`` None captures without passing on. On EPIPE (our reader went away) the source is
    closed, so the writer meets a closed pipe as it would have without us; any other write
    error is given to ``on_write_error`` once, and the stream is still captured.
    ``on_end`` is called from the pump's thread when it ends (end of file, or after stop()).
    The pump closes the source at its end of file; after stop() a source that is still open
    (a leftover process holds its other end) is the owner's again: ``source_left_open``.
    """

    def __init__(
        self,
        source: int,
        out: int | None,
        sink: Callable[[bytes], None],
        *,
        on_end: Callable[[], None] | None = None,
        on_write_error: Callable[[OSError], None] | None = None,
    ) -> None:
        self.source = source
        self.out = out
        self.sink = sink
        self.on_end = on_end
        self.on_write_error = on_write_error
        self.eof = False  # the source reached its end (every writer closed it)
        self.closed = False  # the source was closed here (EPIPE)
        self.mid_line = False  # what was written on did not end with a newline
        self._stop_r, self._stop_w = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
        self._running = allocate_lock()
        os.set_blocking(source, False)

    def start(self) -> Pump:
        """Start the pump's thread."""
        self._running.acquire()
        start_new_thread(self._run, ())
        return self

    def join(self, timeout: float = -1) -> bool:
        """Wait until the pump has ended (at most ``timeout`` seconds); whether it has."""
        if self._running.acquire(True, timeout):
            self._running.release()
            return True
        return False

    @property
    def running(self) -> bool:
        """Whether the pump's thread has not ended yet."""
        return self._running.locked()

    @property
    def source_left_open(self) -> int | None:
        """The source, when the pump ended before its end of file (after stop())."""
        return None if self.eof or self.closed else self.source

    def stop(self) -> None:
        """Take what is already in the pipe, then end, without waiting for more."""
        try:
            os.write(self._stop_w, b"x")
        except OSError:
            pass  # already asked

    def _run(self) -> None:
        try:
            poller = select.poll()
            poller.register(self.source, select.POLLIN)
            poller.register(self._stop_r, select.POLLIN)
            while not self.eof and not self.closed:
                ready = {fd for fd, _ in poller.poll()}
                if self._stop_r in ready:
                    for _ in range(STOP_READS):
                        if not self._move():
                            break
                    break
                self._move()
        finally:
            if self.eof:
                os.close(self.source)
            os.close(self._stop_r)
            os.close(self._stop_w)
            if self.on_end is not None:
                self.on_end()
            self._running.release()

    def _move(self) -> bool:
        """One read passed on; False when there was nothing to read, or the stream ended."""
        try:
            data = os.read(self.source, CHUNK)
        except BlockingIOError:
            return False
        except OSError:
            data = b""  # EIO from a pseudo-terminal whose writers are gone: its end
        if not data:
            self.eof = True
            return False
        self.sink(data)
        if self.out is not None:
            failure = write_all(self.out, data)
            self.mid_line = not data.endswith(b"\n")
            if failure is not None:
                self.out = None
                if failure.errno == errno.EPIPE:
                    os.close(self.source)
                    self.closed = True
                    return False
                if self.on_write_error is not None:
                    self.on_write_error(failure)
        return True


def write_all(fd: int, data: bytes) -> OSError | None:
    """Write all of ``data`` to ``fd``; the error when it cannot be (EPIPE: the reader is gone)."""
    view = memoryview(data)
    while view:
        try:
            written = os.write(fd, view)
        except BlockingIOError:  # someone made this descriptor non-blocking: wait until it drains
            select.select([], [fd], [])
            continue
        except InterruptedError:
            continue
        except OSError as exc:
            return exc
        view = view[written:]
    return None
