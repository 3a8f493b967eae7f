"""deliver(): smtplib under one tenacity policy, against real SMTP servers on 127.0.0.1.

Waiting between attempts goes through an injected ``sleep`` that only records, so the suite
never sleeps for real; only the tests about timeouts take (bounded) real time.
"""

from __future__ import annotations

import calendar
import email
import email.policy
import gzip
import socket
import socketserver
import threading
import time
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest
from smtp_servers import ALWAYS, DROP_POINTS, BaseSMTPServer, ScriptedServer, Sink

from lognotify.capture import Capture
from lognotify.delivery import Delivered, deliver
from lognotify.message import compose
from lognotify.report import render
from lognotify.result import RunResult
from lognotify.settings import Settings, SmtpSettings, load_settings

# A warning is an error here: under PYTHONWARNINGS=error it would cost the user the report.
pytestmark = [pytest.mark.timeout(30), pytest.mark.filterwarnings("error")]

Scripted = Callable[..., ScriptedServer]

STARTED = calendar.timegm((2024, 5, 17, 3, 4, 5))
OUTPUT = b"loading batch 42\nTraceback (most recent call last):\nValueError: boom\n"
TO = ("ops@example.com", "oncall@example.com")
SENDER = "lognotify@example.com"


class Sleeps:
    """An injected ``sleep``: records how long it was asked to wait, waits not at all."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


def settings_for(
    server: BaseSMTPServer | HandRolled | None,
    outbox: Path,
    *,
    security: str = "none",
    **overrides: object,
) -> Settings:
    given: dict[str, object] = {
        "to": ",".join(TO),
        "sender": SENDER,
        "job_name": "nightly-etl",
        "smtp_security": security,
        "smtp_timeout": 5,
        "delivery_timeout": 20,
    }
    if server is not None:
        given.update(smtp_host=server.host, smtp_port=server.port)
    given["outbox"] = str(outbox)  # also where a report that could not be sent is kept
    given.update(overrides)
    return load_settings(given, {})  # an explicit environ: the developer's does not leak in


def report_message(settings: Settings, output: bytes = OUTPUT) -> EmailMessage:
    capture = Capture(settings.max_bytes)
    capture.append(output)
    result = RunResult(
        mode="cli",
        command="/app/sync.sh --full",
        program="sync.sh",
        exit_code=3,
        started=STARTED,
        ended=STARTED + 2,
        output=capture.snapshot(),
    )
    return compose(render(result, settings, environ={}, hostname="worker-1"), settings)


def send_report(
    settings: Settings, sleeps: Callable[[float], None], output: bytes = OUTPUT
) -> tuple[Delivered, EmailMessage]:
    message = report_message(settings, output)
    return deliver(message, settings, sleep=sleeps), message


def assert_is_the_report(message: EmailMessage, output: bytes = OUTPUT) -> None:
    """What the recipient sees: the contract's headers, text + HTML, the gzipped log."""
    assert message["Subject"] == "[lognotify] FAILED nightly-etl (exit 3) on worker-1"
    assert message["From"] == SENDER
    assert [a.addr_spec for a in message["To"].addresses] == list(TO)
    assert message["Date"] and message["Message-ID"]
    assert message["X-Lognotify-Job"] == "nightly-etl"
    assert message["X-Lognotify-Status"] == "failure"
    assert message["X-Lognotify-Exit-Code"] == "3"
    body = message if not output else next(
        p for p in message.iter_parts() if p.get_content_type() == "multipart/alternative"
    )
    assert body.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in body.iter_parts()] == ["text/plain", "text/html"]
    assert "nightly-etl" in body.get_body(("plain",)).get_content()
    assert "nightly-etl" in body.get_body(("html",)).get_content()
    attached = list(message.iter_attachments())
    if not output:
        assert attached == []
        return
    (log,) = attached
    assert log.get_filename() == "nightly-etl-20240517T030405Z.log.gz"
    assert gzip.decompress(log.get_content()) == output


def outbox_files(outbox: Path) -> list[Path]:
    return sorted(outbox.glob("*.eml")) if outbox.exists() else []


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class HandRolled(socketserver.ThreadingTCPServer):
    """A minimal plain SMTP server for what ScriptedServer cannot do.

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
        super().__init__(("127.0.0.1", 0), _HandRolledSession)
        self.host, self.port = self.server_address[:2]


class _HandRolledSession(socketserver.StreamRequestHandler):
    server: HandRolled

    def reply(self, line: str) -> None:
        time.sleep(self.server.delay)
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


@pytest.fixture
def hand_rolled() -> Iterator[Callable[..., HandRolled]]:
    started: list[HandRolled] = []

    def start(*args: object, **kwargs: object) -> HandRolled:
        server = HandRolled(*args, **kwargs)  # type: ignore[arg-type]
        threading.Thread(target=server.serve_forever, daemon=True).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.shutdown()
        server.server_close()


# --- it arrives, once, whole -----------------------------------------------------------------


def test_report_arrives_once_through_a_plain_server(
    smtp_sink: Sink, sleeps: Sleeps, outbox: Path
) -> None:
    settings = settings_for(smtp_sink, outbox, security="none")

    delivered, _ = send_report(settings, sleeps)

    assert delivered.sent and delivered.ok and delivered.attempts == 1
    assert delivered.summary() == f"lognotify: report sent to {', '.join(TO)}"
    (arrived,) = smtp_sink.wait_for_messages(1)
    assert arrived.mail_from == SENDER
    assert arrived.rcpt_tos == list(TO)
    assert not arrived.tls
    assert_is_the_report(arrived.message)
    assert smtp_sink.connections == 1 and sleeps.calls == []


@pytest.mark.parametrize(
    ("server_fixture", "security"), [("smtp_starttls", "starttls"), ("smtp_ssl", "ssl")]
)
def test_report_arrives_over_tls_with_auth_and_the_test_ca(
    server_fixture: str,
    security: str,
    request: pytest.FixtureRequest,
    smtp_ca_file: str,
    sleeps: Sleeps,
    outbox: Path,
) -> None:
    server: BaseSMTPServer = request.getfixturevalue(server_fixture)
    settings = settings_for(
        server,
        outbox,
        security=security,
        smtp_user="user",
        smtp_password="secret",
        smtp_ca_file=smtp_ca_file,
    )

    delivered, _ = send_report(settings, sleeps)

    assert delivered.sent and delivered.attempts == 1, delivered
    (arrived,) = server.wait_for_messages(1)
    assert arrived.tls and arrived.auth_user == "user"
    assert_is_the_report(arrived.message)


def test_empty_output_arrives_without_attachment(
    smtp_sink: Sink, sleeps: Sleeps, outbox: Path
) -> None:
    delivered, _ = send_report(settings_for(smtp_sink, outbox), sleeps, output=b"")

    assert delivered.sent
    (arrived,) = smtp_sink.wait_for_messages(1)
    assert_is_the_report(arrived.message, output=b"")


def test_no_smtp_host_writes_the_report_to_the_outbox(outbox: Path, sleeps: Sleeps) -> None:
    delivered, message = send_report(settings_for(None, outbox), sleeps)

    (path,) = outbox_files(outbox)
    assert delivered.ok and not delivered.sent and delivered.outbox == str(path)
    assert str(path) in delivered.summary()
    assert path.read_bytes() == message.as_bytes()
    assert path.stat().st_mode & 0o077 == 0  # reports hold logs: only the owner reads them
    assert_is_the_report(email.message_from_bytes(path.read_bytes(), policy=email.policy.default))


def test_an_unwritable_outbox_is_reported_not_raised(tmp_path: Path, sleeps: Sleeps) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")

    delivered, _ = send_report(settings_for(None, blocker / "outbox"), sleeps)

    assert not delivered.ok and delivered.outbox is None
    assert "outbox" in (delivered.error or "")
    assert delivered.summary().startswith("lognotify: ")


def test_a_failed_delivery_with_an_unwritable_outbox_says_both(
    smtp_scripted: Scripted, tmp_path: Path, sleeps: Sleeps
) -> None:
    server = smtp_scripted(data_reply="554 5.7.1 Rejected")
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")

    delivered, _ = send_report(settings_for(server, blocker / "outbox"), sleeps)

    assert not delivered.ok and delivered.outbox is None
    assert "554 5.7.1 Rejected" in (delivered.error or "")
    assert "outbox could not be written" in (delivered.error or "")


# --- transient failures: retried, delivered once, same Message-ID ----------------------------


def test_451_on_data_is_retried_and_delivered_once(
    smtp_scripted: Scripted, sleeps: Sleeps, outbox: Path
) -> None:
    server = smtp_scripted(data_reply="451 4.3.0 Try again later", data_reply_times=1)

    delivered, message = send_report(settings_for(server, outbox), sleeps)

    assert delivered.sent and delivered.attempts == 2, delivered
    assert delivered.summary().endswith("after 2 attempts")
    assert server.data_attempts == 2
    (arrived,) = server.wait_for_messages(1)
    assert_is_the_report(arrived.message)
    ids = {d.message["Message-ID"] for d in server.received}
    assert len(server.received) == 2 and ids == {message["Message-ID"]}
    (wait,) = sleeps.calls  # exponential backoff with jitter, starting at half a second
    assert 0.5 <= wait <= 1.5


@pytest.mark.parametrize("drop_at", DROP_POINTS)
def test_a_connection_dropped_mid_session_is_retried_and_delivered_once(
    smtp_scripted: Scripted, sleeps: Sleeps, drop_at: str, outbox: Path
) -> None:
    server = smtp_scripted(drop_connections=1, drop_at=drop_at)

    delivered, message = send_report(settings_for(server, outbox), sleeps)

    assert delivered.sent and delivered.attempts == 2, delivered
    assert server.connections == 2
    (arrived,) = server.wait_for_messages(1)
    assert arrived.connection == 2
    assert_is_the_report(arrived.message)
    assert {d.message["Message-ID"] for d in server.received} == {message["Message-ID"]}
    assert len(sleeps.calls) == 1


def test_several_transient_failures_back_off_exponentially(
    smtp_scripted: Scripted, sleeps: Sleeps, outbox: Path
) -> None:
    server = smtp_scripted(data_reply="421 4.7.0 Busy", data_reply_times=3)

    delivered, _ = send_report(settings_for(server, outbox), sleeps)

    assert delivered.sent and delivered.attempts == 4
    assert len(server.wait_for_messages(1)) == 1 and server.data_attempts == 4
    assert len(sleeps.calls) == 3
    for attempt, wait in enumerate(sleeps.calls):
        assert 0.5 * 2**attempt <= wait <= 0.5 * 2**attempt + 1


def test_a_refused_recipient_is_reported_not_claimed(
    hand_rolled: Callable[..., HandRolled], sleeps: Sleeps, outbox: Path
) -> None:
    server = hand_rolled(refuse=("oncall@example.com",))

    delivered, _ = send_report(settings_for(server, outbox), sleeps)

    assert server.accepted == [["ops@example.com"]]
    assert delivered.sent and delivered.attempts == 1
    summary = delivered.summary()
    assert summary.startswith("lognotify: report sent to ops@example.com;")
    assert "oncall@example.com (550 5.1.1 No such user here)" in summary
    (kept,) = outbox_files(outbox)  # oncall@ never gets it from the server: nothing is lost
    assert summary.endswith(f"; report saved to {kept}")


def test_a_recipient_deferred_with_4xx_gets_it_at_the_next_attempt_and_only_they(
    hand_rolled: Callable[..., HandRolled], sleeps: Sleeps, outbox: Path
) -> None:
    server = hand_rolled(defer={"oncall@example.com": 1})

    delivered, message = send_report(settings_for(server, outbox), sleeps)

    assert server.accepted == [["ops@example.com"], ["oncall@example.com"]]
    assert server.message_ids == [message["Message-ID"]] * 2
    assert delivered.sent and delivered.attempts == 2 and delivered.refused == ()
    assert delivered.summary() == f"lognotify: report sent to {', '.join(TO)} after 2 attempts"
    assert outbox_files(outbox) == []


def test_a_recipient_deferred_for_good_is_reported_and_the_report_kept(
    hand_rolled: Callable[..., HandRolled], sleeps: Sleeps, outbox: Path
) -> None:
    server = hand_rolled(defer={"oncall@example.com": 1000})

    delivered, _ = send_report(settings_for(server, outbox, delivery_timeout=1), sleeps)

    assert server.accepted[0] == ["ops@example.com"] and all(
        accepted == [] for accepted in server.accepted[1:]
    )
    assert delivered.sent and delivered.destination == "ops@example.com"
    assert delivered.refused == ("oncall@example.com (451 4.7.1 Greylisted, try again later)",)
    assert len(outbox_files(outbox)) == 1


def test_a_report_taken_for_some_stays_sent_when_the_retry_for_the_others_fails(
    hand_rolled: Callable[..., HandRolled], sleeps: Sleeps, outbox: Path
) -> None:
    # ops@ takes it at once; oncall@ is deferred, and then the server goes down for good.
    going_down = ("421 4.3.2 Service shutting down",) * 1000
    server = hand_rolled(defer={"oncall@example.com": 1}, ehlo=("250 hand-rolled", *going_down))

    # (the waits are not real: delivery_timeout 5 leaves room for a second attempt whatever
    # the jitter, and the doubling waits end it after a few)
    delivered, _ = send_report(settings_for(server, outbox, delivery_timeout=5), sleeps)

    assert server.accepted == [["ops@example.com"]]
    assert delivered.sent and delivered.destination == "ops@example.com"
    assert delivered.refused == ("oncall@example.com (421 4.3.2 Service shutting down)",)
    assert len(outbox_files(outbox)) == 1


@pytest.mark.parametrize("security", ["none", "starttls"])
def test_a_4xx_reply_to_ehlo_is_retried(
    hand_rolled: Callable[..., HandRolled], sleeps: Sleeps, outbox: Path, security: str
) -> None:
    server = hand_rolled(ehlo=("421 4.3.2 Service shutting down",))

    delivered, _ = send_report(settings_for(server, outbox, security=security), sleeps)

    assert server.connections == 2
    if security == "none":
        assert delivered.sent and delivered.attempts == 2 and server.accepted == [list(TO)]
    else:  # retried; then this plain server offers no STARTTLS, and nothing goes in clear
        assert not delivered.sent and "does not offer STARTTLS" in (delivered.error or "")
        assert "2 attempts" in (delivered.error or "") and server.accepted == []


def test_a_5xx_reply_to_ehlo_is_the_reason_given_and_not_retried(
    hand_rolled: Callable[..., HandRolled], sleeps: Sleeps, outbox: Path
) -> None:
    server = hand_rolled(ehlo=("554 5.7.1 Your IP is on a blocklist",))

    delivered, _ = send_report(settings_for(server, outbox, security="starttls"), sleeps)

    assert not delivered.sent and server.connections == 1
    assert "554 5.7.1 Your IP is on a blocklist (permanent; 1 attempt)" in (delivered.error or "")


def test_a_server_that_knows_only_helo_still_takes_the_report(
    hand_rolled: Callable[..., HandRolled], sleeps: Sleeps, outbox: Path
) -> None:
    server = hand_rolled(helo_only=True)

    delivered, _ = send_report(settings_for(server, outbox, security="none"), sleeps)

    assert delivered.sent and delivered.attempts == 1 and server.accepted == [list(TO)]


def test_smtp_timeout_bounds_a_whole_attempt_not_each_reply(
    hand_rolled: Callable[..., HandRolled], sleeps: Sleeps, outbox: Path
) -> None:
    # Every reply takes 0.4 s, well within smtp_timeout 1 s; the whole session takes longer.
    server = hand_rolled(delay=0.4)
    settings = settings_for(server, outbox, smtp_timeout=1, delivery_timeout=3)

    began = time.monotonic()
    delivered, _ = send_report(settings, sleeps)

    assert not delivered.sent and "timed out" in (delivered.error or "")
    assert server.accepted == []
    assert time.monotonic() - began < 4.5


# --- permanent failures: one attempt, the server's reason, the outbox ------------------------


@pytest.mark.parametrize(
    "reply",
    ["554 5.7.1 Message rejected by policy", "552 5.3.4 Message too big for system"],
)
def test_5xx_on_data_is_not_retried(
    smtp_scripted: Scripted, sleeps: Sleeps, outbox: Path, reply: str
) -> None:
    server = smtp_scripted(data_reply=reply)

    delivered, message = send_report(settings_for(server, outbox), sleeps)

    assert not delivered.sent and not delivered.ok
    assert reply in (delivered.error or "")
    assert "1 attempt" in (delivered.error or "")
    assert server.connections == 1 and server.data_attempts == 1 and server.messages == []
    assert sleeps.calls == []
    (saved,) = outbox_files(outbox)
    assert delivered.outbox == str(saved)
    assert saved.read_bytes() == message.as_bytes()
    assert delivered.summary().startswith("lognotify: could not send the report: ")
    assert str(saved) in delivered.summary()


def test_refused_authentication_is_not_retried(
    smtp_scripted: Scripted, smtp_ca_file: str, sleeps: Sleeps, outbox: Path
) -> None:
    server = smtp_scripted(
        tls="starttls", username="user", password="secret", reject_auth_connections=ALWAYS
    )
    settings = settings_for(
        server,
        outbox,
        security="starttls",
        smtp_user="user",
        smtp_password="secret",
        smtp_ca_file=smtp_ca_file,
    )

    delivered, _ = send_report(settings, sleeps)

    assert not delivered.sent
    assert "535" in (delivered.error or "")
    assert "secret" not in delivered.summary()
    # one connection; smtplib tries each offered mechanism once (PLAIN, LOGIN), no more
    assert server.connections == 1 and 1 <= server.auth_attempts <= 2
    assert server.received == [] and sleeps.calls == []


# --- nothing hangs ---------------------------------------------------------------------------


FAULTS = {"never greets": "no_greeting_connections", "stalls after DATA": "stall_data_times"}


@pytest.mark.parametrize("fault", FAULTS)
def test_a_silent_server_once_costs_one_smtp_timeout(
    fault: str, smtp_scripted: Scripted, sleeps: Sleeps, outbox: Path
) -> None:
    server = smtp_scripted(**{FAULTS[fault]: 1})
    settings = settings_for(server, outbox, smtp_timeout=1, delivery_timeout=30)

    start = time.monotonic()
    delivered, _ = send_report(settings, sleeps)
    elapsed = time.monotonic() - start

    assert delivered.sent and delivered.attempts == 2, delivered
    assert 0.9 <= elapsed < 4
    assert len(server.wait_for_messages(1)) == 1


@pytest.mark.parametrize("fault", FAULTS)
def test_a_server_that_stays_silent_is_abandoned_at_the_delivery_timeout(
    fault: str, smtp_scripted: Scripted, sleeps: Sleeps, outbox: Path
) -> None:
    server = smtp_scripted(**{FAULTS[fault]: ALWAYS})
    settings = settings_for(server, outbox, smtp_timeout=30, delivery_timeout=1.5)

    start = time.monotonic()
    delivered, _ = send_report(settings, sleeps)
    elapsed = time.monotonic() - start

    assert not delivered.sent
    assert "timed out" in (delivered.error or "")
    assert 1.4 <= elapsed < 5
    assert server.messages == [] and len(outbox_files(outbox)) == 1


def test_a_slow_server_is_abandoned_at_the_delivery_timeout(
    hand_rolled: Callable[..., HandRolled], sleeps: Sleeps, outbox: Path
) -> None:
    # greeting, EHLO, MAIL, two RCPT, DATA, the body: 7 replies of 0.5 s, each within
    # smtp_timeout, together well past delivery_timeout
    tarpit = hand_rolled(delay=0.5)
    settings = settings_for(tarpit, outbox, smtp_timeout=1, delivery_timeout=1.5)
    message = report_message(settings)

    start = time.monotonic()
    delivered = deliver(message, settings, sleep=sleeps)
    elapsed = time.monotonic() - start

    assert elapsed < 1.5 + 1  # unbounded, the attempt would take 7 x 0.5 s and succeed
    assert not delivered.sent and tarpit.accepted == []
    assert "timed out" in (delivered.error or "")
    assert len(outbox_files(outbox)) == 1


# --- TLS is never given up -------------------------------------------------------------------


def test_an_untrusted_certificate_is_refused_and_not_retried(
    smtp_starttls_untrusted: BaseSMTPServer, sleeps: Sleeps, outbox: Path
) -> None:
    server = smtp_starttls_untrusted
    settings = settings_for(
        server,
        outbox,
        security="starttls",
        smtp_user="user",
        smtp_password="secret",
        smtp_ca_file=server.ca_file,
    )

    delivered, _ = send_report(settings, sleeps)

    assert not delivered.sent
    assert "certificate" in (delivered.error or "")
    assert server.connections == 1 and server.auth_attempts == 0
    assert server.received == [] and sleeps.calls == []


def test_an_untrusted_certificate_is_refused_over_implicit_tls(
    smtp_scripted: Scripted, smtp_ca_file: str, sleeps: Sleeps, outbox: Path
) -> None:
    server = smtp_scripted(tls="implicit", untrusted=True)
    settings = settings_for(server, outbox, security="ssl", smtp_ca_file=smtp_ca_file)

    delivered, _ = send_report(settings, sleeps)

    assert not delivered.sent
    assert "certificate" in (delivered.error or "")
    assert server.received == [] and sleeps.calls == []


def test_starttls_required_but_not_offered_never_falls_back_to_plain_text(
    smtp_sink: Sink, sleeps: Sleeps, outbox: Path
) -> None:
    delivered, _ = send_report(settings_for(smtp_sink, outbox, security="starttls"), sleeps)

    assert not delivered.sent
    assert "STARTTLS" in (delivered.error or "")
    assert smtp_sink.received == [] and smtp_sink.data_attempts == 0
    assert smtp_sink.connections == 1 and sleeps.calls == []


def test_implicit_tls_against_a_plain_server_never_falls_back_to_plain_text(
    smtp_sink: Sink, sleeps: Sleeps, outbox: Path
) -> None:
    delivered, _ = send_report(settings_for(smtp_sink, outbox, security="ssl"), sleeps)

    assert not delivered.sent
    assert smtp_sink.received == [] and smtp_sink.data_attempts == 0


def test_credentials_are_never_sent_over_a_plain_connection(
    smtp_scripted: Scripted, sleeps: Sleeps, outbox: Path
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
    settings = Settings(to=TO, sender=SENDER, job_name="nightly-etl", smtp=smtp, outbox=str(outbox))

    delivered, _ = send_report(settings, sleeps)

    assert not delivered.sent
    assert "unencrypted" in (delivered.error or "")
    assert "hunter2-secret" not in delivered.summary()
    assert server.auth_attempts == 0 and server.received == []
    assert sleeps.calls == []
    (saved,) = outbox_files(outbox)
    assert b"hunter2-secret" not in saved.read_bytes()


def test_connection_refused_is_retried_until_the_delivery_timeout(outbox: Path) -> None:
    # Real waiting (a refused connection fails at once, so a fake sleep would only spin);
    # the CLI version of this case is in test_cli_delivery.
    port = closed_port()
    settings = settings_for(
        None, outbox, smtp_host="127.0.0.1", smtp_port=port, delivery_timeout=1.2
    )

    start = time.monotonic()
    delivered, _ = send_report(settings, time.sleep)
    elapsed = time.monotonic() - start

    assert not delivered.sent
    assert "connection refused" in (delivered.error or "")
    assert "transient" in (delivered.error or "")
    assert elapsed < 1.2 + 1
    assert len(outbox_files(outbox)) == 1
