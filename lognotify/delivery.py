"""Delivery: smtplib under one tenacity policy, and the outbox when there is no server or no luck.

Only this module talks to the network. The certificate is always verified; credentials only
travel over TLS; there is no fallback from TLS to plain text; every socket operation has a
timeout, each attempt ends within ``smtp_timeout`` and all of them within
``delivery_timeout``. Transient failures (refused or dropped connections, timeouts, 4xx
replies) are retried with exponential backoff and jitter; permanent ones (5xx, refused
authentication, an untrusted certificate) are not. The message, and so its Message-ID, is
the same object in every attempt; recipients that took it are not sent it again.
"""

from __future__ import annotations

import errno
import os
import smtplib
import socket
import ssl
import tempfile
import time
from pathlib import Path

import tenacity

from lognotify._frozen import Frozen
from lognotify.errors import DeliveryError
from lognotify.report import file_safe, utc_stamp

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from email.message import EmailMessage
    from typing import Any

    from lognotify.settings import Settings, SmtpSettings

DEFAULT_OUTBOX = "lognotify-outbox"
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


class Delivered(Frozen):
    """What became of a report: sent (after ``attempts``), and/or written to ``outbox``.

    ``destination`` names the recipients the server accepted; ``refused`` the ones it refused
    while accepting others, each with the server's reason.
    """

    __slots__ = ("sent", "attempts", "outbox", "error", "destination", "refused")
    sent: bool
    attempts: int
    outbox: str | None
    error: str | None
    destination: str
    refused: tuple[str, ...]

    def __init__(
        self,
        *,
        sent: bool,
        destination: str,
        attempts: int = 0,
        outbox: str | None = None,
        error: str | None = None,
        refused: tuple[str, ...] = (),
    ) -> None:
        self._init(
            sent=sent,
            attempts=attempts,
            outbox=outbox,
            error=error,
            destination=destination,
            refused=refused,
        )

    @property
    def ok(self) -> bool:
        """True when the report reached its configured destination (a server, or the outbox)."""
        return self.error is None

    def summary(self) -> str:
        """One line for stderr, starting ``lognotify:``."""
        kept = f"; report saved to {self.outbox}" if self.outbox else ""
        if self.sent:
            tries = "" if self.attempts == 1 else f" after {self.attempts} attempts"
            refused = f"; refused by the server: {', '.join(self.refused)}" if self.refused else ""
            return f"lognotify: report sent to {self.destination}{tries}{refused}{kept}"
        if self.error is None:
            return f"lognotify: no SMTP host set (LOGNOTIFY_SMTP_HOST); report written to {self.outbox}"
        return f"lognotify: could not send the report: {self.error}{kept}"


def deliver(
    message: EmailMessage,
    settings: Settings,
    *,
    connect: Callable[..., smtplib.SMTP] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Delivered:
    """Send ``message``; without a host, or failing for good, write it to the outbox.

    Never raises for a delivery problem: the result says what happened.
    """
    smtp = settings.smtp
    if not smtp.host:
        try:
            saved = str(write_outbox(message, settings.outbox))
        except OSError as exc:
            reason = f"no SMTP host set, and the outbox could not be written: {exc}"
            return Delivered(sent=False, destination="outbox", error=reason)
        return Delivered(sent=False, destination="outbox", outbox=saved)
    destination = ", ".join(settings.to)
    try:
        attempts, refused = send(
            message, smtp, sender=settings.sender, recipients=settings.to, connect=connect, sleep=sleep
        )
    except DeliveryError as exc:
        try:
            path: str | None = str(write_outbox(message, settings.outbox))
        except OSError as write_error:
            path = None
            exc = DeliveryError(f"{exc}; the outbox could not be written either: {write_error}")
        return Delivered(sent=False, destination=destination, outbox=path, error=str(exc))
    accepted = ", ".join(address for address in settings.to if address not in refused)
    kept = None
    if refused:  # they will never get it from the server: nothing is lost, it is kept here
        try:
            kept = str(write_outbox(message, settings.outbox))
        except OSError:
            kept = None
    return Delivered(
        sent=True, destination=accepted, attempts=attempts, refused=_refusals(refused), outbox=kept
    )


def send(
    message: EmailMessage,
    smtp: SmtpSettings,
    *,
    sender: str,
    recipients: Sequence[str],
    connect: Callable[..., smtplib.SMTP] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> tuple[int, dict[str, tuple[int, bytes]]]:
    """Deliver ``message`` to the SMTP server; return how many attempts it took, and the
    recipients the server refused while accepting the others (address: code, reply).

    Raises :class:`DeliveryError` with the server's reason when it fails for good.
    """
    deadline = clock() + smtp.delivery_timeout
    retrying = tenacity.Retrying(
        stop=tenacity.stop_before_delay(smtp.delivery_timeout),
        # exponential backoff plus up to 1 s of jitter, spelled so that no tenacity version
        # warns: wait_exponential_jitter deprecates `initial` in 9.x and lacks `multiplier` in 8.x
        wait=tenacity.wait_exponential(multiplier=0.5, max=10) + tenacity.wait_random(0, 1),
        retry=tenacity.retry_if_exception(is_transient),
        sleep=sleep,
        reraise=True,
    )
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
        kind = "transient" if is_transient(exc) else "permanent"
        raise DeliveryError(f"{where}: {describe(exc)} ({kind}; {tries})") from exc
    return _attempts(retrying), refused


def _reply(exc: BaseException) -> tuple[int, bytes]:
    if isinstance(exc, smtplib.SMTPResponseException):
        error = exc.smtp_error
        return exc.smtp_code, error.encode() if isinstance(error, str) else error
    return 0, describe(exc).encode()


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
            which = "delivery_timeout" if due == deadline else "smtp_timeout"
            raise TimeoutError(f"{which} reached")
        return left

    local = os.uname().nodename or "localhost"  # smtplib's default does a slow reverse lookup
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
            within = self._limit()
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


def is_transient(exc: BaseException) -> bool:
    """True for a failure worth retrying: the next attempt may well succeed."""
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
        return f"all recipients refused: {', '.join(_refusals(exc.recipients))}"
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"{exc.smtp_code} {_text(exc.smtp_error)}"
    if isinstance(exc, smtplib.SMTPServerDisconnected) and isinstance(exc.__context__, TimeoutError):
        return "timed out waiting for the server's reply"  # not "connection closed": it was not
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, (TimeoutError, socket.timeout)):
        return f"timed out ({exc})" if str(exc) else "timed out"
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve the host: {exc.strerror or exc}"
    return str(exc) or type(exc).__name__


def _refusals(refused: dict[str, tuple[int, bytes]]) -> tuple[str, ...]:
    return tuple(
        f"{address} ({f'{code} ' if code else ''}{_text(reply)})"
        for address, (code, reply) in refused.items()
    )


def _text(reply: bytes | str) -> str:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    return " ".join(text.split())


def write_outbox(message: EmailMessage, directory: str | None = None) -> Path:
    """Write ``message`` as an ``.eml`` file into the outbox, atomically; return its path."""
    folder = Path(directory) if directory else Path(tempfile.gettempdir()) / DEFAULT_OUTBOX
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    job = file_safe(str(message["X-Lognotify-Job"] or "job"))
    path = folder / f"{utc_stamp(time.time())}-{job[:60]}-{os.urandom(4).hex()}.eml"
    partial = path.with_name(f".{path.name}.partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # reports hold logs
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(message.as_bytes())
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return path
