"""Capturing descriptors 1 and 2: all that a library block writes, passed through as it comes.

While a capture is active, descriptors 1 and 2 are pipes; a Pump per stream writes each chunk,
as it arrives, to the original descriptor and into every active capture's sink (stdout and
stderr never wait for each other). A process left running after the block still passes through,
into no sink, also once this process has exited (a small process then takes its pipe over).
"""

from __future__ import annotations

import atexit
import fcntl
import os
import sys
import threading
import time
from _thread import allocate_lock
from contextlib import ExitStack, suppress

from lognotify import stdstreams
from lognotify.run.pump import Order, Pump
from lognotify.run.signals import critical

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    Sink = Callable[[bytes, int], None]

STREAMS = (1, 2)  # also the stream numbers sinks are given: 1 stdout, 2 stderr
PIPE_SIZE = 1 << 20  # fewer, larger reads: less CPU per byte passed through
GRACE = 1.0  # waiting for a pump stuck on a stalled reader, once a signal waits or we exit
_FORWARDER = "import os\nwhile d := os.read(0, 65536):\n while d: d = d[os.write(1, d) :]\n"

_lock = allocate_lock()  # guards the state below and each stream's pump; never held to wait
_current: _Redirect | None = None
_leftover: set[_Stream] = set()  # retired streams whose pipe a late writer may still hold


class OutputCapture:
    """An active capture of descriptors 1 and 2, from :func:`capture_output`."""

    def __init__(self, sink: Sink) -> None:
        self._sink = sink
        self._redirect: _Redirect | None = None

    def close(self) -> None:
        """Stop: flush, put descriptors 1 and 2 back if this is the last capture, return.

        All that was written before (by this process, its children, C code) is then in the
        sink. Closing again does nothing.
        """
        try:
            stdstreams.flush()
        finally:
            with critical:
                redirect, self._redirect = self._redirect, None
                if redirect is not None:
                    redirect.leave(self)


def capture_output(sink: Sink) -> OutputCapture:
    """Start capturing descriptors 1 and 2 now; each chunk goes to ``sink(data, stream)``.

    ``stream`` is 1 (stdout) or 2 (stderr); each stream's chunks come in order, as they are
    written to the original descriptor. Returns the active capture, or raises leaving none.
    """
    capture = OutputCapture(sink)
    stdstreams.flush()  # what was written before the block goes out the way it always did
    try:
        with critical:
            capture._redirect = _enter(capture)
    except BaseException:
        capture.close()  # a signal held until the critical section ended: nothing left on
        raise
    return capture


class _Redirect:
    """Descriptors 1 and 2 through pipes, from the first active capture until the last closes."""

    def __init__(self, first: OutputCapture) -> None:
        self.captures: tuple[OutputCapture, ...] = (first,)  # replaced, never changed
        with ExitStack() as undo:  # what was taken, given back if the rest cannot be had
            self.streams = tuple(_Stream(fd, self, undo) for fd in STREAMS)
            self.order = Order(*(stream.source for stream in self.streams))
            for stream in self.streams:  # before dup2: their pipes are empty until then
                if stream.pump is not None:
                    stream.pump.order = self.order
            undo.pop_all()
        self.ttys = stdstreams.TtyAnswers()  # asked before the descriptors change
        for stream in self.streams:  # only now, when nothing else can fail
            os.dup2(stream.write_end, stream.fd)  # inheritable: children write into the pipe
            os.close(stream.write_end)

    def leave(self, capture: OutputCapture) -> None:
        self.drain()
        with _lock:
            self.captures = tuple(other for other in self.captures if other is not capture)
            if not self.captures and self is _current:
                self.retire()

    def retire(self) -> None:
        """Put the original descriptors back (under ``_lock``)."""
        global _current
        self.captures, _current = (), None
        for stream in self.streams:
            stream.retire()
        self.ttys.restore()

    def drain(self) -> None:
        """Return once what was written to the pipes before the call has reached the sinks.

        A pump asked to stop takes all that is in its pipe and ends; the next starts on the same
        pipe. A stop asked by someone else may predate our writes: then we stop the next.
        """
        waiting = list(self.streams)
        while waiting:
            with _lock:
                stopped = [
                    (stream, pump, not stream.stopping)
                    for stream in waiting
                    if (pump := stream.pump) is not None and not stream.retired
                ]
                for stream, pump, ours in stopped:
                    if ours:
                        stream.stopping = True
                        pump.stop()
            waiting = []
            for stream, pump, ours in stopped:
                if not _wait(pump):
                    return
                if not ours:
                    waiting.append(stream)


class _Stream:
    """One redirected descriptor: its saved original, its pipe, and the pump between them."""

    def __init__(self, fd: int, redirect: _Redirect, undo: ExitStack) -> None:
        self.fd, self.redirect = fd, redirect
        self.stopping = False  # the current pump was asked to stop (a drain waits for its end)
        self.retired = False  # fd is the original again: the pipe has only late writers now
        self.handing_off = False  # at exit: the pipe goes to a forwarding process
        self.saved, self.saved_open = os.dup(fd), True
        undo.callback(self._close_saved)
        self.source, self.write_end = os.pipe()
        undo.callback(os.close, self.source)
        undo.callback(os.close, self.write_end)
        with suppress(OSError):  # above this user's limit: the default size works too
            fcntl.fcntl(self.source, fcntl.F_SETPIPE_SZ, PIPE_SIZE)
        self.pump: Pump | None = self._new_pump(self.source).start()  # an empty pipe until dup2
        undo.callback(self.pump.join)
        undo.callback(self.pump.stop)
        undo.callback(setattr, self.pump, "on_end", None)

    def _new_pump(self, source: int) -> Pump:
        pump = Pump(source, self.saved, self._deliver)
        pump.on_end = lambda: self._ended(pump)
        pump.order, pump.peer = getattr(self.redirect, "order", None), self._peer
        return pump

    def _peer(self) -> Pump | None:
        """The other stream's pump of this redirect, now (pumps follow one another)."""
        streams = getattr(self.redirect, "streams", ())  # () while the redirect is being made
        return next((s.pump for s in streams if s is not self), None)

    def _deliver(self, data: bytes) -> None:
        for capture in self.redirect.captures:
            with suppress(Exception):  # a failing sink must not stop the stream, nor the others
                capture._sink(data, self.fd)

    def _ended(self, pump: Pump) -> None:
        # In the pump's thread as it ends: the next pump takes the same pipe over, unless the
        # pipe's end came (or its reader went away). Raising here would leave join() hanging.
        with _lock:
            self.stopping, self.pump = False, None
            source = pump.source_left_open
            if source is not None and not self.handing_off:
                try:
                    self.pump = self._new_pump(source).start()
                except Exception:  # no descriptor or thread left: writers get EPIPE, not a hang
                    os.close(source)
                    source = None
            if source is None and self.retired:
                self._close_saved()

    def retire(self) -> None:
        os.dup2(self.saved, self.fd)
        self.retired = True
        _leftover.add(self)
        if self.pump is None:
            self._close_saved()
        elif not self.stopping:  # the pipe's end comes when the last late writer lets it go
            self.stopping = True
            self.pump.stop()

    def _close_saved(self) -> None:
        _leftover.discard(self)
        if self.saved_open:
            self.saved_open = False
            os.close(self.saved)

    def hand_off(self) -> None:
        """At exit: give the pipe that a late writer still holds to a forwarding process."""
        with _lock:
            pump, self.handing_off = self.pump, True
            if pump is None:
                return
            pump.stop()
        if not pump.join(GRACE) or pump.source_left_open is None:
            return  # stuck on a reader that does not read, or the pipe's end came
        import subprocess

        argv = [sys.executable, "-I", "-S", "-c", _FORWARDER]  # isolated: no site, no env
        with suppress(OSError, ValueError):  # no interpreter: the late writer meets a closed pipe
            os.set_blocking(pump.source, True)  # the file description is shared with it
            subprocess.Popen(argv, stdin=pump.source, stdout=self.saved, stderr=subprocess.DEVNULL)
        os.close(pump.source)
        with _lock:
            self._close_saved()


def _enter(capture: OutputCapture) -> _Redirect:
    global _current
    while True:
        with _lock:
            redirect = _current
            if redirect is None:
                _current = _Redirect(capture)
                return _current
        redirect.drain()  # what was written before this capture began is not its own
        with _lock:
            if redirect is _current:  # else the last capture closed meanwhile: start again
                redirect.captures = (*redirect.captures, capture)
                return redirect


def _wait(pump: Pump) -> bool:  # False: a pending signal made us give up on it
    main = threading.current_thread() is threading.main_thread()
    deadline = None
    while not pump.join(0.05):
        if main and critical.pending:  # SIGTERM waits: a stalled reader must not hold it forever
            deadline = deadline or time.monotonic() + GRACE
            if time.monotonic() >= deadline:
                return False
    return True


@atexit.register
def _at_exit() -> None:
    if _current is not None:  # a capture never closed: the descriptors go back all the same
        stdstreams.flush()
        with _lock:
            _current.retire()
    for stream in list(_leftover):
        stream.hand_off()


def _forget() -> None:
    # A forked child writes into the parent's pipes, which the parent's pumps read; it has none.
    global _lock, _current
    _lock, _current = allocate_lock(), None
    _leftover.clear()


os.register_at_fork(after_in_child=_forget)
