"""Self-tests for the SMTP test servers, driven with plain :mod:`smtplib`."""

from __future__ import annotations

import smtplib
import socket
import ssl
import time
from collections.abc import Callable

import pytest
from smtp_servers import (
    ALWAYS,
    DROP_POINTS,
    BaseSMTPServer,
    HandRolled,
    ScriptedServer,
    Sink,
    SMTPSServer,
    StartTLSServer,
    Trickle,
    UntrustedStartTLSServer,
)

pytestmark = pytest.mark.timeout(30)

Scripted = Callable[..., ScriptedServer]

SENDER = "job@example.com"
RCPT = ["ops@example.com", "oncall@example.com"]
BODY = (
    b"From: job@example.com\r\n"
    b"To: ops@example.com\r\n"
    b"Subject: job failed\r\n"
    b"\r\n"
    b"line 1\r\n"
    b".leading dot survives\r\n"
)


def connect(server: BaseSMTPServer, timeout: float = 5) -> smtplib.SMTP:
    # local_hostname avoids socket.getfqdn(), which can be slow.
    return smtplib.SMTP(server.host, server.port, local_hostname="localhost", timeout=timeout)


def send(server: BaseSMTPServer, timeout: float = 5) -> None:
    """One plain-SMTP delivery attempt on a fresh connection."""
    with connect(server, timeout) as client:
        client.sendmail(SENDER, RCPT, BODY)


def tls_context(ca_file: str) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=ca_file)


def test_sink_records_message(smtp_sink: Sink) -> None:
    with connect(smtp_sink) as client:
        client.ehlo()
        assert not client.has_extn("starttls")
        assert not client.has_extn("auth")
        client.sendmail(SENDER, RCPT, BODY)
    (delivery,) = smtp_sink.wait_for_messages(1, timeout=2)
    assert delivery.mail_from == SENDER
    assert delivery.rcpt_tos == RCPT
    assert delivery.raw == BODY  # dot-stuffing undone, CRLF kept
    assert delivery.message["Subject"] == "job failed"
    assert delivery.message.get_content() == "line 1\r\n.leading dot survives\r\n"
    assert delivery.auth_user is None
    assert delivery.tls is False
    assert (smtp_sink.connections, smtp_sink.data_attempts) == (1, 1)
    assert smtp_sink.errors == []


def test_wait_for_messages_times_out(smtp_sink: Sink) -> None:
    start = time.monotonic()
    with pytest.raises(TimeoutError):
        smtp_sink.wait_for_messages(1, timeout=0.2)
    assert time.monotonic() - start < 1


def test_starttls_login_and_send(smtp_starttls: StartTLSServer) -> None:
    with connect(smtp_starttls) as client:
        client.ehlo()
        assert client.has_extn("starttls")
        assert not client.has_extn("auth")  # only after STARTTLS
        code, _ = client.mail(SENDER)
        assert code == 530  # STARTTLS required
        client.starttls(context=tls_context(smtp_starttls.ca_file))
        client.ehlo()
        assert "PLAIN" in client.esmtp_features["auth"]
        assert "LOGIN" in client.esmtp_features["auth"]
        code, _ = client.mail(SENDER)
        assert code == 530  # AUTH required
        client.rset()
        client.login(smtp_starttls.username or "", smtp_starttls.password or "")
        client.sendmail(SENDER, RCPT, BODY)
    (delivery,) = smtp_starttls.wait_for_messages(1, timeout=2)
    assert delivery.auth_user == "user"
    assert delivery.tls is True
    assert delivery.message["Subject"] == "job failed"


def test_starttls_wrong_password_535(smtp_starttls: StartTLSServer) -> None:
    with connect(smtp_starttls) as client:
        client.starttls(context=tls_context(smtp_starttls.ca_file))
        with pytest.raises(smtplib.SMTPAuthenticationError) as excinfo:
            client.login("user", "wrong")
        assert excinfo.value.smtp_code == 535
    assert smtp_starttls.auth_attempts >= 1
    assert smtp_starttls.messages == []


def test_untrusted_ca_fails_verification(
    smtp_starttls_untrusted: UntrustedStartTLSServer, smtp_ca_file: str
) -> None:
    server = smtp_starttls_untrusted
    with open(server.ca_file, "rb") as a, open(smtp_ca_file, "rb") as b:
        assert a.read() == b.read()  # ca_file is the session CA...
    with connect(server) as client, pytest.raises(ssl.SSLCertVerificationError):
        client.starttls(context=tls_context(server.ca_file))
    assert server.wait_for_errors(1)  # the server saw the aborted STARTTLS handshake
    # ...while the certificate's real issuer does verify.
    with connect(server) as client:
        client.starttls(context=tls_context(server.cert_ca_file))
        client.login("user", "secret")
        client.sendmail(SENDER, RCPT, BODY)
    server.wait_for_messages(1, timeout=2)


def test_smtps_login_and_send(smtp_ssl: SMTPSServer) -> None:
    with smtplib.SMTP_SSL(
        smtp_ssl.host,
        smtp_ssl.port,
        local_hostname="localhost",
        timeout=5,
        context=tls_context(smtp_ssl.ca_file),
    ) as client:
        client.ehlo()
        assert not client.has_extn("starttls")
        client.login("user", "secret")
        client.sendmail(SENDER, RCPT, BODY)
    (delivery,) = smtp_ssl.wait_for_messages(1, timeout=2)
    assert (delivery.auth_user, delivery.tls) == ("user", True)


def test_smtps_untrusted(smtp_scripted: Scripted) -> None:
    server = smtp_scripted(tls="implicit", untrusted=True)
    assert server.ca_file is not None
    with pytest.raises(ssl.SSLCertVerificationError):
        smtplib.SMTP_SSL(
            server.host,
            server.port,
            local_hostname="localhost",
            timeout=5,
            context=tls_context(server.ca_file),
        )


def test_451_then_accept(smtp_scripted: Scripted) -> None:
    server = smtp_scripted(data_reply="451 4.3.0 Try again later", data_reply_times=1)
    with pytest.raises(smtplib.SMTPDataError) as excinfo:
        send(server)
    assert excinfo.value.smtp_code == 451
    send(server)
    server.wait_for_messages(1, timeout=2)
    assert (server.connections, server.data_attempts, len(server.messages)) == (2, 2, 1)
    assert len(server.received) == 2


@pytest.mark.parametrize("reply", ["554 5.7.1 Rejected", "552 5.3.4 Message too big"])
def test_permanent_data_reply(smtp_scripted: Scripted, reply: str) -> None:
    server = smtp_scripted(data_reply=reply, data_reply_times=ALWAYS)
    for _ in range(2):
        with pytest.raises(smtplib.SMTPDataError) as excinfo:
            send(server)
        assert excinfo.value.smtp_code == int(reply[:3])
    assert server.data_attempts == 2
    assert server.messages == []


def test_reject_auth_then_accept(smtp_scripted: Scripted) -> None:
    server = smtp_scripted(username="user", password="secret", reject_auth_connections=1)
    with connect(server) as client:
        with pytest.raises(smtplib.SMTPAuthenticationError) as excinfo:
            client.login("user", "secret")
        assert excinfo.value.smtp_code == 535
    with connect(server) as client:
        client.login("user", "secret")
        client.sendmail(SENDER, RCPT, BODY)
    assert server.wait_for_messages(1, timeout=2)[0].auth_user == "user"


@pytest.mark.parametrize("drop_at", DROP_POINTS)
def test_drop_connection_then_accept(smtp_scripted: Scripted, drop_at: str) -> None:
    server = smtp_scripted(drop_connections=1, drop_at=drop_at)
    with pytest.raises(smtplib.SMTPServerDisconnected):
        send(server)
    send(server)
    server.wait_for_messages(1, timeout=2)
    assert server.connections == 2
    assert len(server.messages) == 1


def test_no_greeting_times_out(smtp_scripted: Scripted) -> None:
    server = smtp_scripted(no_greeting_connections=1)
    start = time.monotonic()
    # smtplib turns the socket timeout into SMTPServerDisconnected("...timed out")
    with pytest.raises((smtplib.SMTPServerDisconnected, TimeoutError), match="timed out"):
        connect(server, timeout=1)
    assert 0.9 <= time.monotonic() - start < 3
    send(server)  # second connection is greeted
    server.wait_for_messages(1, timeout=2)
    assert server.connections == 2


def test_stall_after_data_times_out(smtp_scripted: Scripted) -> None:
    server = smtp_scripted(stall_data_times=1)
    start = time.monotonic()
    with pytest.raises((smtplib.SMTPServerDisconnected, TimeoutError), match="timed out"):
        send(server, timeout=1)
    assert 0.9 <= time.monotonic() - start < 3
    assert server.received[0].raw == BODY  # the bytes did arrive
    assert server.messages == []
    send(server)
    server.wait_for_messages(1, timeout=2)
    assert (server.connections, server.data_attempts, len(server.messages)) == (2, 2, 1)


def test_restart_keeps_port() -> None:
    server = Sink()
    with server:
        port = server.port
        send(server)
    with server:
        assert server.port == port
        send(server)
    assert len(server.messages) == 2


def test_wait_for_received_counts_a_body_the_server_never_answers(smtp_scripted: Scripted) -> None:
    server = smtp_scripted(stall_data_times=1)
    with pytest.raises((smtplib.SMTPServerDisconnected, TimeoutError)):
        send(server, timeout=1)
    (delivery,) = server.wait_for_received(1, timeout=2)
    assert delivery.raw == BODY
    assert server.messages == []


def test_hand_rolled_refuses_defers_and_records(hand_rolled: Callable[..., HandRolled]) -> None:
    server = hand_rolled(refuse=("oncall@example.com",), defer={"ops@example.com": 1})
    with connect(server) as client:  # type: ignore[arg-type]
        with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
            client.sendmail(SENDER, RCPT, BODY)
        assert refused.value.recipients == {
            "ops@example.com": (451, b"4.7.1 Greylisted, try again later"),
            "oncall@example.com": (550, b"5.1.1 No such user here"),
        }
        assert client.sendmail(SENDER, ["ops@example.com"], BODY) == {}
    assert server.accepted == [["ops@example.com"]]
    assert server.connections == 1


def test_hand_rolled_can_refuse_ehlo_and_want_helo(hand_rolled: Callable[..., HandRolled]) -> None:
    server = hand_rolled(helo_only=True)
    with connect(server) as client:  # type: ignore[arg-type]
        assert client.ehlo()[0] == 502
        assert client.helo()[0] == 250
        client.sendmail(SENDER, RCPT, BODY)
    assert server.accepted == [RCPT]


def test_hand_rolled_delays_every_reply(hand_rolled: Callable[..., HandRolled]) -> None:
    server = hand_rolled(delay=0.3)
    start = time.monotonic()
    with connect(server) as client:  # type: ignore[arg-type]
        client.noop()
    assert time.monotonic() - start >= 0.6  # the greeting and the NOOP, 0.3 s each


def test_a_trickle_greets_a_byte_at_a_time_and_never_ends() -> None:
    with (
        Trickle(interval=0.05) as trickle,
        socket.create_connection((trickle.host, trickle.port)) as conn,
    ):
        conn.settimeout(2)
        seen = b""
        while len(seen) < 3:
            seen += conn.recv(16)
    assert set(seen) == {ord("2")}
