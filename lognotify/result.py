"""RunResult: what happened to one run, in library mode or wrapper mode alike."""

from __future__ import annotations

import signal

from lognotify._frozen import Frozen
from lognotify.capture import Snapshot


_VERBS = {int(signal.SIGTERM): "terminated", int(signal.SIGINT): "interrupted"}


def signal_name(number: int) -> str:
    """``SIGTERM`` for 15; ``signal 64`` for a number Python has no name for."""
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


class RunResult(Frozen):
    """The outcome of a run: how it ended, when, and what it printed.

    ``exit_code`` is the status the process ends with (128+N for signal N, 124 for a timeout).
    ``signal`` is the signal that ended the run, if any; ``exception`` and ``traceback`` are
    set in library mode when an exception escaped the block. ``error_reported`` says whether
    the run reported an error while succeeding (an ERROR record, or output on stderr).
    ``program`` is the name to fall back on for the job name.
    """

    __slots__ = (
        "mode",
        "command",
        "program",
        "exit_code",
        "signal",
        "timed_out",
        "timeout",
        "exception",
        "traceback",
        "note",
        "started",
        "ended",
        "output",
        "error_reported",
    )
    mode: str
    command: str
    program: str
    exit_code: int
    signal: int | None
    timed_out: bool
    timeout: float | None
    exception: str | None
    traceback: str | None
    note: str | None
    started: float
    ended: float
    output: Snapshot
    error_reported: bool

    def __init__(
        self,
        *,
        mode: str,
        command: str,
        program: str,
        exit_code: int,
        started: float,
        ended: float,
        output: Snapshot | None = None,
        signal: int | None = None,
        timed_out: bool = False,
        timeout: float | None = None,
        exception: str | None = None,
        traceback: str | None = None,
        note: str | None = None,
        error_reported: bool = False,
    ) -> None:
        self._init(
            mode=mode,
            command=command,
            program=program,
            exit_code=exit_code,
            signal=signal,
            timed_out=timed_out,
            timeout=timeout,
            exception=exception,
            traceback=traceback,
            note=note,
            started=started,
            ended=ended,
            output=output or Snapshot(),
            error_reported=error_reported,
        )

    @property
    def failed(self) -> bool:
        """True when the run failed: non-zero status, a timeout, or an escaped exception."""
        return self.exit_code != 0 or self.timed_out or self.exception is not None

    @property
    def short_reason(self) -> str:
        """Why the run ended, in a few words, for the subject line."""
        if self.timed_out:
            return f"timed out after {format_seconds(self.timeout or 0)}"
        if self.signal is not None:
            return signal_name(self.signal)
        if self.exception is not None:
            return self.exception.split(":", 1)[0]
        if self.note:
            return f"exit {self.exit_code}, {self.note.split(':', 1)[0]}"
        return f"exit {self.exit_code}"

    @property
    def reason(self) -> str:
        """Why the run ended, in a sentence, for the report body."""
        parts = []
        if self.timed_out:
            parts.append(f"stopped after the timeout of {format_seconds(self.timeout or 0)}")
        if self.signal is not None:
            verb = _VERBS.get(self.signal, "killed")
            parts.append(f"{verb} by {signal_name(self.signal)}")
        if self.exception is not None:
            parts.append(f"exception {self.exception}")
        if self.note:
            parts.append(self.note)
        parts.append(f"exit status {self.exit_code}")
        return "; ".join(parts)


def format_seconds(seconds: float) -> str:
    """``1.5s``, ``2m 3s``, ``1h 0m 5s``: short and exact enough for a report."""
    if seconds < 60:
        text = f"{seconds:.3f}".rstrip("0").rstrip(".")
        return f"{text}s"
    whole = int(round(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h {minutes}m {secs}s" if hours else f"{minutes}m {secs}s"
