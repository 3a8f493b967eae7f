"""smtp.send(): one bounded connection per attempt under the one retry policy, against real SMTP
servers on 127.0.0.1: delivered once, retried when that may help, TLS verified and never given
up. That nothing hangs is tested in test_smtp_timeouts.py.

Waiting between attempts goes through an injected ``sleep`` that only records (the ``sleeps``
fixture), so these tests never wait for a backoff.
"""

from __future__ import annotations

import gzip
from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path

import pytest
from helpers import Sleeps, smtp_refusal, smtp_send, smtp_settings
from smtp_servers import (
    ALWAYS,
    DROP_POINTS,
    BaseSMTPServer,
    HandRolled,
    ScriptedServer,
    Sink,
)

from lognotify.settings import Settings, SmtpSettings

# A warning is an error here: under PYTHONWARNINGS=error it would cost the user the report.
pytestmark = [pytest.mark.timeout(30), pytest.mark.filterwarnings("error")]

Scripted = Callable[..., ScriptedServer]
Rolled = Callable[..., HandRolled]

OUTPUT = b"loading batch 42\nTraceback (most recent call last):\nValueError: boom\n"
TO = ("ops@example.com", "oncall@example.com")
SENDER = "lognotify@example.com"


def settings_for(server: object, *, security: str = "none", **overrides: object) -> Settings:
    return smtp_settings(server, security=security, **overrides)  # type: ignore[no-any-return]


def send_report(
    settings: Settings, sleep: Callable[[float], None], output: bytes = OUTPUT
) -> tuple[int, dict[str, tuple[int, bytes]], EmailMessage]:
    """Send the report of a failed run; the attempts it took, the refusals, the message."""
    return smtp_send(settings, sleep, output)  # type: ignore[no-any-return]


def refused_for_good(settings: Settings, sleep: Callable[[float], None]) -> str:
    """The reason given when the report cannot be sent."""
    return smtp_refusal(settings, sleep)


def assert_is_the_report(message: EmailMessage, output: bytes = OUTPUT) -> None:
    """What the recipient sees: the contract's headers, text + HTML, the gzipped log."""
    assert message["Subject"] == "[lognotify] FAILED nightly-etl (exit 3) on worker-1"
    assert message["From"] == SENDER
    assert [a.addr_spec for a in message["To"].addresses] == list(TO)
    assert message["Date"]
    assert message["Message-ID"]
    assert message["X-Lognotify-Job"] == "nightly-etl"
    assert message["X-Lognotify-Status"] == "failure"
    assert message["X-Lognotify-Exit-Code"] == "3"
    assert message["X-Lognotify-Reason"] == "exit"
    body = (
        message
        if not output
        else next(
            p for p in message.iter_parts() if p.get_content_type() == "multipart/alternative"
        )
    )
    assert [p.get_content_type() for p in body.iter_parts()] == ["text/plain", "text/html"]
    assert "nightly-etl" in body.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "nightly-etl" in body.get_body(("html",)).get_content()  # type: ignore[union-attr]
    attached = list(message.iter_attachments())
    if not output:
        assert attached == []
        return
    (log,) = attached
    assert log.get_filename() == "nightly-etl-20260921T141320Z.log.gz"
    assert gzip.decompress(log.get_content()) == output


# --- it arrives, once, whole -----------------------------------------------------------------


def test_the_report_arrives_once_through_a_plain_server(smtp_sink: Sink, sleeps: Sleeps) -> None:
    attempts, refused, _ = send_report(settings_for(smtp_sink), sleeps)

    assert (attempts, refused) == (1, {})
    (arrived,) = smtp_sink.wait_for_messages(1)
    assert arrived.mail_from == SENDER
    assert arrived.rcpt_tos == list(TO)
    assert not arrived.tls
    assert_is_the_report(arrived.message)
    assert smtp_sink.connections == 1
    assert sleeps.calls == []


@pytest.mark.parametrize(
    ("server_fixture", "security"), [("smtp_starttls", "starttls"), ("smtp_ssl", "ssl")]
)
def test_the_report_arrives_over_tls_with_auth_and_the_test_ca(
    server_fixture: str,
    security: str,
    request: pytest.FixtureRequest,
    smtp_ca_file: str,
    sleeps: Sleeps,
) -> None:
    server: BaseSMTPServer = request.getfixturevalue(server_fixture)
    settings = settings_for(
        server,
        security=security,
        smtp_user="user",
        smtp_password="secret",
        smtp_ca_file=smtp_ca_file,
    )

    attempts, _, _ = send_report(settings, sleeps)

    assert attempts == 1
    (arrived,) = server.wait_for_messages(1)
    assert arrived.tls
    assert arrived.auth_user == "user"
    assert_is_the_report(arrived.message)


def test_empty_output_arrives_without_attachment(smtp_sink: Sink, sleeps: Sleeps) -> None:
    send_report(settings_for(smtp_sink), sleeps, output=b"")

    (arrived,) = smtp_sink.wait_for_messages(1)
    assert_is_the_report(arrived.message, output=b"")


# --- transient failures: retried, delivered once, same Message-ID ----------------------------


def test_451_on_data_is_retried_and_delivered_once(smtp_scripted: Scripted, sleeps: Sleeps) -> None:
    server = smtp_scripted(data_reply="451 4.3.0 Try again later", data_reply_times=1)

    attempts, _, message = send_report(settings_for(server), sleeps)

    assert attempts == 2
    assert server.data_attempts == 2
    (arrived,) = server.wait_for_messages(1)
    assert_is_the_report(arrived.message)
    ids = {d.message["Message-ID"] for d in server.received}
    assert len(server.received) == 2
    assert ids == {message["Message-ID"]}
    (wait,) = sleeps.calls  # exponential backoff with jitter, starting at half a second
    assert 0.5 <= wait <= 1.5


@pytest.mark.parametrize("drop_at", DROP_POINTS)
def test_a_connection_dropped_mid_session_is_retried_and_delivered_once(
    smtp_scripted: Scripted, sleeps: Sleeps, drop_at: str
) -> None:
    server = smtp_scripted(drop_connections=1, drop_at=drop_at)

    attempts, _, message = send_report(settings_for(server), sleeps)

    assert attempts == 2
    assert server.connections == 2
    (arrived,) = server.wait_for_messages(1)
    assert arrived.connection == 2
    assert_is_the_report(arrived.message)
    assert {d.message["Message-ID"] for d in server.received} == {message["Message-ID"]}
    assert len(sleeps.calls) == 1


def test_several_transient_failures_back_off_exponentially(
    smtp_scripted: Scripted, sleeps: Sleeps
) -> None:
    server = smtp_scripted(data_reply="421 4.7.0 Busy", data_reply_times=3)

    attempts, _, _ = send_report(settings_for(server), sleeps)

    assert attempts == 4
    assert len(server.wait_for_messages(1)) == 1
    assert server.data_attempts == 4
    assert len(sleeps.calls) == 3
    for attempt, wait in enumerate(sleeps.calls):
        assert 0.5 * 2**attempt <= wait <= 0.5 * 2**attempt + 1


def test_a_refused_recipient_is_returned_with_the_servers_reply(
    hand_rolled: Rolled, sleeps: Sleeps
) -> None:
    server = hand_rolled(refuse=("oncall@example.com",))

    attempts, refused, _ = send_report(settings_for(server), sleeps)

    assert server.accepted == [["ops@example.com"]]
    assert attempts == 1
    assert refused == {"oncall@example.com": (550, b"5.1.1 No such user here")}


def test_a_recipient_deferred_with_4xx_gets_it_at_the_next_attempt_and_only_they(
    hand_rolled: Rolled, sleeps: Sleeps
) -> None:
    server = hand_rolled(defer={"oncall@example.com": 1})

    attempts, refused, message = send_report(settings_for(server), sleeps)

    assert server.accepted == [["ops@example.com"], ["oncall@example.com"]]
    assert server.message_ids == [message["Message-ID"]] * 2
    assert (attempts, refused) == (2, {})


def test_a_recipient_deferred_for_good_is_returned_as_refused(
    hand_rolled: Rolled, sleeps: Sleeps
) -> None:
    server = hand_rolled(defer={"oncall@example.com": 1000})

    _, refused, _ = send_report(settings_for(server, delivery_timeout=1), sleeps)

    assert server.accepted[0] == ["ops@example.com"]
    assert all(accepted == [] for accepted in server.accepted[1:])
    assert refused == {"oncall@example.com": (451, b"4.7.1 Greylisted, try again later")}


def test_a_report_taken_for_some_stays_sent_when_the_retry_for_the_others_fails(
    hand_rolled: Rolled, sleeps: Sleeps
) -> None:
    # ops@ takes it at once; oncall@ is deferred, and then the server goes down for good.
    going_down = ("421 4.3.2 Service shutting down",) * 1000
    server = hand_rolled(defer={"oncall@example.com": 1}, ehlo=("250 hand-rolled", *going_down))

    # (the waits are not real: delivery_timeout 5 leaves room for a second attempt whatever
    # the jitter, and the doubling waits end it after a few)
    _, refused, _ = send_report(settings_for(server, delivery_timeout=5), sleeps)

    assert server.accepted == [["ops@example.com"]]
    assert refused == {"oncall@example.com": (421, b"4.3.2 Service shutting down")}


@pytest.mark.parametrize("security", ["none", "starttls"])
def test_a_4xx_reply_to_ehlo_is_retried(hand_rolled: Rolled, sleeps: Sleeps, security: str) -> None:
    server = hand_rolled(ehlo=("421 4.3.2 Service shutting down",))
    settings = settings_for(server, security=security)

    if security == "none":
        attempts, _, _ = send_report(settings, sleeps)
        assert attempts == 2
        assert server.accepted == [list(TO)]
    else:  # retried; then this plain server offers no STARTTLS, and nothing goes in clear
        reason = refused_for_good(settings, sleeps)
        assert "does not offer STARTTLS" in reason
        assert "2 attempts" in reason
        assert server.accepted == []
    assert server.connections == 2


def test_a_5xx_reply_to_ehlo_is_the_reason_given_and_not_retried(
    hand_rolled: Rolled, sleeps: Sleeps
) -> None:
    server = hand_rolled(ehlo=("554 5.7.1 Your IP is on a blocklist",))

    reason = refused_for_good(settings_for(server, security="starttls"), sleeps)

    assert server.connections == 1
    assert reason == (
        f"127.0.0.1:{server.port}: 554 5.7.1 Your IP is on a blocklist (permanent; 1 attempt)"
    )


def test_a_server_that_knows_only_helo_still_takes_the_report(
    hand_rolled: Rolled, sleeps: Sleeps
) -> None:
    server = hand_rolled(helo_only=True)

    attempts, _, _ = send_report(settings_for(server, security="none"), sleeps)

    assert attempts == 1
    assert server.accepted == [list(TO)]


# --- permanent failures: one attempt, the server's reason ------------------------------------


@pytest.mark.parametrize(
    "reply", ["554 5.7.1 Message rejected by policy", "552 5.3.4 Message too big for system"]
)
def test_5xx_on_data_is_not_retried(smtp_scripted: Scripted, sleeps: Sleeps, reply: str) -> None:
    server = smtp_scripted(data_reply=reply)

    reason = refused_for_good(settings_for(server), sleeps)

    assert reply in reason
    assert "(permanent; 1 attempt)" in reason
    assert server.connections == server.data_attempts == 1
    assert server.messages == []
    assert sleeps.calls == []


def test_refused_authentication_is_not_retried(
    smtp_scripted: Scripted, smtp_ca_file: str, sleeps: Sleeps
) -> None:
    server = smtp_scripted(
        tls="starttls", username="user", password="secret", reject_auth_connections=ALWAYS
    )
    settings = settings_for(
        server,
        security="starttls",
        smtp_user="user",
        smtp_password="secret",
        smtp_ca_file=smtp_ca_file,
    )

    reason = refused_for_good(settings, sleeps)

    assert "535" in reason
    assert "secret" not in reason
    # one connection; smtplib tries each offered mechanism once (PLAIN, LOGIN), no more
    assert server.connections == 1
    assert 1 <= server.auth_attempts <= 2
    assert server.received == []
    assert sleeps.calls == []


# --- TLS is never given up -------------------------------------------------------------------


def test_an_untrusted_certificate_is_refused_and_not_retried(
    smtp_starttls_untrusted: BaseSMTPServer, sleeps: Sleeps
) -> None:
    server = smtp_starttls_untrusted
    settings = settings_for(
        server,
        security="starttls",
        smtp_user="user",
        smtp_password="secret",
        smtp_ca_file=server.ca_file,
    )

    reason = refused_for_good(settings, sleeps)

    assert "certificate verification failed" in reason
    assert server.connections == 1
    assert server.auth_attempts == 0
    assert server.received == []
    assert sleeps.calls == []


def test_an_untrusted_certificate_is_refused_over_implicit_tls(
    smtp_scripted: Scripted, smtp_ca_file: str, sleeps: Sleeps
) -> None:
    server = smtp_scripted(tls="implicit", untrusted=True)
    settings = settings_for(server, security="ssl", smtp_ca_file=smtp_ca_file)

    reason = refused_for_good(settings, sleeps)

    assert "certificate" in reason
    assert server.received == []
    assert sleeps.calls == []


def test_starttls_required_but_not_offered_never_falls_back_to_plain_text(
    smtp_sink: Sink, sleeps: Sleeps
) -> None:
    reason = refused_for_good(settings_for(smtp_sink, security="starttls"), sleeps)

    assert "STARTTLS" in reason
    assert smtp_sink.received == []
    assert smtp_sink.data_attempts == 0
    assert smtp_sink.connections == 1
    assert sleeps.calls == []


def test_implicit_tls_against_a_plain_server_never_falls_back_to_plain_text(
    smtp_sink: Sink, sleeps: Sleeps
) -> None:
    refused_for_good(settings_for(smtp_sink, security="ssl"), sleeps)

    assert smtp_sink.received == []
    assert smtp_sink.data_attempts == 0


def test_credentials_are_never_sent_over_a_plain_connection(
    smtp_scripted: Scripted, sleeps: Sleeps, tmp_path: Path
) -> None:
    # load_settings refuses this combination; the delivery layer refuses it on its own too.
    server = smtp_scripted(username="user", password="hunter2-secret")
    smtp = SmtpSettings(
        host=server.host,
        port=server.port,
        security="none",
        user="user",
        password="hunter2-secret",
        timeout=5,
        delivery_timeout=10,
    )
    settings = Settings(
        to=TO, sender=SENDER, job_name="nightly-etl", smtp=smtp, outbox=str(tmp_path)
    )

    reason = refused_for_good(settings, sleeps)

    assert "unencrypted" in reason
    assert "hunter2-secret" not in reason
    assert server.auth_attempts == 0
    assert server.received == []
    assert sleeps.calls == []
