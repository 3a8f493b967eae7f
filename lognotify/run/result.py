"""A wrapped command's RunResult: from its wait status and the schedule, or from why it
never started. Pure: the caller gives the times and the captured output."""

from __future__ import annotations

import os

from lognotify.outcome import RunResult, command_reason
from lognotify.run.spawn import spawn_failure

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

    from lognotify.capture import Snapshot
    from lognotify.outcome import Memory
    from lognotify.run.schedule import Schedule


def not_started(
    argv: Sequence[str], exc: OSError, *, started: float, ended: float, output: Snapshot
) -> RunResult:
    """The result of a command that could not be started (127, 126 and why)."""
    exit_code, code, note = spawn_failure(argv[0], exc)
    return RunResult(
        mode="command",
        command=joined(argv),
        program=program(argv),
        exit_code=exit_code,
        reason=command_reason(exit_code=exit_code, spawn_error=code),
        note=note,
        started=started,
        ended=ended,
        output=output,
    )


def finished(
    argv: Sequence[str],
    status: int,
    schedule: Schedule,
    *,
    started: float,
    ended: float,
    memory: Memory,
    timeout: float | None,
    stderr_seen: bool,
    output: Snapshot,
) -> RunResult:
    """The result of a command that ran and ended with wait status ``status``."""
    died_of = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
    code = os.waitstatus_to_exitcode(status)
    exit_code = 124 if schedule.timed_out else (128 - code if code < 0 else code)
    reason = command_reason(
        exit_code=exit_code,
        signal=died_of,
        stopped_by=schedule.stopped_by,
        timeout=timeout,
        timed_out=schedule.timed_out,
        killed_after=schedule.killed_after,
        memory=memory,
        error_reported=stderr_seen,
    )
    return RunResult(
        mode="command",
        command=joined(argv),
        program=program(argv),
        exit_code=exit_code,
        reason=reason,
        started=started,
        ended=ended,
        output=output,
        signal=died_of,
        timed_out=schedule.timed_out,
        timeout=timeout,
        error_reported=stderr_seen,
        memory=memory,
    )


# What shlex.quote leaves unquoted (shlex imports re, which the wrapper's start never needs).
_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_@%+=:,./-")


def joined(argv: Sequence[str]) -> str:
    """``shlex.join(argv)``: the command line as a shell would take it."""
    return " ".join(
        word if word and _SAFE.issuperset(word) else "'" + word.replace("'", "'\"'\"'") + "'"
        for word in argv
    )


def program(argv: Sequence[str]) -> str:
    """The program's name, as a report names the job by default."""
    return os.path.basename(argv[0]) if argv else ""
