"""Decide whether a run is reported, then render, compose and deliver: the one path both entries share.

Jinja2, email and smtplib are imported here only when a report is really made, so that a
run that needs no report pays nothing for them.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import BinaryIO, TextIO

    from lognotify.delivery import Delivered
    from lognotify.result import RunResult
    from lognotify.settings import Settings


def should_notify(notify_on: str, result: RunResult) -> bool:
    """Whether ``notify_on`` asks for a report of ``result``."""
    if notify_on == "always":
        return True
    if notify_on == "error":
        return result.failed or result.error_reported
    if notify_on == "failure":
        return result.failed
    return False


def notify(
    result: RunResult,
    settings: Settings,
    *,
    status: str | None = None,
    dry_run: BinaryIO | None = None,
    environ: Mapping[str, str] | None = None,
    stderr: TextIO | None = None,
) -> Delivered | None:
    """Report ``result``: send it, or write the message to ``dry_run`` instead.

    Never raises: a failure is one ``lognotify:`` line on stderr, and the job's own outcome
    stands. Returns what became of the report (None for a dry run or an internal failure).
    """
    try:
        from lognotify.delivery import deliver
        from lognotify.message import compose
        from lognotify.report import render

        report = render(result, settings, status=status, environ=environ)
        message = compose(report, settings)
        if dry_run is not None:
            if 1 in mid_line:
                mid_line.discard(1)
                dry_run.write(b"\n")
            dry_run.write(message.as_bytes())
            dry_run.flush()
            return None
        outcome = deliver(message, settings)
    except Exception as exc:  # the job's outcome must win over any problem of ours
        say(f"could not make the report: {type(exc).__name__}: {exc}", stderr)
        return None
    say(outcome.summary().removeprefix("lognotify: "), stderr)
    return outcome


#: The streams (1, 2) where the command's output passed through ended without a newline:
#: our own next line there starts on a line of its own, not glued to the command's last one.
mid_line: set[int] = set()


def say(line: str, stderr: TextIO | None = None) -> None:
    """Write one ``lognotify:`` line to stderr; a closed stderr is not our job's problem."""
    try:
        stream = stderr or sys.stderr
        start = "\n" if stderr is None and 2 in mid_line else ""
        mid_line.discard(2)
        stream.write(f"{start}lognotify: {' '.join(line.split())}\n")
        stream.flush()
    except (OSError, ValueError, AttributeError):
        pass
