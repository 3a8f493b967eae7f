"""Real SMTP servers on 127.0.0.1 for the lognotify test suite.

Every server listens on ``127.0.0.1`` on a random free port, runs an aiosmtpd
:class:`~aiosmtpd.controller.Controller` (asyncio loop in a background
thread) and is a context manager::

    with Sink() as server:
        with smtplib.SMTP(server.host, server.port, local_hostname="localhost") as s:
            s.sendmail("a@example.com", ["b@example.com"], b"Subject: hi\\r\\n\\r\\nbody\\r\\n")
        (delivery,) = server.wait_for_messages(1)
        assert delivery.message["Subject"] == "hi"

Servers
-------
``Sink()``
    Plain SMTP, no TLS, no AUTH; EHLO advertises neither STARTTLS nor AUTH.
``StartTLSServer(ca=None, username="user", password="secret")``
    STARTTLS required before MAIL/AUTH (530 otherwise), AUTH PLAIN/LOGIN
    required before MAIL (530), wrong credentials get 535.  The certificate
    is for ``localhost`` and ``127.0.0.1``, issued by ``ca`` (a
    :class:`trustme.CA`; a fresh one if omitted).  ``ca_file`` is the CA
    bundle PEM path a client should trust.
``UntrustedStartTLSServer(ca=None, ...)``
    Same, but the certificate is issued by a *different*, throw-away CA:
    ``ca_file`` still points at ``ca``'s PEM, so a client trusting
    ``ca_file`` fails with :class:`ssl.SSLCertVerificationError`.  The real
    issuer is in ``cert_ca_file``.
``SMTPSServer(ca=None, username="user", password="secret", untrusted=False)``
    Implicit TLS (TLS from the first byte, "SMTPS"/port-465 style), same
    certificate and AUTH rules; no STARTTLS offered.  ``username=None``
    turns AUTH off.
``ScriptedServer(*, tls="none", ..., <faults>)``
    Misbehaves in scripted ways, see its docstring.  The listening port stays
    the same for the server's lifetime, so a retrying client reconnects to the
    same (stateful) server.  Use :data:`ALWAYS` for "every time".

Common attributes (all thread-safe snapshots)
---------------------------------------------
``host``, ``port``, ``address`` (``(host, port)``), ``messages`` (accepted
:class:`Delivery` objects), ``received`` (every message body that reached
the final ``.``, accepted or not: rejected, stalled...), ``connections``
(TCP connections accepted), ``data_attempts`` (DATA commands issued),
``auth_attempts`` (AUTH commands), ``errors`` (server-side exceptions,
e.g. a STARTTLS handshake the client aborted), ``wait_for_messages(n, timeout)``,
``wait_for_connections(n, timeout)``, ``wait_for_errors(n, timeout)``,
``clear()``.

TLS servers additionally have ``ca`` (the trusted :class:`trustme.CA`),
``ca_file`` and ``cert_ca_file`` (``str`` paths to PEM files).

Clients should pass ``local_hostname="localhost"`` to :class:`smtplib.SMTP`,
otherwise it calls :func:`socket.getfqdn`, which can be slow in sandboxes.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import logging
import os
import shutil
import socket
import socketserver
import ssl
import sys
import tempfile
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from types import TracebackType
from typing import Any, Final, Literal, TypeVar, cast

import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

__all__ = [
    "ALWAYS",
    "DEFAULT_PASSWORD",
    "DEFAULT_USERNAME",
    "DROP_POINTS",
    "HOST",
    "BaseSMTPServer",
    "Delivery",
    "DropPoint",
    "HandRolled",
    "SMTPSServer",
    "ScriptedServer",
    "Sink",
    "StartTLSServer",
    "TLSMode",
    "Trickle",
    "UntrustedStartTLSServer",
]

HOST: Final = "127.0.0.1"
"""The only address the servers listen on."""

SERVER_NAME: Final = "localhost"
"""Name the servers announce in their greeting / EHLO reply."""

DEFAULT_USERNAME: Final = "user"
DEFAULT_PASSWORD: Final = "secret"

ALWAYS: Final = sys.maxsize
"""Fault count meaning "every time" (e.g. ``data_reply_times=ALWAYS``)."""

TLSMode = Literal["none", "starttls", "implicit"]
DropPoint = Literal["connect", "ehlo", "mail", "rcpt", "data", "dot"]
DROP_POINTS: Final[tuple[str, ...]] = ("connect", "ehlo", "mail", "rcpt", "data", "dot")

_ACCEPTED: Final = "250 2.0.0 OK: message accepted"

_S = TypeVar("_S", bound="BaseSMTPServer")

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Delivery:
    """One message body received by a server (after DATA ... ``.``)."""

    mail_from: str
    rcpt_tos: list[str]
    raw: bytes
    """The message bytes as received (CRLF line ends, dot-stuffing removed)."""
    message: EmailMessage
    """``raw`` parsed with ``email.policy.default``."""
    auth_user: str | None
    """The AUTH login name of the session, or ``None`` if not authenticated."""
    tls: bool
    """Whether the session was encrypted (STARTTLS or implicit TLS)."""
    connection: int
    """1-based index of the TCP connection that carried the message."""
    mail_options: list[str] = field(default_factory=list)
    rcpt_options: list[str] = field(default_factory=list)


class _QuietSession(Session):
    """Session without aiosmtpd's log warning on every ``login_data`` write."""

    @property
    def login_data(self) -> Any:
        return self._login_data

    @login_data.setter
    def login_data(self, value: Any) -> None:
        self._login_data = value


class _TestSMTP(SMTP):
    """aiosmtpd protocol instance (one per connection) that consults its owner.

    Relies on two aiosmtpd internals that are stable across 1.4.x:
    ``_handle_client`` (sends the greeting, then runs the command loop) and
    ``check_auth_needed``.
    """

    def __init__(self, owner: BaseSMTPServer, handler: Any, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self.owner = owner
        self.connection_no = 0
        """1-based connection index; 0 for the controller's own start-up probe."""
        self.data_attempt_no = 0
        """Server-wide index of the current DATA attempt (set by smtp_DATA)."""

    def _create_session(self) -> Session:
        return _QuietSession(self.loop)

    # -- connection life cycle --------------------------------------------

    async def _handle_client(self) -> None:
        self.connection_no = self.owner._connection_opened(self)
        if self.owner._fault_no_greeting(self.connection_no):
            # Accept TCP (and TLS), then say nothing.  connection_lost() or
            # server shutdown cancels us.
            await self.loop.create_future()
        if await self._maybe_drop("connect"):
            return
        await super()._handle_client()

    def connection_lost(self, error: Exception | None) -> None:
        self.owner._connection_closed(self)
        super().connection_lost(error)

    def abort(self) -> None:
        """Close the connection at once (used at server shutdown)."""
        transport = self._original_transport or self.transport
        if transport is not None:
            cast(asyncio.Transport, transport).abort()

    async def _maybe_drop(self, point: DropPoint) -> bool:
        """Close the connection without a reply if the script says so."""
        if not self.owner._fault_drop(self.connection_no, point):
            return False
        if self.transport is not None:
            self.transport.close()
        return True

    @property
    def is_tls(self) -> bool:
        return (
            self.transport is not None and self.transport.get_extra_info("ssl_object") is not None
        )

    # -- commands -----------------------------------------------------------

    async def check_auth_needed(self, caller_method: str) -> bool:
        # Replaces aiosmtpd's auth_required (which warns when combined with
        # auth_require_tls=False, needed for implicit TLS).
        assert self.session is not None
        if self.owner._auth_required and not self.session.authenticated:
            await self.push("530 5.7.0 Authentication required")
            return True
        return False

    async def smtp_HELO(self, hostname: str) -> None:
        if not await self._maybe_drop("ehlo"):
            await super().smtp_HELO(hostname)

    async def smtp_EHLO(self, hostname: str) -> None:
        if not await self._maybe_drop("ehlo"):
            await super().smtp_EHLO(hostname)

    async def smtp_AUTH(self, arg: str) -> None:
        self.owner._count("auth_attempts")
        await super().smtp_AUTH(arg)

    async def smtp_MAIL(self, arg: str | None) -> None:
        if not await self._maybe_drop("mail"):
            await super().smtp_MAIL(arg)

    async def smtp_RCPT(self, arg: str | None) -> None:
        if not await self._maybe_drop("rcpt"):
            await super().smtp_RCPT(arg)

    async def smtp_DATA(self, arg: str) -> None:
        self.data_attempt_no = self.owner._count("data_attempts")
        if not await self._maybe_drop("data"):
            await super().smtp_DATA(arg)


class _Handler:
    """aiosmtpd handler: forwards hooks to the owning server object."""

    def __init__(self, owner: BaseSMTPServer) -> None:
        self._owner = owner

    async def handle_DATA(self, server: _TestSMTP, session: Session, envelope: Envelope) -> str:
        return await self._owner._on_data(server, session, envelope)

    async def handle_exception(self, error: Exception) -> str:
        self._owner._record_error(error)
        return f"500 5.3.0 Test server error: {type(error).__name__}"


class _Controller(Controller):
    """aiosmtpd Controller that binds port 0 and builds :class:`_TestSMTP`."""

    def __init__(self, owner: BaseSMTPServer, port: int, **kwargs: Any) -> None:
        self._owner = owner
        super().__init__(
            _Handler(owner),
            hostname=HOST,
            port=port,
            server_hostname=SERVER_NAME,
            ready_timeout=10.0,
            **kwargs,
        )

    def factory(self) -> SMTP:
        return _TestSMTP(self._owner, self.handler, **self.SMTP_kwargs)

    def _trigger_server(self) -> None:
        # With port 0 the kernel picked the port; learn it before the base
        # class connects to "self.port" to initialise the server.
        server = cast(asyncio.Server, self.server)
        self.port = server.sockets[0].getsockname()[1]
        super()._trigger_server()  # type: ignore[no-untyped-call]


class BaseSMTPServer:
    """Shared machinery; use one of the subclasses.

    :param tls: ``"none"``, ``"starttls"`` (required before MAIL/AUTH) or
        ``"implicit"`` (TLS from the first byte).
    :param ca: CA trusted by clients (``ca_file``); a fresh one if ``None``.
    :param untrusted: issue the server certificate from a different CA.
    :param username/password: credentials accepted by AUTH PLAIN/LOGIN;
        ``None`` disables AUTH (unless ``offer_auth``).
    :param auth_required: demand AUTH before MAIL (530 otherwise).
    :param offer_auth: advertise AUTH even without credentials (every
        attempt then fails with 535).
    """

    def __init__(
        self,
        *,
        tls: TLSMode = "none",
        ca: trustme.CA | None = None,
        untrusted: bool = False,
        username: str | None = None,
        password: str | None = None,
        auth_required: bool = False,
        offer_auth: bool = False,
    ) -> None:
        if tls not in ("none", "starttls", "implicit"):
            raise ValueError(f"unknown tls mode {tls!r}")
        if (username is None) != (password is None):
            raise ValueError("give both username and password, or neither")
        self.host: str = HOST
        self.port: int = 0
        self.tls: TLSMode = tls
        self.username = username
        self.password = password
        self._auth_enabled = username is not None or offer_auth
        self._auth_required = auth_required and self._auth_enabled

        self._cond = threading.Condition()
        self._live = False
        self._counters = {"connections": 0, "data_attempts": 0, "auth_attempts": 0}
        self._messages: list[Delivery] = []
        self._received: list[Delivery] = []
        self._errors: list[BaseException] = []
        self._open: set[_TestSMTP] = set()  # touched only in the loop thread
        self._controller: _Controller | None = None

        self.ca: trustme.CA | None = None
        self.ca_file: str | None = None
        self.cert_ca_file: str | None = None
        self._ssl_context: ssl.SSLContext | None = None
        if tls != "none":
            self._setup_tls(ca, untrusted)

    # -- TLS ----------------------------------------------------------------

    def _setup_tls(self, ca: trustme.CA | None, untrusted: bool) -> None:
        self.ca = ca if ca is not None else trustme.CA()
        issuer = trustme.CA() if untrusted else self.ca
        cert = issuer.issue_cert(SERVER_NAME, HOST)
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(ctx)
        self._ssl_context = ctx

        tmpdir = tempfile.mkdtemp(prefix="lognotify-smtp-")
        weakref.finalize(self, shutil.rmtree, tmpdir, ignore_errors=True)
        self.ca_file = os.path.join(tmpdir, "ca.pem")
        self.ca.cert_pem.write_to_path(self.ca_file)
        if issuer is self.ca:
            self.cert_ca_file = self.ca_file
        else:
            self.cert_ca_file = os.path.join(tmpdir, "issuer-ca.pem")
            issuer.cert_pem.write_to_path(self.cert_ca_file)

    # -- life cycle -----------------------------------------------------------

    def start(self) -> None:
        """Start listening (idempotent). A restart reuses the same port."""
        if self._controller is not None:
            return
        smtp_kwargs: dict[str, Any] = {}
        controller_kwargs: dict[str, Any] = {}
        if self.tls == "starttls":
            smtp_kwargs.update(tls_context=self._ssl_context, require_starttls=True)
        elif self.tls == "implicit":
            controller_kwargs["ssl_context"] = self._ssl_context
        if self._auth_enabled:
            smtp_kwargs["authenticator"] = self._authenticate
            # aiosmtpd only knows about STARTTLS; with implicit TLS (and for
            # scripted plain servers) AUTH must be allowed "without" TLS.
            smtp_kwargs["auth_require_tls"] = self.tls == "starttls"
        controller = _Controller(self, self.port, **controller_kwargs, **smtp_kwargs)
        controller.loop.set_exception_handler(self._loop_exception)
        controller.start()
        self.port = controller.port
        self._controller = controller
        with self._cond:
            self._live = True  # from now on connections count (not the probe)

    def stop(self) -> None:
        """Drop all client connections and stop the server (idempotent)."""
        controller = self._controller
        if controller is None:
            return
        self._controller = None
        with self._cond:
            self._live = False
        try:
            asyncio.run_coroutine_threadsafe(self._shutdown(controller), controller.loop).result(
                timeout=5
            )
        finally:
            controller.stop()

    async def _shutdown(self, controller: _Controller) -> None:
        if controller.server is not None:
            controller.server.close()  # stop accepting
        for protocol in list(self._open):
            protocol.abort()
        for _ in range(3):  # let connection_lost() callbacks run
            await asyncio.sleep(0)

    def __enter__(self: _S) -> _S:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.host}:{self.port} tls={self.tls}>"

    # -- observation (test thread) ------------------------------------------

    @property
    def address(self) -> tuple[str, int]:
        return (self.host, self.port)

    @property
    def messages(self) -> list[Delivery]:
        """Accepted messages, in order (a copy)."""
        with self._cond:
            return list(self._messages)

    @property
    def received(self) -> list[Delivery]:
        """Every message body that reached the final ``.`` (a copy)."""
        with self._cond:
            return list(self._received)

    @property
    def errors(self) -> list[BaseException]:
        """Server-side exceptions, e.g. a STARTTLS handshake the client
        aborted because it did not trust the certificate (a copy).  Failed
        implicit-TLS handshakes are only seen when asyncio runs in debug
        mode (``python -X dev``)."""
        with self._cond:
            return list(self._errors)

    @property
    def connections(self) -> int:
        with self._cond:
            return self._counters["connections"]

    @property
    def data_attempts(self) -> int:
        with self._cond:
            return self._counters["data_attempts"]

    @property
    def auth_attempts(self) -> int:
        with self._cond:
            return self._counters["auth_attempts"]

    def clear(self) -> None:
        """Forget recorded messages, errors and counters (scripts restart too)."""
        with self._cond:
            self._messages.clear()
            self._received.clear()
            self._errors.clear()
            for key in self._counters:
                self._counters[key] = 0

    def _wait(self, predicate: Callable[[], bool], timeout: float, what: str) -> None:
        with self._cond:
            if not self._cond.wait_for(predicate, timeout):
                raise TimeoutError(
                    f"{self!r}: timed out after {timeout}s waiting for {what} "
                    f"(messages={len(self._messages)}, counters={self._counters})"
                )

    def wait_for_messages(self, n: int = 1, timeout: float = 5.0) -> list[Delivery]:
        """Block until at least ``n`` messages were accepted; return them all.

        Wakes up as soon as a message arrives (no polling); raises
        :class:`TimeoutError` after ``timeout`` seconds.
        """
        self._wait(lambda: len(self._messages) >= n, timeout, f"{n} message(s)")
        return self.messages

    def wait_for_received(self, n: int = 1, timeout: float = 5.0) -> list[Delivery]:
        """Block until at least ``n`` message bodies reached the final ``.`` (accepted or
        not: a stalled DATA counts as soon as its body is in); return them all."""
        self._wait(lambda: len(self._received) >= n, timeout, f"{n} message body(ies)")
        return self.received

    def wait_for_connections(self, n: int = 1, timeout: float = 5.0) -> int:
        """Block until at least ``n`` connections were accepted; return the count."""
        self._wait(lambda: self._counters["connections"] >= n, timeout, f"{n} connection(s)")
        return self.connections

    def wait_for_errors(self, n: int = 1, timeout: float = 5.0) -> list[BaseException]:
        """Block until at least ``n`` server-side errors were recorded; return them."""
        self._wait(lambda: len(self._errors) >= n, timeout, f"{n} error(s)")
        return self.errors

    # -- hooks called in the server thread ----------------------------------

    def _count(self, counter: str) -> int:
        with self._cond:
            self._counters[counter] += 1
            value = self._counters[counter]
            self._cond.notify_all()
            return value

    def _connection_opened(self, protocol: _TestSMTP) -> int:
        self._open.add(protocol)
        with self._cond:
            if not self._live:
                return 0
        return self._count("connections")

    def _connection_closed(self, protocol: _TestSMTP) -> None:
        self._open.discard(protocol)

    def _record_error(self, error: BaseException) -> None:
        log.debug("%r: server-side error %r", self, error)
        with self._cond:
            self._errors.append(error)
            self._cond.notify_all()

    def _loop_exception(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        """Record asyncio-level errors instead of logging them as ERROR (in
        debug mode asyncio reports failed implicit-TLS handshakes here)."""
        error = context.get("exception")
        self._record_error(error if error is not None else RuntimeError(context["message"]))
        log.debug("%r: %s", self, context.get("message"), exc_info=error)

    def _authenticate(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        mechanism: str,
        auth_data: Any,
    ) -> AuthResult:
        connection_no = cast(_TestSMTP, server).connection_no
        ok = (
            isinstance(auth_data, LoginPassword)
            and self.username is not None
            and self.password is not None
            and not self._fault_reject_auth(connection_no)
            and auth_data.login == self.username.encode()
            and auth_data.password == self.password.encode()
        )
        # handled=False + no message: aiosmtpd replies
        # "535 5.7.8 Authentication credentials invalid".
        return AuthResult(success=ok, handled=False, auth_data=auth_data)

    async def _on_data(self, smtp: _TestSMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        if isinstance(raw, str):  # only with decode_data=True, which we never set
            raw = raw.encode("utf-8", "surrogateescape")
        auth_user: str | None = None
        if session.authenticated and isinstance(session.auth_data, LoginPassword):
            auth_user = session.auth_data.login.decode("utf-8", "replace")
        delivery = Delivery(
            mail_from=envelope.mail_from or "",
            rcpt_tos=list(envelope.rcpt_tos),
            raw=raw,
            message=email.message_from_bytes(raw, policy=email.policy.default),
            auth_user=auth_user,
            tls=smtp.is_tls,
            connection=smtp.connection_no,
            mail_options=list(envelope.mail_options),
            rcpt_options=list(envelope.rcpt_options),
        )
        with self._cond:
            self._received.append(delivery)
            self._cond.notify_all()

        if await smtp._maybe_drop("dot") or self._fault_stall(smtp.data_attempt_no):
            # Never answer; connection_lost() / shutdown cancels this task.
            await smtp.loop.create_future()
        reply = self._fault_data_reply(smtp.data_attempt_no)
        if reply is not None:
            return reply
        with self._cond:
            self._messages.append(delivery)
            self._cond.notify_all()
        return _ACCEPTED

    # -- fault script (overridden by ScriptedServer) --------------------------

    def _fault_no_greeting(self, connection_no: int) -> bool:
        return False

    def _fault_drop(self, connection_no: int, point: DropPoint) -> bool:
        return False

    def _fault_reject_auth(self, connection_no: int) -> bool:
        return False

    def _fault_stall(self, data_attempt_no: int) -> bool:
        return False

    def _fault_data_reply(self, data_attempt_no: int) -> str | None:
        return None


class Sink(BaseSMTPServer):
    """Plain SMTP: no TLS, no AUTH; accepts and records every message."""

    def __init__(self) -> None:
        super().__init__(tls="none")


class StartTLSServer(BaseSMTPServer):
    """STARTTLS and AUTH (PLAIN/LOGIN) both required before MAIL.

    The certificate (``localhost``, ``127.0.0.1``) is issued by ``ca``
    (fresh if ``None``); clients verify with ``ca_file``.  Credentials other
    than ``username``/``password`` get ``535``.
    """

    def __init__(
        self,
        ca: trustme.CA | None = None,
        username: str = DEFAULT_USERNAME,
        password: str = DEFAULT_PASSWORD,
        *,
        untrusted: bool = False,
    ) -> None:
        super().__init__(
            tls="starttls",
            ca=ca,
            untrusted=untrusted,
            username=username,
            password=password,
            auth_required=True,
        )

    ca_file: str
    cert_ca_file: str


class UntrustedStartTLSServer(StartTLSServer):
    """Like :class:`StartTLSServer`, but the certificate comes from another CA.

    ``ca_file`` is ``ca``'s PEM (what the other servers' certificates chain
    to), so verifying against it fails; ``cert_ca_file`` is the real issuer.
    """

    def __init__(
        self,
        ca: trustme.CA | None = None,
        username: str = DEFAULT_USERNAME,
        password: str = DEFAULT_PASSWORD,
    ) -> None:
        super().__init__(ca, username, password, untrusted=True)


class SMTPSServer(BaseSMTPServer):
    """Implicit TLS ("SMTPS", TLS from the first byte) with AUTH required.

    Same certificate rules as :class:`StartTLSServer`; ``username=None``
    disables AUTH.  No STARTTLS is advertised.
    """

    def __init__(
        self,
        ca: trustme.CA | None = None,
        username: str | None = DEFAULT_USERNAME,
        password: str | None = DEFAULT_PASSWORD,
        *,
        untrusted: bool = False,
    ) -> None:
        super().__init__(
            tls="implicit",
            ca=ca,
            untrusted=untrusted,
            username=username,
            password=password,
            auth_required=username is not None,
        )

    ca_file: str
    cert_ca_file: str


class ScriptedServer(BaseSMTPServer):
    """A server that misbehaves on cue, then behaves.

    Counts are "the first N" (``0`` = never, :data:`ALWAYS` = every time)
    and are server-wide, so they span reconnections:

    :param data_reply: reply sent after the message body (the final ``.``)
        instead of 250, e.g. ``"451 4.3.0 Try again later"`` or
        ``"554 5.7.1 Rejected"``; the message is then not recorded in
        ``messages`` (but is in ``received``).
    :param data_reply_times: for how many DATA attempts ``data_reply`` is
        used (default :data:`ALWAYS`).
    :param stall_data_times: for the first N DATA attempts read the whole
        message but never answer the final ``.``.
    :param drop_connections: close the first N connections without a reply
        when reaching ``drop_at``.
    :param drop_at: ``"connect"`` (before the greeting), ``"ehlo"``
        (HELO/EHLO), ``"mail"``, ``"rcpt"``, ``"data"`` (the DATA command,
        counted in ``data_attempts``) or ``"dot"`` (after the message body).
    :param no_greeting_connections: accept the first N connections but never
        send the 220 greeting.
    :param reject_auth_connections: on the first N connections every AUTH
        gets 535, even with the right credentials.  Setting it offers AUTH
        even when ``username`` is ``None``.
    :param tls: ``"none"`` (default), ``"starttls"`` or ``"implicit"``,
        with ``ca``/``untrusted`` as for the TLS servers.
    :param username/password: if given, AUTH PLAIN/LOGIN is offered (also on
        a plain connection) but not required.
    """

    def __init__(
        self,
        *,
        data_reply: str | None = None,
        data_reply_times: int = ALWAYS,
        stall_data_times: int = 0,
        drop_connections: int = 0,
        drop_at: DropPoint = "data",
        no_greeting_connections: int = 0,
        reject_auth_connections: int = 0,
        tls: TLSMode = "none",
        ca: trustme.CA | None = None,
        untrusted: bool = False,
        username: str | None = None,
        password: str | None = None,
    ) -> None:
        if data_reply is not None and not (
            len(data_reply) >= 3 and data_reply[:3].isdigit() and data_reply[0] in "2345"
        ):
            raise ValueError(f"data_reply must start with an SMTP code: {data_reply!r}")
        if drop_at not in DROP_POINTS:
            raise ValueError(f"drop_at must be one of {DROP_POINTS}, not {drop_at!r}")
        for name, value in (
            ("data_reply_times", data_reply_times),
            ("stall_data_times", stall_data_times),
            ("drop_connections", drop_connections),
            ("no_greeting_connections", no_greeting_connections),
            ("reject_auth_connections", reject_auth_connections),
        ):
            if value < 0:
                raise ValueError(f"{name} must be >= 0")
        self.data_reply = data_reply
        self.data_reply_times = data_reply_times
        self.stall_data_times = stall_data_times
        self.drop_connections = drop_connections
        self.drop_at: DropPoint = drop_at
        self.no_greeting_connections = no_greeting_connections
        self.reject_auth_connections = reject_auth_connections
        super().__init__(
            tls=tls,
            ca=ca,
            untrusted=untrusted,
            username=username,
            password=password,
            auth_required=False,
            offer_auth=reject_auth_connections > 0,
        )

    @staticmethod
    def _within(index: int, first_n: int) -> bool:
        # index 0 is the controller's start-up probe: never faulty.
        return 1 <= index <= first_n

    def _fault_no_greeting(self, connection_no: int) -> bool:
        return self._within(connection_no, self.no_greeting_connections)

    def _fault_drop(self, connection_no: int, point: DropPoint) -> bool:
        return point == self.drop_at and self._within(connection_no, self.drop_connections)

    def _fault_reject_auth(self, connection_no: int) -> bool:
        return self._within(connection_no, self.reject_auth_connections)

    def _fault_stall(self, data_attempt_no: int) -> bool:
        return self._within(data_attempt_no, self.stall_data_times)

    def _fault_data_reply(self, data_attempt_no: int) -> str | None:
        if self.data_reply is not None and self._within(data_attempt_no, self.data_reply_times):
            return self.data_reply
        return None


# --- servers below aiosmtpd: replies it cannot be made to give ---------------------------------


class HandRolled(socketserver.ThreadingTCPServer):
    """A minimal plain SMTP server (a context manager) for what ScriptedServer cannot do.

    It waits ``delay`` seconds before every reply (as tarpits do), refuses the recipients in
    ``refuse`` with 550 and the first ``defer[address]`` RCPTs of an address with 451. Its
    EHLOs get the replies in ``ehlo`` first (a 4xx one then closes the connection, as servers
    do), then 250; ``helo_only`` refuses every EHLO with 502 and wants HELO before MAIL.
    ``accepted`` lists the recipients of every message it took; ``connections`` counts.
    """

    daemon_threads = True

    def __init__(
        self,
        delay: float = 0.0,
        refuse: tuple[str, ...] = (),
        *,
        defer: dict[str, int] | None = None,
        ehlo: tuple[str, ...] = (),
        helo_only: bool = False,
    ) -> None:
        self.delay = delay
        self.refuse = refuse
        self.defer = dict(defer or {})
        self.ehlo = list(ehlo)
        self.helo_only = helo_only
        self.accepted: list[list[str]] = []
        self.message_ids: list[str] = []
        self.connections = 0
        self.stopping = threading.Event()
        super().__init__((HOST, 0), _HandRolledSession)
        self.host, self.port = HOST, int(self.server_address[1])

    def __enter__(self) -> HandRolled:
        threading.Thread(target=self.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self.shutdown()
        self.server_close()


class _HandRolledSession(socketserver.StreamRequestHandler):
    server: HandRolled

    def reply(self, line: str) -> None:
        self.server.stopping.wait(self.server.delay)  # the tarpit's delay is what is tested
        self.wfile.write(line.encode() + b"\r\n")

    def handle(self) -> None:
        server = self.server
        server.connections += 1
        self.reply("220 localhost hand-rolled")
        recipients: list[str] = []
        greeted = False
        for raw in self.rfile:
            verb, _, arg = raw.decode().strip().partition(" ")
            verb = verb.upper()
            if verb == "QUIT":
                self.reply("221 bye")
                return
            if verb == "EHLO":
                if server.helo_only:
                    self.reply("502 5.5.2 EHLO not supported, say HELO")
                    continue
                if server.ehlo:
                    line = server.ehlo.pop(0)
                    self.reply(line)
                    if line.startswith("4"):
                        return
                    greeted = line.startswith("2")
                    continue
                greeted = True
            if verb == "HELO":
                greeted = True
            if verb == "MAIL" and not greeted:
                self.reply("503 5.5.1 send HELO/EHLO first")
                continue
            if verb == "RCPT":
                address = arg.partition("<")[2].partition(">")[0]
                if address in server.refuse:
                    self.reply("550 5.1.1 No such user here")
                    continue
                if server.defer.get(address, 0) > 0:
                    server.defer[address] -= 1
                    self.reply("451 4.7.1 Greylisted, try again later")
                    continue
                recipients.append(address)
            if verb == "DATA":
                self.reply("354 go on")
                for body in self.rfile:
                    if body.rstrip(b"\r\n") == b".":
                        break
                    if body.lower().startswith(b"message-id:"):
                        server.message_ids.append(body.split(b":", 1)[1].strip().decode())
                server.accepted.append(recipients)
                recipients = []
            self.reply("250 ok")


class Trickle:
    """A server (a context manager) that greets one byte every ``interval`` seconds, on every
    connection, for ever: each read succeeds, the reply never ends."""

    def __init__(self, interval: float = 0.2) -> None:
        self.interval = interval
        self.sock = socket.create_server((HOST, 0))
        self.host, self.port = HOST, int(self.sock.getsockname()[1])
        self.stop = threading.Event()

    def __enter__(self) -> Trickle:
        threading.Thread(target=self._serve, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.sock.close()

    def _serve(self) -> None:
        self.sock.settimeout(self.interval)
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            threading.Thread(target=self._drip, args=(conn,), daemon=True).start()

    def _drip(self, conn: socket.socket) -> None:
        with conn:
            while not self.stop.wait(self.interval):  # the trickle is the behaviour tested
                try:
                    conn.sendall(b"2")
                except OSError:
                    return
