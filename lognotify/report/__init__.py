"""The report: a RunResult becomes one email, rendered from Jinja templates, within 2 MiB.

``make_report`` runs the stages in their order: the data (``model``, redacted), the
attachment (``attachment``), the text (``templates``), the message (``message``). Jinja and
email are imported only when a report is really made.
"""

from __future__ import annotations

import time

from lognotify.record import Record
from lognotify.report import attachment, message, model, templates
from lognotify.text import file_safe, neutralise, readable_text, utc_stamp

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from email.message import EmailMessage

    from lognotify.errorrule import ErrorRule
    from lognotify.kubernetes.attempts import Attempt
    from lognotify.outcome import RunResult
    from lognotify.redact import Redactor
    from lognotify.settings.model import Settings

MAX_MESSAGE_BYTES = 2 * 1024 * 1024 - 16 * 1024  # 2 MiB, less room for relay headers
# What the bodies may grow by when they are rendered again with the attachment's figures.
_SLACK = 4096


class Made(Record):
    """A report made: the message to send, its data, and what the templates gave."""

    message: EmailMessage
    report: model.Report
    rendered: templates.Rendered


def redactor_for(settings: Settings) -> Redactor:
    """The redactor of every report made with ``settings``."""
    from lognotify.redact import Redactor

    return Redactor(
        settings.secrets,
        settings.redact,
        always=[settings.smtp.password or ""],
        builtin=settings.redact_builtin,
    )


def make_report(
    result: RunResult,
    settings: Settings,
    *,
    status: str | None = None,
    attempt: Attempt | None = None,
    rule: ErrorRule | None = None,
    hostname: str | None = None,
    now: float | None = None,
    pod: model.Pod | None = None,
    attempts: Sequence[object] = (),
) -> Made:
    """The message reporting ``result``, at most MAX_MESSAGE_BYTES."""
    now = time.time() if now is None else now
    redactor = redactor_for(settings)
    report = model.build(
        result,
        settings,
        redactor,
        status=status,
        attempt=attempt,
        rule=rule,
        hostname=hostname,
        pod=pod,
        attempts=attempts,
    )
    log = report.log
    name = None if log.empty else f"{file_safe(report.job)[:80]}-{utc_stamp(result.started)}.log.gz"
    kept_bytes = log.total_bytes - log.omitted_bytes
    report = report.replace(
        attachment_name=name, output=report.output.replace(kept_bytes=kept_bytes)
    )
    rendered = _render(report, settings, redactor)
    if name is None:
        return Made(
            message=message.compose(report, rendered, settings, now=now, hostname=hostname),
            report=report,
            rendered=rendered,
        )
    bare = message.compose(report, rendered, settings, now=now, hostname=hostname)
    room = MAX_MESSAGE_BYTES - message.size(bare) - _SLACK
    attached = attachment.fit(log, room, mtime=now)
    if attached.kept_bytes != kept_bytes:  # it left more out: the bodies say so
        report = report.replace(output=report.output.replace(kept_bytes=attached.kept_bytes))
        rendered = _render(report, settings, redactor)
    composed = message.compose(
        report, rendered, settings, attachment=attached, now=now, hostname=hostname
    )
    return Made(message=composed, report=report, rendered=rendered)


def _render(report: model.Report, settings: Settings, redactor: Redactor) -> templates.Rendered:
    rendered = templates.render(
        report.context(), subject=settings.subject, template_dir=settings.template_dir
    )
    report_errors = rendered.errors
    # Values were redacted before rendering: redacting the bodies again would also hit the
    # templates' own words and markup (a secret that is "span"). The subject is plain text.
    return rendered.replace(
        subject=neutralise(redactor.text(readable_text(rendered.subject))),
        text=readable_text(rendered.text),
        html=readable_text(rendered.html),
        errors=report_errors,
    )
