"""SMTP: one bounded connection per attempt, under the one retry policy.

Only this module talks to the network. The certificate is always verified; credentials only
travel over TLS; there is no fallback from TLS to plain text; every socket operation has a
timeout, each attempt ends within ``smtp_timeout`` and all of them within
``delivery_timeout``. The message, and so its Message-ID, is the same object in every
attempt; recipients that took it are not sent it again.
"""

from __future__ import annotations

import smtplib
import socket
import ssl
import time

from lognotify.delivery import policy
from lognotify.errors import DeliveryError
from lognotify.text import host_name

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from email.message import EmailMessage
    from typing import Any

    import tenacity

    from lognotify.settings.model import SmtpSettings


def send(
    message: EmailMessage,
    smtp: SmtpSettings,
    *,
    sender: str,
    recipients: Sequence[str],
    connect: Callable[..., smtplib.SMTP] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    on_retry: Callable[[int, BaseException], None] | None = None,
) -> tuple[int, dict[str, tuple[int, bytes]]]:
    """Deliver ``message`` to the SMTP server; return how many attempts it took, and the
    recipients the server refused while accepting the others (address: code, reply).

    Raises :class:`DeliveryError` with the server's reason when it fails for good.
    """
    deadline = clock() + smtp.delivery_timeout
    retrying = policy.retrying(deadline, clock=clock, sleep=sleep, on_retry=on_retry)
    pending = list(recipients)  # who has not taken the message yet
    refused: dict[str, tuple[int, bytes]] = {}  # who refused it for good

    def attempt(context: ssl.SSLContext | None) -> None:
        nonlocal pending
        turned_away = _attempt(message, smtp, context, sender, pending, deadline, clock, connect)
        later = {a: reply for a, reply in turned_away.items() if 400 <= reply[0] < 500}
        refused.update({a: reply for a, reply in turned_away.items() if a not in later})
        pending = list(later)
        if later:  # the others have it; these may take it at the next attempt (and only these)
            raise smtplib.SMTPRecipientsRefused(later)

    try:
        retrying(attempt, _tls_context(smtp))
    except Exception as exc:
        if isinstance(exc, smtplib.SMTPRecipientsRefused):
            refused.update(exc.recipients)
        if any(address not in pending and address not in refused for address in recipients):
            # taken for some: it was sent, and those still waiting have this for a reason
            for address in pending:
                refused.setdefault(address, _reply(exc))
            return _attempts(retrying), refused
        where = f"{smtp.host}:{smtp.port}"
        attempts = _attempts(retrying)
        tries = "1 attempt" if attempts == 1 else f"{attempts} attempts"
        kind = "transient" if policy.is_transient(exc) else "permanent"
        raise DeliveryError(f"{where}: {policy.describe(exc)} ({kind}; {tries})") from exc
    return _attempts(retrying), refused


def _reply(exc: BaseException) -> tuple[int, bytes]:
    if isinstance(exc, smtplib.SMTPResponseException):
        error = exc.smtp_error
        return exc.smtp_code, error.encode() if isinstance(error, str) else error
    return 0, policy.describe(exc).encode()


def _attempts(retrying: tenacity.Retrying) -> int:
    return int(retrying.statistics.get("attempt_number", 1))


def _attempt(
    message: EmailMessage,
    smtp: SmtpSettings,
    context: ssl.SSLContext | None,
    sender: str,
    recipients: list[str],
    deadline: float,
    clock: Callable[[], float],
    connect: Callable[..., smtplib.SMTP] | None,
) -> dict[str, tuple[int, bytes]]:
    due = min(clock() + smtp.timeout, deadline)  # smtp_timeout is per attempt

    def timeout() -> float:
        left = due - clock()
        if left <= 0:
            if due == deadline:  # no time for anything more: not worth another attempt
                raise policy.OutOfTime("delivery_timeout reached")
            raise TimeoutError("smtp_timeout reached")
        return left

    local = host_name()  # smtplib's default does a slow reverse lookup
    conn = (connect or _connect)(
        smtp, timeout=timeout(), limit=timeout, local_hostname=local, context=context
    )
    try:
        _hello(conn, helo_ok=smtp.security != "starttls")
        if smtp.security == "starttls":
            if not conn.has_extn("starttls"):
                raise smtplib.SMTPNotSupportedError(
                    "the server does not offer STARTTLS; refusing to send in plain text"
                )
            assert context is not None  # made for every security but none; never unverified
            conn.starttls(context=context)
            _hello(conn, helo_ok=True)
        if smtp.user:
            if smtp.security == "none":  # settings refuse this too; never send a password in clear
                raise smtplib.SMTPNotSupportedError("refusing to send credentials unencrypted")
            conn.login(smtp.user, smtp.password or "")
        refused = conn.send_message(message, from_addr=sender, to_addrs=recipients)
    except BaseException:
        conn.close()
        raise
    try:
        conn.quit()  # the message is accepted: a failure from here on must not cause a resend
    except (smtplib.SMTPException, OSError):
        conn.close()
    return refused


def _hello(conn: smtplib.SMTP, *, helo_ok: bool) -> None:
    """EHLO, and its reply checked (smtplib does not): a 4xx is worth another attempt, a 5xx
    is the server's reason. A server that knows no EHLO gets HELO, unless STARTTLS is needed
    (only EHLO can offer it)."""
    code, reply = conn.ehlo()
    if code == 250:
        return
    if helo_ok and code >= 500:
        code, reply = conn.helo()
        if code == 250:
            return
    raise smtplib.SMTPResponseException(code, reply)


def _tls_context(smtp: SmtpSettings) -> ssl.SSLContext | None:
    """The verifying TLS context; made once per delivery (it costs ~20 ms), only for TLS."""
    if smtp.security == "none":
        return None
    context = ssl.create_default_context()
    if smtp.ca_file:
        context.load_verify_locations(cafile=smtp.ca_file)
    return context


def _connect(
    smtp: SmtpSettings,
    *,
    timeout: float,
    limit: Callable[[], float],
    local_hostname: str,
    context: ssl.SSLContext | None,
) -> smtplib.SMTP:
    """Connect within ``timeout``; then every reply is awaited at most ``limit()`` seconds."""
    if smtp.security == "ssl":
        return _BoundedSMTPSSL(
            smtp.host,
            smtp.port,
            timeout=timeout,
            limit=limit,
            local_hostname=local_hostname,
            context=context,
        )
    return _BoundedSMTP(
        smtp.host, smtp.port, timeout=timeout, limit=limit, local_hostname=local_hostname
    )


class _BoundedSMTP(smtplib.SMTP):
    # smtplib's timeout is fixed per socket operation: a server answering each command slowly,
    # or trickling a reply a byte at a time, could stretch one attempt without end. Here each
    # whole reply must arrive within limit() (what is left of the attempt's smtp_timeout and
    # of delivery_timeout), and the send that follows a reply is bounded by the same limit.
    def __init__(self, *args: Any, limit: Callable[[], float], **kwargs: Any) -> None:
        self._limit = limit
        super().__init__(*args, **kwargs)

    def getreply(self) -> tuple[int, bytes]:
        if self.sock is not None:
            try:
                within = self._limit()
            except BaseException:  # out of time before the greeting: the socket is closed too
                self.close()
                raise
            self.sock.settimeout(within)
            if not isinstance(self.file, _ReplyReader) or self.file.sock is not self.sock:
                self.file = _ReplyReader(self.sock)
            self.file.due = time.monotonic() + within
        return super().getreply()


class _ReplyReader:
    """The lines of a server's replies, each by ``due``: a trickle cannot hold us up."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.due = 0.0
        self._buffer = b""

    def readline(self, limit: int = -1) -> bytes:
        while True:
            end = self._buffer.find(b"\n") + 1
            if end or (0 < limit <= len(self._buffer)):
                end = end or limit
                line, self._buffer = self._buffer[:end], self._buffer[end:]
                return line
            left = self.due - time.monotonic()
            if left <= 0:
                raise TimeoutError("no complete reply from the server in time")
            self.sock.settimeout(left)
            data = self.sock.recv(65536)
            if not data:  # the server closed the connection: what there is, then b""
                line, self._buffer = self._buffer, b""
                return line
            self._buffer += data

    def close(self) -> None:
        self._buffer = b""


class _BoundedSMTPSSL(_BoundedSMTP, smtplib.SMTP_SSL):
    pass
