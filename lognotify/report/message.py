"""A rendered report becomes one EmailMessage: headers, text and HTML parts, the gzipped log."""

from __future__ import annotations

from datetime import datetime, timezone
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from lognotify.text import host_name, neutralise

TYPE_CHECKING = False
if TYPE_CHECKING:
    from lognotify.report.attachment import Attachment
    from lognotify.report.model import Report
    from lognotify.report.templates import Rendered
    from lognotify.settings.model import Settings

SUBJECT_CHARS = 250
# 7-bit clean: a non-ASCII body would otherwise go out as 8bit, which smtplib does not declare
# (BODY=8BITMIME) and a server that does not offer 8BITMIME may reject or mangle.
# Encoded body lines are at most 76 characters, as RFC 2045 requires of quoted-printable.
_POLICY = policy.default.clone(cte_type="7bit", max_line_length=76)
# Headers are written on one line up to RFC 5322's hard limit (998), not folded at 78: the
# stdlib folds a Subject that starts with "[" before its first word ("Subject:\n [lognotify]
# ..."), which many readers show with a leading space, and it RFC 2047-encodes a long job
# name in X-Lognotify-Job, which scripts read. Parts are encoded before this policy is set,
# so their bodies keep their short lines.
_HEADERS_POLICY = _POLICY.clone(max_line_length=998)


def compose(
    report: Report,
    rendered: Rendered,
    settings: Settings,
    *,
    attachment: Attachment | None = None,
    now: float,
    hostname: str | None = None,
) -> EmailMessage:
    """The message of ``report`` as ``rendered``, addressed as ``settings`` say."""
    domain = neutralise(hostname or host_name()).replace(" ", "")
    message = EmailMessage(policy=_POLICY)
    message["Subject"] = neutralise(rendered.subject)[:SUBJECT_CHARS]
    message["From"] = settings.sender
    # No recipients (a report for the outbox only): an empty group, so To is still there.
    message["To"] = ", ".join(settings.to) if settings.to else "undisclosed-recipients:;"
    message["Date"] = format_datetime(datetime.fromtimestamp(now, timezone.utc))
    message["Message-ID"] = make_msgid("lognotify", domain=domain or "localhost")
    message["Auto-Submitted"] = "auto-generated"
    message["X-Lognotify-Job"] = neutralise(report.job)
    message["X-Lognotify-Status"] = report.status
    message["X-Lognotify-Exit-Code"] = str(int(report.exit_code))
    message["X-Lognotify-Reason"] = report.reason_code
    if report.attempt.header is not None:
        message["X-Lognotify-Attempt"] = report.attempt.header
    message.set_content(rendered.text, subtype="plain", charset="utf-8")
    message.add_alternative(rendered.html, subtype="html", charset="utf-8")
    if attachment is not None and report.attachment_name:
        message.add_attachment(
            attachment.data, maintype="application", subtype="gzip", filename=report.attachment_name
        )
    message.policy = _HEADERS_POLICY
    return message


def size(message: EmailMessage) -> int:
    """The message's size in bytes, as it would be sent."""
    return len(message.as_bytes())
