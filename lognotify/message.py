"""A rendered Report becomes one EmailMessage: headers, text and HTML parts, the gzipped log.

The whole message stays under ``MAX_MESSAGE_BYTES`` whatever the volume of output: when the
compressed log would not fit, it keeps less of the middle, and says so.
"""

from __future__ import annotations

import gzip
import os
import time
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from datetime import datetime, timezone

from lognotify.report import neutralise, omitted_marker

TYPE_CHECKING = False
if TYPE_CHECKING:
    from lognotify.report import Report
    from lognotify.settings import Settings

MAX_MESSAGE_BYTES = 2 * 1024 * 1024 - 16 * 1024  # 2 MiB, less room for relay headers
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
    settings: Settings,
    *,
    now: float | None = None,
    hostname: str | None = None,
    max_bytes: int = MAX_MESSAGE_BYTES,
) -> EmailMessage:
    """The message for ``report``, addressed from ``settings``, within ``max_bytes``."""
    now = time.time() if now is None else now
    domain = neutralise(hostname or os.uname().nodename or "localhost").replace(" ", "")
    message = _message(report, settings, now, domain)
    if report.log:
        room = max_bytes - len(message.as_bytes())
        message.add_attachment(
            _fitting_gzip(report.log, room, now),
            maintype="application",
            subtype="gzip",
            filename=report.log_name,
        )
    message.policy = _HEADERS_POLICY
    return message


def _message(report: Report, settings: Settings, now: float, domain: str) -> EmailMessage:
    message = EmailMessage(policy=_POLICY)
    message["Subject"] = report.subject
    message["From"] = settings.sender
    # No recipients (a report for the outbox only): an empty group, so To is still there.
    message["To"] = ", ".join(settings.to) if settings.to else "undisclosed-recipients:;"
    message["Date"] = format_datetime(datetime.fromtimestamp(now, timezone.utc))
    message["Message-ID"] = make_msgid("lognotify", domain=domain or "localhost")
    message["Auto-Submitted"] = "auto-generated"
    message["X-Lognotify-Job"] = neutralise(report.job)
    message["X-Lognotify-Status"] = report.status
    message["X-Lognotify-Exit-Code"] = str(int(report.exit_code))
    message.set_content(report.text, subtype="plain", charset="utf-8")
    message.add_alternative(report.html, subtype="html", charset="utf-8")
    return message


def _fitting_gzip(log: bytes, room: int, mtime: float) -> bytes:
    """The log, gzipped; when its base64 form would not fit in ``room``, less of its middle."""
    budget = max((room - 1024) * 3 // 4, 0)  # base64 grows by 4/3; leave room for part headers
    kept = len(log)
    while True:
        data = log if kept >= len(log) else _middle_cut(log, kept)
        packed = gzip.compress(data, compresslevel=6, mtime=int(mtime))
        if len(packed) <= budget or kept <= 1024:
            return packed
        kept = min(kept, len(log)) * budget // len(packed) * 9 // 10


def _middle_cut(log: bytes, kept: int) -> bytes:
    head = kept // 4
    tail = kept - head
    marker = omitted_marker(len(log) - kept, log.count(b"\n", head, len(log) - tail))
    return b"".join(
        [log[:head], f"\n{marker[:-1]} to keep the mail small]\n".encode(), log[len(log) - tail :]]
    )
