"""Delivery: the report to the SMTP server, or to the outbox when there is none or no luck.

``deliver`` never raises for a delivery problem: what it returns says what happened. Only
``smtp`` talks to the network; ``outbox`` keeps what no server took.
"""

from __future__ import annotations

import time

from lognotify.delivery.outbox import write_outbox
from lognotify.errors import DeliveryError
from lognotify.record import Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    import smtplib
    from collections.abc import Callable
    from email.message import EmailMessage

    from lognotify.settings.model import Settings


class Delivered(Record):
    """What became of a report: ``sent`` (after ``attempts``), and/or written to ``outbox``.

    ``destination`` names the recipients the server accepted; ``refused`` the ones it refused
    while accepting others, each with the server's reason.
    """

    sent: bool
    destination: str
    message_id: str = ""
    attempts: int = 0
    outbox: str | None = None
    error: str | None = None
    refused: tuple[str, ...] = ()
    passed_over: str | None = None  # why the outbox asked for was not used

    @property
    def ok(self) -> bool:
        """True when the report reached its configured destination (a server, or the outbox)."""
        return self.error is None

    def summary(self) -> str:
        """What became of it, in one line (without the ``lognotify:`` prefix)."""
        where = f"{self.outbox} ({self.passed_over})" if self.passed_over else self.outbox
        kept = f"; report saved to {where}" if self.outbox else ""
        if self.sent:
            tries = "" if self.attempts == 1 else f" after {self.attempts} attempts"
            refused = f"; refused by the server: {', '.join(self.refused)}" if self.refused else ""
            return f"report sent to {self.destination}{tries}{refused}{kept}"
        if self.error is None:
            return f"no SMTP host set (LOGNOTIFY_SMTP_HOST); report written to {where}"
        return f"could not send the report: {self.error}{kept}"


def deliver(
    message: EmailMessage,
    settings: Settings,
    *,
    connect: Callable[..., smtplib.SMTP] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    on_retry: Callable[[int, BaseException], None] | None = None,
) -> Delivered:
    """Send ``message``; without a host, or failing for good, write it to the outbox."""
    message_id = str(message["Message-ID"] or "")
    if not settings.smtp.host:
        return _outbox_only(message, settings, message_id)
    from lognotify.delivery import smtp
    from lognotify.delivery.policy import refusals

    destination = ", ".join(settings.to)
    try:
        attempts, refused = smtp.send(
            message,
            settings.smtp,
            sender=settings.sender,
            recipients=settings.to,
            connect=connect,
            sleep=sleep,
            on_retry=on_retry,
        )
    except DeliveryError as exc:
        return _not_sent(message, settings, destination, message_id, exc)
    accepted = ", ".join(address for address in settings.to if address not in refused)
    kept = passed_over = None
    if refused:  # they will never get it from the server: nothing is lost, it is kept here
        kept, _, passed_over = _keep(message, settings)
    return Delivered(
        sent=True,
        destination=accepted,
        message_id=message_id,
        attempts=attempts,
        refused=refusals(refused),
        outbox=kept,
        passed_over=passed_over,
    )


def _outbox_only(message: EmailMessage, settings: Settings, message_id: str) -> Delivered:
    """No SMTP host: the report is written to the outbox, and that is its destination."""
    saved, failure, passed_over = _keep(message, settings)
    if saved is None:
        reason = f"no SMTP host set, and the outbox could not be written: {failure}"
        return Delivered(sent=False, destination="outbox", message_id=message_id, error=reason)
    return Delivered(
        sent=False,
        destination="outbox",
        message_id=message_id,
        outbox=saved,
        passed_over=passed_over,
    )


def _not_sent(
    message: EmailMessage,
    settings: Settings,
    destination: str,
    message_id: str,
    exc: DeliveryError,
) -> Delivered:
    """Delivery failed for good: the report is kept in the outbox, if it can be."""
    path, failure, passed_over = _keep(message, settings)
    error = str(exc) + (f"; the outbox could not be written either: {failure}" if failure else "")
    return Delivered(
        sent=False,
        destination=destination,
        message_id=message_id,
        outbox=path,
        error=error,
        passed_over=passed_over,
    )


def _keep(message: EmailMessage, settings: Settings) -> tuple[str | None, str | None, str | None]:
    """The message in the outbox: its path, or None and why it could not be written; and why
    the outbox asked for was passed over, if it was."""
    passed_over: list[str] = []
    try:
        path = str(write_outbox(message, settings.outbox, passed_over=passed_over))
    except OSError as exc:
        return None, str(exc), None
    return path, None, passed_over[0] if passed_over else None
