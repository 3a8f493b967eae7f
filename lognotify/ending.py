"""How a Python block ended: its exit status, the exception's words and traceback, and the
RunResult that says so. Pure."""

from __future__ import annotations

import os
import shlex
import signal
import sys
import traceback

from lognotify import exits
from lognotify.outcome import RunResult, library_reason

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import TracebackType

    from lognotify.capture import Snapshot


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


def block_result(
    exc: BaseException | None,
    tb: TracebackType | None,
    *,
    stopped_by: int | None,
    started: float,
    ended: float,
    output: Snapshot,
    error_seen: bool,
) -> RunResult:
    """The RunResult of a block that ended with ``exc`` (None: normally), ``stopped_by`` a
    signal (SIGTERM, SIGINT) or not, having logged an error (``error_seen``) or not."""
    exit_code, exception, trace = block_ending(exc, tb)
    if stopped_by == signal.SIGTERM:
        # Our SystemExit(143), or what it became on its way out (a CancelledError in asyncio,
        # say): the run was stopped by SIGTERM either way. An exception that a `finally`
        # raised after it is reported too.
        exit_code = exits.for_signal(signal.SIGTERM)
        if isinstance(exc, (SystemExit, _cancelled())):
            exception = trace = None
    elif stopped_by == signal.SIGINT and not isinstance(exc, KeyboardInterrupt):
        stopped_by = None  # the job caught its KeyboardInterrupt: it was not stopped
    argv = getattr(sys, "orig_argv", None) or [sys.executable, *sys.argv]
    reason = library_reason(
        exit_code=exit_code, exception=exception, stopped_by=stopped_by, error_reported=error_seen
    )
    return RunResult(
        mode="library",
        command=shlex.join(argv),
        program=script_name(),
        exit_code=exit_code,
        reason=reason,
        exception=exception,
        traceback=trace,
        started=started,
        ended=ended,
        output=output,
        error_reported=error_seen,
        signal=stopped_by if stopped_by == signal.SIGTERM else None,
    )


def _cancelled() -> type[BaseException]:
    asyncio = sys.modules.get("asyncio")  # loaded if and only if a task could be cancelled
    return asyncio.CancelledError if asyncio is not None else SystemExit
