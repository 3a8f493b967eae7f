"""Pump: one stream moved from a pipe to where it was going, byte for byte, and into a sink.

A pump is a thread of its own, so that a reader who stops reading one stream (a stalled
``kubectl logs``, a full pipe) never holds up the other: each stream blocks, as it would
without lognotify, only on its own reader. Each chunk goes to the sink (the capture) before
it is passed on, so output that cannot be written still reaches the report.

Reads go into one buffer, reused (no allocation per chunk). Once a stream has carried
``SPLICE_AFTER`` bytes, the pump lets the kernel move it (``run.splice``): tee(2) copies what
is in the pipe into a pipe of ours, which the capture reads, and splice(2) moves the original
on, so the passed-on bytes never come up to user space. Where the kernel cannot (an output
opened for appending, a terminal on some kernels), the pump goes on reading and writing.

Two pipes do not say which of their bytes came first, and two threads can read them in
either order. The two pumps of one process share an ``Order``: a lock held from a read until
its chunk is in the sink, so the capture sees chunks in the order they were read; and an
epoll of both pipes, whose ready list is kept in the order the pipes became readable, so a
pump about to read while its peer's pipe began to hold bytes before its own lets the peer
take them first (waiting ``ORDER_WAIT`` at most, so its own stream is passed on at most that
much later, and only then). A peer stuck on a stalled reader is never waited for.
"""

from __future__ import annotations

import errno
import os
import select
import time
from _thread import allocate_lock  # threading itself costs ~2 ms at start-up

from lognotify import threads

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from lognotify.run.splice import Tee

CHUNK = 1 << 20
# After stop(): how many reads may still take what is already in the pipe. A leftover
# process still writing must not keep the pump for ever.
STOP_READS = 64
# Bytes a stream carries before the kernel moves it: loading ctypes for tee(2) costs ~2 ms,
# which a short output would never win back.
SPLICE_AFTER = 4 << 20
# The first read's buffer; it doubles after each read that fills it, up to CHUNK.
FIRST_READ = 64 << 10
# How long a chunk waits for the peer to take what its pipe held first (module docstring).
ORDER_WAIT = 0.005


class Pump:
    """Moves ``source`` (a pipe's read end, made non-blocking here) to ``out`` and ``sink``.

    ``out`` None captures without passing on. On EPIPE (our reader went away) the source is
    closed, so the writer meets a closed pipe as it would have without us; any other write
    error is given to ``on_write_error`` once, and the stream is still captured.
    ``on_end`` is called from the pump's thread when it ends (end of file, or after stop()).
    The pump closes the source at its end of file; after stop() a source that is still open
    (a leftover process holds its other end) is the owner's again: ``source_left_open``.
    The sink is given each chunk as ``bytes`` of its own.
    """

    def __init__(
        self,
        source: int,
        out: int | None,
        sink: Callable[[bytes], None],
        *,
        on_end: Callable[[], None] | None = None,
        on_write_error: Callable[[OSError], None] | None = None,
        splice_after: int = SPLICE_AFTER,
    ) -> None:
        self.source = source
        self.out = out
        self.sink = sink
        self.on_end = on_end
        self.on_write_error = on_write_error
        self.eof = False  # the source reached its end (every writer closed it)
        self.closed = False  # the source was closed here (EPIPE)
        self.mid_line = False  # what was written on did not end with a newline
        self.moved = 0  # bytes taken from the source
        self.order: Order | None = None  # shared with the peer, the other stream's pump
        self.peer: Callable[[], Pump | None] | None = None
        self._reading = allocate_lock()  # the order's lock, when the pump has a peer
        self.sunk = 0  # chunks given to the sink
        self.waiting = False  # for the peer, to keep the order of writing
        self.passing = False  # writing a chunk on (a stalled reader can hold it there)
        self._splice_after = splice_after  # -1: never
        self._tee: Tee | None = None
        self._buffer = bytearray()
        self._stop_r, self._stop_w = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
        self._running = allocate_lock()
        os.set_blocking(source, False)

    def start(self) -> Pump:
        """Start the pump's thread."""
        self._running.acquire()
        threads.start(self._run, "lognotify-pump")
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
    def spliced(self) -> bool:
        """Whether the kernel moves this stream now (tee and splice)."""
        return self._tee is not None

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
            self._stop_splicing()
            if self.eof:
                os.close(self.source)
            os.close(self._stop_r)
            os.close(self._stop_w)
            if self.on_end is not None:
                self.on_end()
            self._running.release()

    def _move(self) -> bool:
        """One chunk passed on; False when there was nothing to read, or the stream ended."""
        if self._tee is None and 0 <= self._splice_after <= self.moved and self.out is not None:
            from lognotify.run.splice import Tee

            self._tee = Tee.open()
            self._splice_after = -1  # asked once: a kernel that cannot, cannot
            self._buffer = bytearray()  # tee's copy is read at its size
        self._after_peer()
        with self._reading if self.order is None else self.order.lock:
            try:
                data = self._take()
            except BlockingIOError:
                return False
            except OSError:
                data = None  # EIO from a pseudo-terminal whose writers are gone: its end
            if not data:
                self.eof = True
                return False
            self.moved += len(data)
            chunk = data if isinstance(data, bytes) else bytes(data)
            self.sink(chunk)
            self.sunk += 1
        if self.out is not None:
            self.mid_line = chunk[-1] != 10
            self.passing = True
            failure = self._pass_on(chunk)
            self.passing = False
            if failure is not None:
                return self._failed(failure)
        return True

    def _after_peer(self) -> None:
        """Before a read: while the peer's pipe holds bytes it began to hold before ours,
        wait (ORDER_WAIT at most) for the peer to give them to the sink."""
        peer = self.peer() if self.peer is not None else None
        if peer is None or self.order is None:
            return
        if peer.waiting or peer.passing or peer.spliced or not peer.running:
            return
        if not self.order.before(peer.source, self.source):
            return
        self.waiting = True
        try:
            sunk, until = peer.sunk, time.monotonic() + ORDER_WAIT
            while peer.sunk == sunk and peer.running and not peer.passing:
                if time.monotonic() >= until:
                    break
                time.sleep(ORDER_WAIT / 20)  # lets the peer's thread run; ends the moment it has
        finally:
            self.waiting = False

    def _take(self) -> bytes | memoryview:
        """The next chunk: tee's copy (the original is still in the source), or read into
        our buffer."""
        if self._tee is not None:
            size = self._tee.copy(self.source, CHUNK)
            if size >= 0:
                return self._tee.read(size)
            self._stop_splicing()  # not a pipe tee(2) takes: read and write from now on
        if not self._buffer:
            self._buffer = bytearray(FIRST_READ)
        view = memoryview(self._buffer)
        size = os.readv(self.source, [view])
        if size == len(view) < CHUNK:  # a full read: the writer is fast, read more at once
            self._buffer = bytearray(2 * size)  # (memory only for what a stream needs)
        return view[:size]

    def _pass_on(self, chunk: bytes) -> OSError | None:
        assert self.out is not None
        if self._tee is None:
            return write_all(self.out, chunk)
        left = self._tee.splice(self.source, self.out, len(chunk))
        if isinstance(left, OSError):
            self._drop(len(chunk))  # captured already; what stays unwritten leaves the pipe
            return left
        if left:  # the kernel cannot move it there: read and write from now on
            self._stop_splicing()
            self._drop(left)
            return write_all(self.out, chunk[len(chunk) - left :])
        return None

    def _drop(self, size: int) -> None:
        """Take ``size`` bytes from the source that tee copied (and the sink got) already."""
        while size:
            try:
                size -= len(os.read(self.source, min(size, FIRST_READ)))
            except InterruptedError:
                continue

    def _stop_splicing(self) -> None:
        if self._tee is not None:
            self._tee.close()
            self._tee = None

    def _failed(self, failure: OSError) -> bool:
        self.out = None
        self._stop_splicing()
        if failure.errno == errno.EPIPE:
            os.close(self.source)
            self.closed = True
            return False
        if self.on_write_error is not None:
            self.on_write_error(failure)
        return True


class Order:
    """What the pumps of one process's two streams share (module docstring)."""

    def __init__(self, *sources: int) -> None:
        self.lock = allocate_lock()  # held from a read until its chunk is in the sink
        self._arrivals = select.epoll(len(sources), select.EPOLL_CLOEXEC)  # closed when freed
        for source in sources:
            self._arrivals.register(source, select.EPOLLIN)

    def before(self, first: int, second: int) -> bool:
        """Whether both pipes hold bytes, and ``first`` began to before ``second`` did."""
        try:
            ready = [fd for fd, events in self._arrivals.poll(0) if events & select.EPOLLIN]
        except (OSError, ValueError):  # closed
            return False
        return first in ready and second in ready and ready.index(first) < ready.index(second)


def pair(first: Pump, second: Pump) -> None:
    """Make two pumps (not started yet) of one process's streams keep their order of writing."""
    first.order = second.order = Order(first.source, second.source)
    first.peer, second.peer = (lambda: second), (lambda: first)


def write_all(fd: int, data: bytes | memoryview) -> OSError | None:
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
