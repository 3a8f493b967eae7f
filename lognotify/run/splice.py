"""The kernel moves a stream: tee(2) copies a pipe's bytes into ours, splice(2) moves them on.

Python has ``os.splice`` but no ``tee``: it is called through ctypes, which a pump loads only
once its stream is large (``run.pump.SPLICE_AFTER``). What the capture needs comes up to user
space once, from our pipe; the bytes passed on stay in the kernel.
"""

from __future__ import annotations

import errno
import fcntl
import os
import select

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

SPLICE_F_NONBLOCK = 2
PIPE_SIZE = 1 << 20
# What splice(2) answers for an output it cannot write to (one opened with O_APPEND, a
# terminal on some kernels): the bytes are then read and written instead.
CANNOT = frozenset({errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.EBADF})


class Tee:
    """A pipe of ours that a source pipe's bytes are copied into (``copy``), and read back."""

    def __init__(self, tee: Callable[[int, int, int, int], int], get_errno: Callable[[], int]):
        self._tee = tee
        self._errno = get_errno
        self._read, self._write = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
        try:
            fcntl.fcntl(self._read, fcntl.F_SETPIPE_SZ, PIPE_SIZE)
        except OSError:
            pass  # above pipe-max-size: the default is smaller, and works
        self.closed = False

    @classmethod
    def open(cls) -> Tee | None:
        """A new Tee; None where tee(2) cannot be called (no ctypes, no libc, no Linux)."""
        try:
            import ctypes  # ~2 ms, hence only for large outputs

            libc = ctypes.CDLL(None, use_errno=True)
            tee = libc.tee
        except (ImportError, OSError, AttributeError):
            return None
        tee.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_size_t, ctypes.c_uint]
        tee.restype = ctypes.c_ssize_t
        try:
            return cls(tee, ctypes.get_errno)
        except OSError:  # no descriptor left: read and write, as before
            return None

    def copy(self, source: int, size: int) -> int:
        """Copy up to ``size`` bytes waiting in ``source`` into our pipe, which must be empty,
        without taking them from ``source``. 0 at its end of file; -1 when tee(2) cannot be
        used on it; BlockingIOError when nothing waits."""
        while True:
            copied = self._tee(source, self._write, size, SPLICE_F_NONBLOCK)
            if copied >= 0:
                return copied
            code = self._errno()
            if code == errno.EINTR:
                continue
            if code == errno.EAGAIN:
                raise BlockingIOError(code, os.strerror(code))
            if code in CANNOT:
                return -1
            raise OSError(code, os.strerror(code))

    def read(self, size: int) -> bytes:
        """The ``size`` bytes that ``copy`` put in our pipe (read at their size: one copy,
        and no buffer to shrink)."""
        data = os.read(self._read, size)
        while len(data) < size:  # never seen: a pipe gives what it holds, up to size
            data += os.read(self._read, size - len(data))
        return data

    def splice(self, source: int, out: int, size: int) -> int | OSError:
        """Move ``size`` bytes from ``source`` to ``out``; how many the kernel could not move
        there (0: all went), or the write error (EPIPE: the reader is gone)."""
        left = size
        while left:
            try:
                moved = os.splice(source, out, left)
            except BlockingIOError:  # a non-blocking output that is full: wait until it drains
                select.select([], [out], [])
            except InterruptedError:
                continue
            except OSError as exc:
                return left if exc.errno in CANNOT else exc
            else:
                if not moved:  # never, with the bytes in the source: do not spin on it
                    return left
                left -= moved
        return 0

    def close(self) -> None:
        """Close our pipe (once)."""
        if not self.closed:
            self.closed = True
            os.close(self._read)
            os.close(self._write)
