"""``lognotify --test-email``: a sample report through the current settings, as a check."""

from __future__ import annotations

import time

from lognotify import exits
from lognotify.capture import STDERR, Capture
from lognotify.notify import notify
from lognotify.outcome import RunResult, test_reason

TYPE_CHECKING = False
if TYPE_CHECKING:
    from lognotify.console import Console
    from lognotify.settings.model import Settings


def send_test_email(settings: Settings, console: Console, *, dry_run: object = None) -> int:
    """Send the sample; 0 when a server took it and every custom template rendered, else 1.

    Each failed attempt is told as it happens, so a refused port is not 60 silent seconds.
    """
    from lognotify.delivery.policy import describe

    now = time.time()
    sample = Capture()
    sample.append(b"This is what the output of a job looks like in a report.\n")
    sample.append(b"ERROR: a line that looks like an error is shown first and highlighted.\n")
    sample.append(b"A line written to stderr is marked as such.\n", STDERR)
    result = RunResult(
        mode="test",
        command="lognotify --test-email",
        program="lognotify-test",
        exit_code=0,
        reason=test_reason(),
        started=now,
        ended=now,
        output=sample.snapshot(),
    )

    def retrying(attempt: int, error: BaseException) -> None:
        console.warn(f"attempt {attempt} failed: {describe(error)}; trying again")

    notified = notify(
        result,
        settings,
        console,
        status="test",
        on_retry=retrying,
        dry_run=dry_run if isinstance(dry_run, str) else None,
    )
    for error in notified.template_errors:
        console.warn(f"a custom template failed, so the built-in one was used: {error}")
    if notified.template_errors:
        return exits.TEST_FAILED
    if dry_run:
        return exits.OK
    sent = notified.delivered is not None and notified.delivered.sent
    return exits.OK if sent else exits.TEST_FAILED
