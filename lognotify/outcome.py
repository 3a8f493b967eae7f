"""What happened to one run, and why it ended, in Kubernetes' terms and in a person's words.

Pure: the runner, the library and the watcher each say what they saw; the functions here
decide the reason (``X-Lognotify-Reason``) and its words, once, for all of them.
"""

from __future__ import annotations

import signal as signals

from lognotify.capture import Snapshot
from lognotify.kubernetes.cgroup import format_bytes
from lognotify.record import Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Literal

    Mode = Literal["command", "library", "test", "watch"]

#: Reasons of a run that did not fail; every other reason is a failure.
NOT_FAILED = frozenset({"success", "errors", "test"})
# What a stopping signal from outside usually means, for the report's first sentence.
_WHO_STOPS: dict[int, str] = {
    signals.SIGTERM: "pod deleted, deadline or eviction",
    signals.SIGINT: "Ctrl-C",
    signals.SIGHUP: "its terminal or session closed",
    signals.SIGQUIT: "a quit request",
}


class Reason(Record):
    """Why a run ended: ``code`` (the contract's values), a sentence and a few words."""

    code: str
    sentence: str
    short: str


class Memory(Record):
    """The memory cgroup's view of the run: its limit and peak (each may be unknown)."""

    limit_bytes: int | None = None
    peak_bytes: int | None = None
    oom_killed: bool = False


class RunResult(Record):
    """The outcome of a run: how it ended, when, and what it printed.

    ``exit_code`` is the status the process ends with (128+N for signal N, 124 for a timeout).
    ``signal`` is the signal that ended the command, if any. ``error_reported``: the run
    reported an error while it ran (an ERROR record, or output on stderr). ``program`` is the
    name to fall back on for the job name.
    """

    mode: Mode
    command: str
    program: str
    exit_code: int
    reason: Reason
    started: float
    ended: float
    output: Snapshot = Snapshot()
    signal: int | None = None
    timed_out: bool = False
    timeout: float | None = None
    exception: str | None = None
    traceback: str | None = None
    note: str | None = None
    error_reported: bool = False
    memory: Memory | None = None

    @property
    def failed(self) -> bool:
        """True when the run failed (a run stopped from outside did, whatever its status)."""
        return self.reason.code not in NOT_FAILED


def signal_name(signum: int) -> str:
    """``SIGTERM`` for 15; ``signal 64`` for a number Python has no name for."""
    try:
        return signals.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def command_reason(
    *,
    exit_code: int,
    signal: int | None = None,
    stopped_by: int | None = None,
    timeout: float | None = None,
    timed_out: bool = False,
    killed_after: float | None = None,
    spawn_error: str | None = None,
    memory: Memory | None = None,
    error_reported: bool = False,
) -> Reason:
    """Why a wrapped command ended.

    ``stopped_by``: a stopping signal lognotify received from outside before the end.
    ``killed_after``: lognotify sent SIGKILL this many seconds after SIGTERM.
    ``spawn_error``: ``not-found`` or ``not-executable`` (``note`` words the detail).
    """
    killed = (
        f"; still running {_seconds(killed_after)} after SIGTERM; killed with SIGKILL"
        if killed_after is not None
        else ""
    )
    if spawn_error is not None:
        what = "command not found" if spawn_error == "not-found" else "cannot execute"
        return Reason(
            code=spawn_error,
            sentence=f"it could not start: {what}",
            short=f"exit {exit_code}, {what}",
        )
    if timed_out:
        took = _seconds(timeout or 0)
        return Reason(
            code="timeout",
            sentence=f"stopped by --timeout after {took}{killed}",
            short=f"timed out after {format_seconds(timeout or 0)}",
        )
    if memory is not None and memory.oom_killed and signal == signals.SIGKILL and not killed:
        return Reason(
            code="oom", sentence=f"ran out of memory{_memory_words(memory)}", short="out of memory"
        )
    if stopped_by is not None:
        ending = killed or ("" if signal == stopped_by else f"; {_ending(exit_code, signal)}")
        return _stopped(stopped_by, ending)
    if signal is not None:
        return Reason(
            code="signal", sentence=f"killed by {_signal_words(signal)}", short=signal_name(signal)
        )
    return _status(exit_code, error_reported, errors="it wrote to stderr")


def library_reason(
    *,
    exit_code: int,
    exception: str | None = None,
    stopped_by: int | None = None,
    error_reported: bool = False,
) -> Reason:
    """Why a ``capture_and_notify`` block ended (``stopped_by``: SIGTERM, or the SIGINT of a
    KeyboardInterrupt)."""
    if stopped_by is not None:
        return _stopped(stopped_by, f"; {_ending(exit_code, None)}")
    if exception is not None:
        kind = exception.split(":", 1)[0]
        return Reason(code="exception", sentence=f"raised {exception}", short=kind)
    return _status(exit_code, error_reported, errors="it logged an error")


def test_reason() -> Reason:
    """The reason of ``--test-email``'s sample report."""
    return Reason(code="test", sentence="a test of the mail settings", short="test")


def _stopped(signum: int, ending: str) -> Reason:
    who = _WHO_STOPS.get(signum)
    name = signal_name(signum)
    sentence = f"stopped from outside by {name}" + (f" ({who})" if who else "")
    return Reason(code="terminated", sentence=sentence + ending, short=name)


def _status(exit_code: int, error_reported: bool, *, errors: str) -> Reason:
    if exit_code:
        return Reason(
            code="exit", sentence=f"exited with status {exit_code}", short=f"exit {exit_code}"
        )
    if error_reported:
        return Reason(code="errors", sentence=f"succeeded (exit 0), but {errors}", short="exit 0")
    return Reason(code="success", sentence="succeeded (exit 0)", short="exit 0")


def _ending(exit_code: int, signal: int | None) -> str:
    if signal is not None:
        return f"it was killed by {signal_name(signal)}"
    return f"it then exited with status {exit_code}"


def _signal_words(signum: int) -> str:
    name = signal_name(signum)
    try:
        described = signals.strsignal(signum)
    except ValueError:
        described = None
    return f"{name} ({described.lower()})" if described and described != name else name


def _memory_words(memory: Memory) -> str:
    parts = []
    if memory.limit_bytes is not None:
        parts.append(f"limit {format_bytes(memory.limit_bytes)}")
    if memory.peak_bytes is not None:
        parts.append(f"peak {format_bytes(memory.peak_bytes)}")
    return f" ({', '.join(parts)})" if parts else " (killed by the kernel's OOM killer)"


def _seconds(seconds: float) -> str:
    return f"{seconds:g} s"


def format_seconds(seconds: float) -> str:
    """``1.5s``, ``2m 3s``, ``1h 0m 5s``: short and exact enough for a report."""
    if seconds < 60:
        text = f"{seconds:.3f}".rstrip("0").rstrip(".")
        return f"{text}s"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h {minutes}m {secs}s" if hours else f"{minutes}m {secs}s"
