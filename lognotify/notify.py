"""After a run: whether to report it, then make, deliver and account for the report.

The one path every entry shares (the wrapper, the library, --test-email, the watcher). It
never raises: a problem of lognotify's own is one line on stderr, and the job's outcome
stands. Jinja, email and smtplib are imported only when a report is really made.
"""

from __future__ import annotations

from lognotify.kubernetes.attempts import Attempt, attempt_of
from lognotify.kubernetes.metadata import job_name
from lognotify.kubernetes.termination import termination_line, write_termination_log
from lognotify.record import Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import BinaryIO

    from lognotify.console import Console
    from lognotify.delivery import Delivered
    from lognotify.errorrule import ErrorRule
    from lognotify.outcome import RunResult
    from lognotify.report.model import Pod
    from lognotify.settings.model import Settings


class Notified(Record):
    """What became of a run's report: ``delivered`` None when none was sent or saved."""

    delivered: Delivered | None = None
    template_errors: tuple[str, ...] = ()
    wanted: bool = False  # notify_on (and the attempt) asked for a report


def should_notify(notify_on: str, result: RunResult) -> bool:
    """Whether ``notify_on`` asks for a report of ``result``."""
    if notify_on == "always":
        return True
    if notify_on == "error":
        return result.failed or result.reason.code == "errors"
    if notify_on == "failure":
        return result.failed
    return False


def notify(
    result: RunResult,
    settings: Settings,
    console: Console,
    *,
    status: str | None = None,
    rule: ErrorRule | None = None,
    dry_run: str | None = None,
    stdout: BinaryIO | None = None,
    on_retry: Callable[[int, BaseException], None] | None = None,
    pod: Pod | None = None,
    attempts: Sequence[object] = (),
) -> Notified:
    """Report ``result`` if ``settings`` ask for it: send it, or with ``dry_run`` ("text" or
    "mime") print it to stdout instead; then write the termination message of a failure."""
    attempt = attempt_of(
        settings.kubernetes, exit_code=result.exit_code, reason_code=result.reason.code
    )
    if not should_notify(settings.notify_on, result) and status != "test":
        if dry_run is not None:
            outcome = "failed" if result.failed else "succeeded"
            console.say(f"no report: the run {outcome} and notify_on is {settings.notify_on}")
        _account(result, settings, console, f"no report: notify_on is {settings.notify_on}")
        return Notified()
    if result.failed and not attempt.final and settings.notify_attempts == "last":
        words = f"Kubernetes will retry ({attempt.words})"
        name = job_name(settings, result.program)
        console.warn(f"FAILED {name} ({result.reason.short}); no report: {words}")
        _account(result, settings, console, f"no report: {words}")
        return Notified()
    try:
        return _report(
            result,
            settings,
            console,
            status=status,
            rule=rule,
            dry_run=dry_run,
            stdout=stdout,
            on_retry=on_retry,
            attempt=attempt,
            pod=pod,
            attempts=attempts,
        )
    except Exception as exc:  # the job's outcome must win over any problem of ours
        reason = f"could not make the report: {type(exc).__name__}: {exc}"
        console.warn(reason)
        _account(result, settings, console, f"report not sent: {reason}")
        return Notified(wanted=True)


def _report(
    result: RunResult,
    settings: Settings,
    console: Console,
    *,
    status: str | None,
    rule: ErrorRule | None,
    dry_run: str | None,
    stdout: BinaryIO | None,
    on_retry: Callable[[int, BaseException], None] | None,
    attempt: Attempt,
    pod: Pod | None,
    attempts: Sequence[object],
) -> Notified:
    from lognotify.delivery import deliver
    from lognotify.report import make_report
    from lognotify.report.preview import preview

    made = make_report(
        result, settings, status=status, attempt=attempt, rule=rule, pod=pod, attempts=attempts
    )
    errors = made.rendered.errors
    if dry_run is not None:
        console.stdout_block(preview(made.message, mime=dry_run == "mime"), stdout)
        _account(result, settings, console, "report not sent: dry run", job=made.report.job)
        return Notified(template_errors=errors, wanted=True)
    delivered = deliver(made.message, settings, on_retry=on_retry)
    if delivered.sent and not delivered.refused:
        console.say(delivered.summary())
    else:
        console.warn(delivered.summary())
    if settings.smtp.host and not delivered.sent:  # in a pod the outbox dies with it: the logs stay
        console.report_text(made.rendered.text)
    _account(result, settings, console, _what_became(delivered), job=made.report.job)
    return Notified(delivered=delivered, template_errors=errors, wanted=True)


def _what_became(delivered: Delivered) -> str:
    if delivered.sent:
        return f"report sent {delivered.message_id}"
    if delivered.ok:
        return f"report saved {delivered.outbox}"
    saved = f"; saved {delivered.outbox}" if delivered.outbox else ""
    return f"report not sent: {delivered.error}{saved}"


def _account(
    result: RunResult, settings: Settings, console: Console, report: str, *, job: str | None = None
) -> None:
    """The termination message of a failed run, redacted: what became of its report."""
    if not result.failed or not settings.termination_log or result.mode in ("test", "watch"):
        return
    from lognotify.report import redactor_for
    from lognotify.text import neutralise

    name = job or job_name(settings, result.program)
    line = termination_line(job=neutralise(name), short_reason=result.reason.short, report=report)
    write_termination_log(settings.termination_log, redactor_for(settings).text(line))
