"""The one retry policy: what is worth another attempt, how long to wait, when to stop, and the
reason as the server or the system gave it. Pure: no network, no real waiting."""

from __future__ import annotations

import errno
import smtplib
import socket
import ssl

import pytest

from lognotify.delivery.policy import describe, is_transient, refusals, reply_text, retrying


def cert_error() -> ssl.SSLCertVerificationError:
    error = ssl.SSLCertVerificationError(1, "certificate verify failed")
    error.verify_message = "self-signed certificate in chain"
    return error


TRANSIENT = {
    "connection refused": ConnectionRefusedError(errno.ECONNREFUSED, "refused"),
    "connection reset": ConnectionResetError(errno.ECONNRESET, "reset"),
    "timeout": TimeoutError("timed out"),
    "socket timeout": TimeoutError("timed out"),
    "no route to host": OSError(errno.EHOSTUNREACH, "No route to host"),
    "name not resolved (for now)": socket.gaierror(socket.EAI_AGAIN, "Temporary failure"),
    "dropped connection": smtplib.SMTPServerDisconnected("Connection unexpectedly closed"),
    "dropped during the TLS handshake": ssl.SSLEOFError(8, "EOF occurred in violation"),
    "421": smtplib.SMTPResponseException(421, b"4.3.2 Service shutting down"),
    "451 on DATA": smtplib.SMTPDataError(451, b"4.3.0 Try again later"),
    "every recipient deferred": smtplib.SMTPRecipientsRefused({"a@x": (451, b"greylisted")}),
}
PERMANENT = {
    "554 on DATA": smtplib.SMTPDataError(554, b"5.7.1 Rejected"),
    "authentication refused": smtplib.SMTPAuthenticationError(535, b"5.7.8 bad credentials"),
    "untrusted certificate": cert_error(),
    "other TLS failure": ssl.SSLError(1, "wrong version number"),
    "no STARTTLS": smtplib.SMTPNotSupportedError("the server does not offer STARTTLS"),
    "a recipient refused for good": smtplib.SMTPRecipientsRefused(
        {"a@x": (451, b"later"), "b@x": (550, b"no such user")}
    ),
    "no recipients at all": smtplib.SMTPRecipientsRefused({}),
    "permission denied": PermissionError(errno.EACCES, "Permission denied"),
    "a bug of ours": ValueError("not an SMTP problem"),
}


@pytest.mark.parametrize("error", TRANSIENT.values(), ids=TRANSIENT.keys())
def test_what_may_work_next_time_is_transient(error: BaseException) -> None:
    assert is_transient(error)


@pytest.mark.parametrize("error", PERMANENT.values(), ids=PERMANENT.keys())
def test_what_will_fail_again_is_permanent(error: BaseException) -> None:
    assert not is_transient(error)


@pytest.mark.parametrize(
    ("error", "words"),
    [
        (cert_error(), "certificate verification failed: self-signed certificate in chain"),
        (smtplib.SMTPDataError(554, b"5.7.1  Rejected\r\n now"), "554 5.7.1 Rejected now"),
        (ConnectionRefusedError(errno.ECONNREFUSED, "x"), "connection refused"),
        (TimeoutError("smtp_timeout reached"), "timed out (smtp_timeout reached)"),
        (TimeoutError(), "timed out"),
        (
            socket.gaierror(socket.EAI_NONAME, "Name or service not known"),
            "cannot resolve the host: Name or service not known",
        ),
        (
            smtplib.SMTPRecipientsRefused({"a@x": (550, b"no such user")}),
            "all recipients refused: a@x (550 no such user)",
        ),
        (RuntimeError(), "RuntimeError"),
    ],
)
def test_the_reason_is_worded_as_the_server_or_the_system_gave_it(
    error: BaseException, words: str
) -> None:
    assert describe(error) == words


def test_a_disconnection_caused_by_a_timeout_says_timed_out() -> None:
    try:
        try:
            raise TimeoutError("read")
        except TimeoutError:
            raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed")  # noqa: B904
    except smtplib.SMTPServerDisconnected as exc:
        after_timeout = exc
    plain = smtplib.SMTPServerDisconnected("Connection unexpectedly closed")
    assert describe(plain) == "Connection unexpectedly closed"
    assert describe(after_timeout) == "timed out waiting for the server's reply"


def test_refusals_and_replies_read_on_one_line() -> None:
    refused = {"a@x": (550, b"5.1.1 No such\r\n user"), "b@x": (0, b"timed out")}
    assert refusals(refused) == ("a@x (550 5.1.1 No such user)", "b@x (timed out)")
    assert reply_text("  multi\n line\t reply ") == "multi line reply"
    assert reply_text(b"caf\xc3\xa9 \xff") == "café \ufffd"


class Clock:
    """A fake clock: the seconds tenacity sleeps, added up; time moves only when it sleeps."""

    def __init__(self) -> None:
        self.waits: list[float] = []
        self.now = 1000.0

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds

    def time(self) -> float:
        return self.now

    def within(self, seconds: float, **options: object) -> object:
        """The policy, with ``seconds`` left on this clock."""
        return retrying(self.now + seconds, clock=self.time, sleep=self.sleep, **options)  # type: ignore[arg-type]


def test_transient_failures_are_retried_with_exponential_backoff_and_jitter() -> None:
    clock = Clock()
    calls: list[int] = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 5:
            raise ConnectionResetError(errno.ECONNRESET, "reset")
        return "sent"

    assert clock.within(60)(flaky) == "sent"
    assert len(calls) == 5
    for attempt, wait in enumerate(clock.waits):
        assert 0.5 * 2**attempt <= wait <= 0.5 * 2**attempt + 1


def test_waits_are_capped_at_ten_seconds_and_a_second_of_jitter() -> None:
    clock = Clock()
    calls: list[int] = []

    def flaky() -> None:
        calls.append(1)
        if len(calls) < 12:
            raise TimeoutError("slow")

    clock.within(600)(flaky)
    assert max(clock.waits) <= 11
    assert min(clock.waits[6:]) >= 10


def test_a_permanent_failure_is_raised_at_once_as_it_is() -> None:
    clock = Clock()
    error = smtplib.SMTPDataError(554, b"no")

    def rejected() -> None:
        raise error

    with pytest.raises(smtplib.SMTPDataError) as caught:
        clock.within(60)(rejected)
    assert caught.value is error
    assert clock.waits == []


def test_each_failed_attempt_that_will_be_retried_is_told() -> None:
    told: list[tuple[int, str]] = []
    calls: list[int] = []

    def flaky() -> None:
        calls.append(1)
        if len(calls) < 3:
            raise ConnectionRefusedError(errno.ECONNREFUSED, f"refused {len(calls)}")

    Clock().within(60, on_retry=lambda n, e: told.append((n, str(e))))(flaky)
    assert told == [(1, "[Errno 111] refused 1"), (2, "[Errno 111] refused 2")]


def test_no_attempt_is_started_that_would_end_past_the_delivery_timeout() -> None:
    # delivery_timeout 1 s: the first wait (0.5 s or more, plus jitter) may fit, the doubling
    # ones soon cannot; the last error is raised as it is.
    calls: list[int] = []

    def refused() -> None:
        calls.append(1)
        raise ConnectionRefusedError(errno.ECONNREFUSED, "refused")

    with pytest.raises(ConnectionRefusedError):
        Clock().within(1)(refused)
    assert 1 <= len(calls) <= 3
