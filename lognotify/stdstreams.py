"""sys's standard streams while descriptors 1 and 2 are redirected (``fdcapture``): flushed
before each swap, and answering isatty() as they did before it."""

from __future__ import annotations

import sys
from contextlib import suppress

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_libc: Any = None  # C's stdio, loaded once (ctypes), for fflush(NULL)


def _objects() -> list[Any]:  # sys's streams, their buffers and raw files, each once
    texts = (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__)
    found = [(t, b, getattr(b, "raw", None)) for t in texts for b in [getattr(t, "buffer", None)]]
    return list({id(obj): obj for layer in found for obj in layer if obj is not None}.values())


def flush() -> None:
    """Flush sys's streams, their buffers, and C's stdio (whose stdout is block-buffered on a
    pipe), so that what was written before descriptors 1 and 2 change goes where it was going."""
    global _libc
    for obj in _objects():
        with suppress(OSError, ValueError, AttributeError):  # closed, or its reader is gone
            obj.flush()
    # C code's stdout is block-buffered on a pipe: what it printed must not cross the swap.
    with suppress(ImportError, OSError, AttributeError):
        if _libc is None:
            import ctypes

            _libc = ctypes.CDLL(None)
        _libc.fflush(None)


class TtyAnswers:
    """sys's streams that were on a terminal answer isatty() as before, while redirected.

    On the instances: sys.stdout stays itself, and a StreamHandler holding it sees the same.
    """

    answer = True.__bool__  # one object, so that ours is recognised when putting it back

    def __init__(self) -> None:
        self.patched: list[Any] = []
        for obj in _objects():  # no descriptor, closed, or no instance dict: not ours
            with suppress(AttributeError, TypeError, ValueError, OSError):
                if obj.fileno() in (1, 2) and obj.isatty() and "isatty" not in vars(obj):
                    obj.isatty = self.answer
                    self.patched.append(obj)

    def restore(self) -> None:
        """Let them answer isatty() for themselves again."""
        for obj in self.patched:
            if vars(obj).get("isatty") is self.answer:
                del obj.isatty
