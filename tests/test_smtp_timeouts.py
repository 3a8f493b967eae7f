"""smtp.send(): nothing hangs. Every attempt ends within smtp_timeout and all of them within
delivery_timeout, whatever the server does: says nothing, stalls after DATA, answers slowly,
trickles its replies, or refuses the connection."""

from __future__ import annotations

import gc
import time
import warnings
from collections.abc import Callable

import pytest
from helpers import (
    Sleeps,
    closed_port,
    report_message,
    smtp_refusal,
    smtp_send,
    smtp_settings,
)
from smtp_servers import ALWAYS, HandRolled, ScriptedServer, Sink, Trickle

from lognotify.delivery.smtp import send
from lognotify.errors import DeliveryError
from lognotify.settings import load_settings

pytestmark = [pytest.mark.timeout(30), pytest.mark.filterwarnings("error")]

Scripted = Callable[..., ScriptedServer]
Rolled = Callable[..., HandRolled]
TO = ("ops@example.com", "oncall@example.com")
SENDER = "lognotify@example.com"


FAULTS = {"never greets": "no_greeting_connections", "stalls after DATA": "stall_data_times"}


@pytest.mark.parametrize("fault", FAULTS)
def test_a_silent_server_once_costs_one_smtp_timeout(
    fault: str, smtp_scripted: Scripted, sleeps: Sleeps
) -> None:
    server = smtp_scripted(**{FAULTS[fault]: 1})
    settings = smtp_settings(server, smtp_timeout=1, delivery_timeout=30)

    start = time.monotonic()
    attempts, _, _ = smtp_send(settings, sleeps)
    elapsed = time.monotonic() - start

    assert attempts == 2
    assert 0.9 <= elapsed < 4
    assert len(server.wait_for_messages(1)) == 1


@pytest.mark.parametrize("fault", FAULTS)
def test_a_server_that_stays_silent_is_abandoned_at_the_delivery_timeout(
    fault: str, smtp_scripted: Scripted, sleeps: Sleeps
) -> None:
    server = smtp_scripted(**{FAULTS[fault]: ALWAYS})
    settings = smtp_settings(server, smtp_timeout=30, delivery_timeout=1.5)

    start = time.monotonic()
    reason = smtp_refusal(settings, sleeps)
    elapsed = time.monotonic() - start

    assert "timed out" in reason
    assert 1.4 <= elapsed < 5
    assert server.messages == []


def test_smtp_timeout_bounds_a_whole_attempt_not_each_reply(
    hand_rolled: Rolled, sleeps: Sleeps
) -> None:
    # Every reply takes 0.4 s, well within smtp_timeout 1 s; the whole session takes longer.
    server = hand_rolled(delay=0.4)
    settings = smtp_settings(server, smtp_timeout=1, delivery_timeout=3)

    began = time.monotonic()
    reason = smtp_refusal(settings, sleeps)

    assert "timed out" in reason
    assert server.accepted == []
    assert time.monotonic() - began < 4.5


def test_a_slow_server_is_abandoned_at_the_delivery_timeout(
    hand_rolled: Rolled, sleeps: Sleeps
) -> None:
    # greeting, EHLO, MAIL, two RCPT, DATA, the body: 7 replies of 0.5 s, each within
    # smtp_timeout, together well past delivery_timeout
    tarpit = hand_rolled(delay=0.5)
    settings = smtp_settings(tarpit, smtp_timeout=1, delivery_timeout=1.5)

    start = time.monotonic()
    reason = smtp_refusal(settings, sleeps)
    elapsed = time.monotonic() - start

    assert elapsed < 1.5 + 1  # unbounded, the attempt would take 7 x 0.5 s and succeed
    assert tarpit.accepted == []
    assert "timed out" in reason


def test_a_server_trickling_its_greeting_cannot_stretch_an_attempt(sleeps: Sleeps) -> None:
    # Each read succeeds well within smtp_timeout, but the greeting never ends: the reply as a
    # whole must be bounded, and all attempts by delivery_timeout.
    with Trickle(interval=0.2) as trickle:
        settings = smtp_settings(trickle, smtp_timeout=1, delivery_timeout=2.5)
        start = time.monotonic()
        reason = smtp_refusal(settings, sleeps)
    assert time.monotonic() - start < 2.5 + 1
    assert "timed out" in reason or "no complete reply" in reason


def test_connection_refused_is_retried_until_the_delivery_timeout() -> None:
    # Real waiting (a refused connection fails at once, so a fake sleep would only spin);
    # the CLI version of this case is in test_cli_delivery.
    settings = load_settings(
        {
            "to": ",".join(TO),
            "smtp_host": "127.0.0.1",
            "smtp_port": closed_port(),
            "smtp_security": "none",
            "delivery_timeout": 1.2,
        },
        {},
    )

    start = time.monotonic()
    reason = smtp_refusal(settings, time.sleep)
    elapsed = time.monotonic() - start

    assert "connection refused" in reason
    assert "transient" in reason
    assert elapsed < 1.2 + 1


def test_each_failed_attempt_is_told_as_it_happens(smtp_scripted: Scripted, sleeps: Sleeps) -> None:
    server = smtp_scripted(data_reply="451 4.3.0 Try again later", data_reply_times=2)
    told: list[tuple[int, str]] = []
    settings = smtp_settings(server)
    message = report_message(settings)

    send(
        message,
        settings.smtp,
        sender=SENDER,
        recipients=TO,
        sleep=sleeps,
        on_retry=lambda attempt, error: told.append((attempt, str(error))),
    )

    assert [attempt for attempt, _ in told] == [1, 2]
    assert all("Try again later" in error for _, error in told)


def test_an_injected_clock_and_sleep_that_agree_end_the_retries_at_the_deadline(
    smtp_scripted: Scripted,
) -> None:
    # Every attempt gets a 451. With a fake sleep that moves a fake clock on, the backoffs
    # (0.5, 1, 2, 4, 8 s and up to 1 s of jitter each) pass delivery_timeout 12 s after 5
    # attempts at most: the policy must stop by that clock, as each attempt's own deadline
    # does, not go on with attempts that fail at once until 12 s of real time have passed.
    server = smtp_scripted(data_reply="451 4.3.0 Try again later")
    settings = smtp_settings(server, delivery_timeout=12)
    now = [0.0]
    retried: list[int] = []

    def sleep(seconds: float) -> None:
        now[0] += seconds

    def on_retry(attempt: int, error: BaseException) -> None:
        retried.append(attempt)
        if len(retried) > 6:  # stop the spin here: the test has seen enough
            raise RuntimeError(f"still retrying at {now[0]:.1f} s: {error}")

    with pytest.raises(DeliveryError) as caught:
        send(
            report_message(settings),
            settings.smtp,
            sender=SENDER,
            recipients=TO,
            sleep=sleep,
            clock=lambda: now[0],
            on_retry=on_retry,
        )
    assert len(retried) <= 5, str(caught.value)
    assert server.data_attempts <= 5


def test_a_connection_whose_time_runs_out_before_the_greeting_is_closed(
    smtp_sink: Sink, sleeps: Sleeps
) -> None:
    # The clock reads 0 for the deadline, the attempt's end and the connect, then 100: the
    # time is up when the greeting is awaited. The socket just made must be closed then,
    # not left for the garbage collector (a ResourceWarning, an fd held meanwhile).
    settings = smtp_settings(smtp_sink, delivery_timeout=1)
    ticks = iter([0.0, 0.0, 0.0])
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        with pytest.raises(DeliveryError, match="reached"):
            send(
                report_message(settings),
                settings.smtp,
                sender=SENDER,
                recipients=TO,
                sleep=sleeps,
                clock=lambda: next(ticks, 100.0),
            )
        gc.collect()
    leaks = [str(w.message) for w in seen if issubclass(w.category, ResourceWarning)]
    assert leaks == []
