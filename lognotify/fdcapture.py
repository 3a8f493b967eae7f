"""Capturing descriptors 1 and 2: all that a library block writes, passed through as it comes.

While a capture is active, descriptors 1 and 2 are the write ends of two pipes. One Pump per
stream writes each chunk, as it arrives, to the original descriptor and gives it to every active
capture's sink, so stdout and stderr never wait for each other; the last capture to close puts
the originals back. A process left running after the block keeps passing through, into no sink;
when this process exits first, a small process takes its pipe over (no SIGPIPE for it).
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
import time
from _thread import allocate_lock

from lognotify.run.pump import Pump
from lognotify.run.signals import critical

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from contextlib import ExitStack
    from typing import Any

    Sink = Callable[[bytes, int], None]

STREAMS = (1, 2)  # also the stream numbers sinks are given: 1 stdout, 2 stderr
PIPE_SIZE = 1 << 20  # fewer, larger reads: less CPU per byte passed through
# How long we still wait for a pump stuck on a reader that does not read, once we must go on
# (a signal waits for our critical section, or the process exits).
GRACE = 1.0
# Run at exit by the process that takes over a late writer's pipe: stdin to stdout.
_FORWARD = "import os\nwhile d := os.read(0, 65536):\n while d: d = d[os.write(1, d) :]\n"

_lock = allocate_lock()  # guards the state below and each stream's pump; never held to wait
_current: _Redirect | None = None
_leftover: set[_Stream] = set()  # retired streams whose pipe a late writer may still hold


class OutputCapture:
    """An active capture of descriptors 1 and 2, from :func:`capture_output`."""

    def __init__(self, sink: Sink) -> None:
        self._sink = sink
        self._redirect: _Redirect | None = None

    def close(self) -> None:
        """Stop: flush, put descriptors 1 and 2 back when this is the last capture, return.

        Everything written before the call (by this process, its children, C code) is in the
        sink when it returns. Closing again does nothing.
        """
        try:
            _flush_streams()
        finally:
            with critical:
                redirect, self._redirect = self._redirect, None
                if redirect is not None:
                    _leave(self, redirect)


def capture_output(sink: Sink) -> OutputCapture:
    """Start capturing descriptors 1 and 2 now; each chunk goes to ``sink(data, stream)``.

    ``stream`` is 1 (stdout) or 2 (stderr). Each stream's chunks reach the sink in order, as
    they are written, byte for byte, to the original descriptor. Either the capture is returned
    active, or an exception is raised and nothing is left active.
    """
    capture = OutputCapture(sink)
    _flush_streams()  # what was written before the block goes out the way it always did
    try:
        with critical:
            capture._redirect = _enter(capture)
    except BaseException:
        capture.close()  # a signal held until the critical section ended: nothing left on
        raise
    return capture


class _Redirect:
    """Descriptors 1 and 2 through pipes, from the first active capture until the last closes."""

    def __init__(self) -> None:
        from contextlib import ExitStack

        self.captures: tuple[OutputCapture, ...] = ()  # replaced, never changed: pumps read it
        with ExitStack() as undo:  # what was taken, given back if the rest cannot be had
            self.streams = tuple(_Stream(fd, self, undo) for fd in STREAMS)
            undo.pop_all()
        self.ttys = _patch_isatty()  # asked before the descriptors change
        for stream in self.streams:  # only now, when nothing else can fail
            os.dup2(stream.write_end, stream.fd)  # inheritable: children write into the pipe
            os.close(stream.write_end)

    def retire(self) -> None:
        """Put the original descriptors back (under ``_lock``)."""
        for stream in self.streams:
            stream.retire()
        _unpatch_isatty(self.ttys)


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
        try:
            import fcntl

            fcntl.fcntl(self.source, fcntl.F_SETPIPE_SZ, PIPE_SIZE)
        except OSError:
            pass  # above this user's limit: the default size works too
        self.pump: Pump | None = self._new_pump(self.source).start()  # an empty pipe until dup2
        undo.callback(self.pump.join)
        undo.callback(self.pump.stop)
        undo.callback(setattr, self.pump, "on_end", None)

    def _new_pump(self, source: int) -> Pump:
        pump = Pump(source, self.saved, self._deliver)
        pump.on_end = lambda: self._ended(pump)
        return pump

    def _deliver(self, data: bytes) -> None:
        for capture in self.redirect.captures:
            try:
                capture._sink(data, self.fd)
            except Exception:
                pass  # a failing sink must not stop the stream, nor the other sinks

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
        if self.pump is None:
            self._close_saved()
            return
        _leftover.add(self)
        if not self.stopping:  # the pipe's end comes when the last late writer lets it go
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
        try:
            import subprocess

            os.set_blocking(pump.source, True)  # the file description is shared with it
            argv = [sys.executable, "-I", "-S", "-c", _FORWARD]
            subprocess.Popen(argv, stdin=pump.source, stdout=self.saved, stderr=subprocess.DEVNULL)
        except (OSError, ValueError):
            pass  # no interpreter to run it: the late writer meets a closed pipe
        finally:
            os.close(pump.source)
            with _lock:
                self._close_saved()


def _enter(capture: OutputCapture) -> _Redirect:
    global _current
    while True:
        with _lock:
            redirect = _current
            if redirect is None:
                redirect = _current = _Redirect()
                redirect.captures = (capture,)
                return redirect
        _drain(redirect)  # what was written before this capture began is not its own
        with _lock:
            if redirect is _current:  # else the last capture closed meanwhile: start again
                redirect.captures = (*redirect.captures, capture)
                return redirect


def _leave(capture: OutputCapture, redirect: _Redirect) -> None:
    global _current
    _drain(redirect)
    with _lock:
        redirect.captures = tuple(other for other in redirect.captures if other is not capture)
        if not redirect.captures and redirect is _current:
            _current = None
            redirect.retire()


def _drain(redirect: _Redirect) -> None:
    """Return once what was written to the pipes before the call has reached the sinks.

    A pump asked to stop takes all that is in its pipe and ends; the next starts on the same
    pipe. A stop asked by someone else may predate our writes: then we stop the next one too.
    """
    waiting = list(redirect.streams)
    while waiting:
        stopped: list[tuple[_Stream, Pump, bool]] = []
        with _lock:
            for stream in waiting:
                if stream.pump is not None and not stream.retired:
                    stopped.append((stream, stream.pump, not stream.stopping))
                    if not stream.stopping:
                        stream.stopping = True
                        stream.pump.stop()
        waiting = []
        for stream, pump, ours in stopped:
            if not _wait(pump):
                return
            if not ours:
                waiting.append(stream)


def _wait(pump: Pump) -> bool:
    """Wait for ``pump`` to end; False when a pending signal made us give up on it."""
    if threading.current_thread() is not threading.main_thread():
        return pump.join()
    deadline = None
    while not pump.join(0.05):
        if critical.pending:  # SIGTERM waits for us: a stalled reader must not hold it forever
            deadline = deadline or time.monotonic() + GRACE
            if time.monotonic() >= deadline:
                return False
    return True


def _std_objects() -> list[Any]:
    """sys's standard streams, their buffers and raw files, each once, outermost first."""
    texts = (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__)
    layers = [(text, getattr(text, "buffer", None)) for text in texts]
    found = [obj for text, buf in layers for obj in (text, buf, getattr(buf, "raw", None))]
    return list({id(obj): obj for obj in found if obj is not None}.values())


_libc: Any = None


def _flush_streams() -> None:
    global _libc
    for obj in _std_objects():
        try:
            obj.flush()
        except (OSError, ValueError, AttributeError):
            pass  # closed, or its reader is gone: nothing more can be saved
    try:  # C code's stdout is block-buffered on a pipe: what it printed must not cross the swap
        if _libc is None:
            import ctypes

            _libc = ctypes.CDLL(None)
        _libc.fflush(None)
    except (ImportError, OSError, AttributeError):
        pass


def _tty() -> bool:
    return True


def _patch_isatty() -> list[Any]:
    # The same objects answer isatty() as before, on the instance: sys.stdout stays
    # sys.__stdout__, and what holds a reference to it (a StreamHandler) gets the same answer.
    patched = []
    for obj in _std_objects():
        try:
            if obj.fileno() in STREAMS and obj.isatty() and "isatty" not in vars(obj):
                obj.isatty = _tty
                patched.append(obj)
        except (AttributeError, TypeError, ValueError, OSError):
            pass  # no descriptor, closed, or no instance dict: not ours to change
    return patched


def _unpatch_isatty(patched: list[Any]) -> None:
    for obj in patched:
        if vars(obj).get("isatty") is _tty:
            del obj.isatty


@atexit.register
def _at_exit() -> None:
    global _current
    redirect = _current
    if redirect is not None:  # a capture never closed: the descriptors go back all the same
        _flush_streams()
        with _lock:
            redirect.captures, _current = (), None
            redirect.retire()
    for stream in list(_leftover):
        stream.hand_off()


def _forget() -> None:
    # A forked child writes into the parent's pipes, which the parent's pumps read; it has none.
    global _lock, _current
    _lock, _current = allocate_lock(), None
    _leftover.clear()


os.register_at_fork(after_in_child=_forget)
