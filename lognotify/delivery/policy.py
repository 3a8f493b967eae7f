"""The one retry policy: what is worth another attempt, how long to wait, and when to stop.

Transient failures (refused or dropped connections, timeouts, 4xx replies) are retried with
exponential backoff and jitter, within ``delivery_timeout``; permanent ones (5xx, refused
authentication, an untrusted certificate) are not.
"""

from __future__ import annotations

import errno
import smtplib
import socket
import ssl

import tenacity

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

_TRANSIENT_ERRNOS = {
    errno.ECONNREFUSED,
    errno.ECONNRESET,
    errno.ECONNABORTED,
    errno.EPIPE,
    errno.ETIMEDOUT,
    errno.EHOSTUNREACH,
    errno.ENETUNREACH,
    errno.EAGAIN,
}


class OutOfTime(TimeoutError):
    """delivery_timeout has run out: final, whatever made the attempt fail."""


def retrying(
    deadline: float,
    *,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
    on_retry: Callable[[int, BaseException], None] | None = None,
) -> tenacity.Retrying:
    """The policy: retry what ``is_transient`` says, with backoff and jitter, until
    ``deadline`` on ``clock`` (the same clock the attempts use, so a test's fake one works).

    ``on_retry(attempt, error)`` is told of each failed attempt that will be tried again.
    """

    def out_of_time(state: tenacity.RetryCallState) -> bool:
        return clock() + (state.upcoming_sleep or 0.0) >= deadline

    def before_sleep(state: tenacity.RetryCallState) -> None:
        if on_retry is not None and state.outcome is not None:
            error = state.outcome.exception()
            if error is not None:
                on_retry(state.attempt_number, error)

    return tenacity.Retrying(
        stop=out_of_time,
        # exponential backoff plus up to 1 s of jitter, spelled so that no tenacity version
        # warns: wait_exponential_jitter deprecates `initial` in 9.x and lacks `multiplier` in 8.x
        wait=tenacity.wait_exponential(multiplier=0.5, max=10) + tenacity.wait_random(0, 1),
        retry=tenacity.retry_if_exception(is_transient),
        sleep=sleep,
        before_sleep=before_sleep,
        reraise=True,
    )


def is_transient(exc: BaseException) -> bool:
    """True for a failure worth retrying: the next attempt may well succeed."""
    if isinstance(exc, OutOfTime):
        return False
    if isinstance(exc, ssl.SSLCertVerificationError):
        return False
    if isinstance(exc, (ssl.SSLEOFError, ssl.SSLZeroReturnError)):
        return True  # the connection dropped during the handshake
    if isinstance(exc, ssl.SSLError):
        return False
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        return bool(codes) and all(400 <= code < 500 for code in codes)
    if isinstance(exc, smtplib.SMTPResponseException):
        return 400 <= exc.smtp_code < 500
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return True
    if isinstance(exc, smtplib.SMTPException):
        return False
    if isinstance(exc, (ConnectionError, TimeoutError, socket.timeout, socket.gaierror)):
        return True
    return isinstance(exc, OSError) and exc.errno in _TRANSIENT_ERRNOS


def describe(exc: BaseException) -> str:
    """The reason, as the server or the system gave it."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"certificate verification failed: {exc.verify_message or exc.reason}"
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return f"all recipients refused: {', '.join(refusals(exc.recipients))}"
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"{exc.smtp_code} {reply_text(exc.smtp_error)}"
    if isinstance(exc, smtplib.SMTPServerDisconnected) and isinstance(
        exc.__context__, TimeoutError
    ):
        return "timed out waiting for the server's reply"  # not "connection closed": it was not
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, (TimeoutError, socket.timeout)):
        return f"timed out ({exc})" if str(exc) else "timed out"
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve the host: {exc.strerror or exc}"
    return str(exc) or type(exc).__name__


def refusals(refused: dict[str, tuple[int, bytes]]) -> tuple[str, ...]:
    """``addr (550 no such user)`` for each refused recipient."""
    return tuple(
        f"{address} ({f'{code} ' if code else ''}{reply_text(reply)})"
        for address, (code, reply) in refused.items()
    )


def reply_text(reply: bytes | str) -> str:
    """A server's reply on one line."""
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    return " ".join(text.split())
