"""How a Python block ended: its exit status, the exception's words and traceback. Pure."""

from __future__ import annotations

import os
import signal
import sys
import traceback

from lognotify import exits

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import TracebackType


def block_ending(
    exc: BaseException | None, tb: TracebackType | None
) -> tuple[int, str | None, str | None]:
    """The exit status, the exception's words and its traceback, for how the block ended.

    ``SystemExit(0)``/``SystemExit(None)`` is success; ``sys.exit("message")`` exits 1, as
    Python does; ``KeyboardInterrupt`` is 130; any other exception 1, with its traceback.
    """
    if isinstance(exc, SystemExit):
        if exc.code is None or exc.code == 0:
            return 0, None, None
        if isinstance(exc.code, int):
            return int(exc.code), None, None  # sys.exit(True) exits 1
        return 1, f"SystemExit: {exc.code}", None  # sys.exit("message"): printed, exit 1
    if isinstance(exc, KeyboardInterrupt):
        return exits.for_signal(signal.SIGINT), "KeyboardInterrupt", None
    if exc is None:
        return 0, None, None
    return 1, describe(exc), "".join(traceback.format_exception(type(exc), exc, tb))


def describe(exc: BaseException) -> str:
    """``ValueError: bad row``; a class outside builtins with its module."""
    kind = type(exc)
    name = (
        kind.__qualname__
        if kind.__module__ == "builtins"
        else f"{kind.__module__}.{kind.__qualname__}"
    )
    try:
        message = str(exc)
    except Exception:  # an exception may fail to describe itself; the report still goes out
        message = "<unprintable>"
    return f"{name}: {message}" if message else name


def script_name() -> str:
    """The running script's name, for a job that has none set."""
    path = sys.argv[0] if sys.argv and sys.argv[0] else ""
    if not path or path in ("-c", "-m", "-"):
        return "python"
    stem, _ = os.path.splitext(os.path.basename(path))
    if stem == "__main__":
        return os.path.basename(os.path.dirname(os.path.abspath(path))) or "python"
    return stem
