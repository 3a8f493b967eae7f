"""The report's data: every template variable, made from a RunResult, redacted. Pure.

Every value that comes from outside (the output, the command line, names from the Downward
API, exception messages) is made readable, redacted and bounded here, before any template
sees it. The README documents each variable ("Writing your own templates").
"""

from __future__ import annotations

from lognotify import __version__
from lognotify.excerpt import excerpt
from lognotify.kubernetes.attempts import Attempt
from lognotify.kubernetes.metadata import cronjob_of, kubectl_commands
from lognotify.outcome import Memory, format_seconds, signal_name
from lognotify.record import Record
from lognotify.report import shown
from lognotify.report.shown import Log, Output, ShownLine
from lognotify.text import bounded, host_name, iso, neutralise, readable_text

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from lognotify.errorrule import ErrorRule
    from lognotify.outcome import RunResult
    from lognotify.redact import Redactor
    from lognotify.settings.model import Settings

TRACEBACK_CHARS = 32_000
# An exception message or a command line can be megabytes (a bulk insert's parameters, a
# generated argument list); each place that shows one keeps this much of its start and end.
VALUE_CHARS = 2_000
COMMAND_CHARS = 8_000
_STATUS_WORDS = {"failure": "FAILED", "test": "TEST"}


class Pod(Record):
    """Where in Kubernetes the run happened; each may be unknown."""

    pod: str | None = None
    namespace: str | None = None
    node: str | None = None
    job: str | None = None
    cronjob: str | None = None
    uid: str | None = None


class ShownAttempt(Record):
    """One attempt of a Job (watch mode), its words redacted; times in epoch seconds and UTC."""

    pod: str
    node: str | None
    started: float | None
    ended: float | None
    started_at: str | None
    ended_at: str | None
    exit_code: int | None
    reason: str | None
    message: str | None


class Report(Record):
    """Every template variable of one report (see the README), and the log to attach."""

    _hidden = frozenset({"log"})
    job: str
    status: str
    status_word: str
    failed: bool
    reason_code: str
    reason: str
    short_reason: str
    exit_code: int
    signal: str | None
    timed_out: bool
    timeout: float | None
    exception: str | None
    traceback: str | None
    note: str | None
    mode: str
    command: str
    started_at: str
    ended_at: str
    duration: str
    duration_seconds: float
    host: str
    where: str
    kubernetes: Pod
    kubectl: tuple[str, ...]
    output: Output
    error_lines: tuple[ShownLine, ...]
    error_lines_total: int
    memory: Memory
    attempt: Attempt
    attempts: tuple[ShownAttempt, ...]
    error_reported: bool
    notify_on: str
    attachment_name: str | None
    template_errors: tuple[str, ...]
    version: str
    log: Log  # the redacted capture to attach; not a template variable

    def context(self) -> dict[str, object]:
        """The variables, for Jinja."""
        return {field: getattr(self, field) for field in self._fields if field != "log"}


def build(
    result: RunResult,
    settings: Settings,
    redactor: Redactor,
    *,
    status: str | None = None,
    attempt: Attempt | None = None,
    rule: ErrorRule | None = None,
    hostname: str | None = None,
    pod: Pod | None = None,
    attempts: Sequence[object] = (),
) -> Report:
    """The report of ``result``; ``status`` defaults to failure or success."""
    status = status or ("failure" if result.failed else "success")

    def clean(value: str | None, limit: int = VALUE_CHARS) -> str:
        return bounded(redactor.text(readable_text(value or "")), limit)

    def name(value: str | None) -> str | None:
        return neutralise(clean(value)) or None

    where = _where(settings, pod)
    cleaned = Pod(**{field: name(getattr(where, field)) for field in Pod._fields})
    host = neutralise(clean(hostname or host_name())) or "localhost"
    job = name(settings.job_name or where.cronjob or where.job or result.program) or "job"
    duration = max(result.ended - result.started, 0.0)
    kubectl = kubectl_commands(
        pod=cleaned.pod, namespace=cleaned.namespace, job=cleaned.job, cronjob=cleaned.cronjob
    )
    errors, errors_total = shown.error_lines(result.output, redactor)
    return Report(
        job=job,
        status=status,
        status_word=_status_word(status, result.reason.code),
        failed=result.failed,
        reason_code=result.reason.code,
        reason=clean(result.reason.sentence),
        short_reason=clean(result.reason.short),
        exit_code=result.exit_code,
        signal=signal_name(result.signal) if result.signal is not None else None,
        timed_out=result.timed_out,
        timeout=result.timeout,
        exception=clean(result.exception) or None,
        traceback=clean(result.traceback, TRACEBACK_CHARS) or None,
        note=clean(result.note) or None,
        mode=result.mode,
        command=clean(result.command, COMMAND_CHARS),
        started_at=iso(result.started),
        ended_at=iso(result.ended),
        duration=format_seconds(duration),
        duration_seconds=round(duration, 3),
        host=host,
        where=cleaned.pod or host,
        kubernetes=cleaned,
        kubectl=tuple(clean(line) for line in kubectl),
        output=shown.output(excerpt(result.output), redactor, rule),
        error_lines=errors,
        error_lines_total=errors_total,
        memory=result.memory or Memory(),
        attempt=attempt or Attempt(),
        attempts=tuple(_attempt(one, clean) for one in attempts),
        error_reported=result.error_reported,
        notify_on=settings.notify_on,
        attachment_name=None,
        template_errors=(),
        version=__version__,
        log=shown.log(result.output, redactor),
    )


def _attempt(one: object, clean: Callable[[str | None], str]) -> ShownAttempt:
    def text(name: str) -> str | None:
        return neutralise(clean(getattr(one, name, None))) or None

    started, ended = getattr(one, "started", None), getattr(one, "ended", None)
    return ShownAttempt(
        pod=text("pod") or "",
        node=text("node"),
        started=started,
        ended=ended,
        started_at=iso(started) if started is not None else None,
        ended_at=iso(ended) if ended is not None else None,
        exit_code=getattr(one, "exit_code", None),
        reason=text("reason"),
        message=text("message"),
    )


def _where(settings: Settings, pod: Pod | None) -> Pod:
    if pod is not None:
        return pod
    info = settings.kubernetes
    return Pod(
        pod=info.pod,
        namespace=info.namespace,
        node=info.node,
        job=info.job,
        cronjob=cronjob_of(info.job),
        uid=info.uid,
    )


def _status_word(status: str, reason_code: str) -> str:
    if status in _STATUS_WORDS:
        return _STATUS_WORDS[status]
    return "ERRORS" if reason_code == "errors" else "OK"
