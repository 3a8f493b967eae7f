"""deliver(): the report to the SMTP server, or to the outbox when there is none or no luck;
what it returns says what happened, and it never raises for a delivery problem.

The connection itself (TLS, retries, timeouts) is tested in test_smtp.py, the retry policy in
test_policy.py and the outbox's folders in test_outbox.py.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path

import pytest
from helpers import Sleeps, outbox_messages, parse, report_message
from smtp_servers import HandRolled, ScriptedServer, Sink

from lognotify.delivery import Delivered, deliver
from lognotify.settings import Settings, load_settings

pytestmark = [pytest.mark.timeout(30), pytest.mark.filterwarnings("error")]

Scripted = Callable[..., ScriptedServer]
Rolled = Callable[..., HandRolled]
TO = ("ops@example.com", "oncall@example.com")


def settings_for(server: object | None, outbox: Path, **overrides: object) -> Settings:
    given: dict[str, object] = {
        "to": ",".join(TO),
        "sender": "lognotify@example.com",
        "job_name": "nightly-etl",
        "smtp_security": "none",
        "smtp_timeout": 5,
        "delivery_timeout": 20,
        "outbox": str(outbox),  # also where a report that could not be sent is kept
    }
    if server is not None:
        given.update(smtp_host=server.host, smtp_port=server.port)  # type: ignore[attr-defined]
    given.update(overrides)
    return load_settings(given, {})


def send_report(settings: Settings, sleeps: Sleeps) -> tuple[Delivered, EmailMessage]:
    message = report_message(settings, b"loading batch 42\nboom\n")
    return deliver(message, settings, sleep=sleeps), message


def outbox_files(outbox: Path) -> list[Path]:
    return sorted(outbox.glob("*.eml")) if outbox.exists() else []


def test_a_report_the_server_takes_is_sent_and_said_so(
    smtp_sink: Sink, sleeps: Sleeps, outbox: Path
) -> None:
    delivered, message = send_report(settings_for(smtp_sink, outbox), sleeps)

    assert delivered.sent
    assert delivered.ok
    assert delivered.attempts == 1
    assert delivered.message_id == message["Message-ID"]
    # The console adds the "lognotify: " of every line now; the summary is the words alone.
    assert delivered.summary() == f"report sent to {', '.join(TO)}"
    (arrived,) = smtp_sink.wait_for_messages(1)
    assert arrived.message["Message-ID"] == message["Message-ID"]
    assert outbox_files(outbox) == []


def test_no_smtp_host_writes_the_report_to_the_outbox(outbox: Path, sleeps: Sleeps) -> None:
    delivered, message = send_report(settings_for(None, outbox), sleeps)

    (path,) = outbox_files(outbox)
    assert delivered.ok
    assert not delivered.sent
    assert delivered.outbox == str(path)
    assert delivered.destination == "outbox"
    assert delivered.summary() == (
        f"no SMTP host set (LOGNOTIFY_SMTP_HOST); report written to {path}"
    )
    assert path.read_bytes() == message.as_bytes()
    assert path.stat().st_mode & 0o077 == 0  # reports hold logs: only the owner reads them
    assert parse(path.read_bytes())["X-Lognotify-Job"] == "nightly-etl"


def test_an_unwritable_outbox_is_reported_not_raised(
    tmp_path: Path, sleeps: Sleeps, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    # even the private fallback folder cannot be made: the temp directory is a file too
    monkeypatch.setattr(tempfile, "tempdir", str(blocker))

    delivered, _ = send_report(settings_for(None, blocker / "outbox"), sleeps)

    assert not delivered.ok
    assert delivered.outbox is None
    assert "the outbox could not be written" in (delivered.error or "")
    assert delivered.summary().startswith("could not send the report: no SMTP host set")


def test_an_outbox_that_cannot_be_used_falls_back_to_a_private_folder(
    tmp_path: Path, sleeps: Sleeps, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # the fallback lands in the test's

    delivered, _ = send_report(settings_for(None, blocker / "outbox"), sleeps)

    assert delivered.ok
    assert delivered.outbox is not None
    saved = Path(delivered.outbox)
    assert saved.parent.parent == tmp_path
    assert saved.parent.name.startswith("lognotify-outbox-")
    assert saved.parent.stat().st_mode & 0o777 == 0o700


def test_a_failed_delivery_keeps_the_report_in_the_outbox_and_says_why(
    smtp_scripted: Scripted, sleeps: Sleeps, outbox: Path
) -> None:
    server = smtp_scripted(data_reply="554 5.7.1 Message rejected by policy")

    delivered, message = send_report(settings_for(server, outbox), sleeps)

    assert not delivered.sent
    assert not delivered.ok
    (saved,) = outbox_files(outbox)
    assert delivered.outbox == str(saved)
    assert saved.read_bytes() == message.as_bytes()
    assert delivered.error == (
        f"127.0.0.1:{server.port}: 554 5.7.1 Message rejected by policy (permanent; 1 attempt)"
    )
    assert delivered.summary() == f"could not send the report: {delivered.error}; " + (
        f"report saved to {saved}"
    )


def test_a_failed_delivery_with_an_unwritable_outbox_says_both(
    smtp_scripted: Scripted, tmp_path: Path, sleeps: Sleeps, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = smtp_scripted(data_reply="554 5.7.1 Rejected")
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    monkeypatch.setattr(tempfile, "tempdir", str(blocker))

    delivered, _ = send_report(settings_for(server, blocker / "outbox"), sleeps)

    assert not delivered.ok
    assert delivered.outbox is None
    assert "554 5.7.1 Rejected" in (delivered.error or "")
    assert "the outbox could not be written either" in (delivered.error or "")


def test_a_refused_recipient_is_reported_not_claimed_and_the_report_kept(
    hand_rolled: Rolled, sleeps: Sleeps, outbox: Path
) -> None:
    server = hand_rolled(refuse=("oncall@example.com",))

    delivered, _ = send_report(settings_for(server, outbox), sleeps)

    assert server.accepted == [["ops@example.com"]]
    assert delivered.sent
    assert delivered.destination == "ops@example.com"
    assert delivered.refused == ("oncall@example.com (550 5.1.1 No such user here)",)
    (kept,) = outbox_files(outbox)  # oncall@ never gets it from the server: nothing is lost
    assert delivered.summary() == (
        "report sent to ops@example.com; refused by the server: "
        f"oncall@example.com (550 5.1.1 No such user here); report saved to {kept}"
    )


def test_a_recipient_deferred_once_gets_it_and_nothing_is_kept(
    hand_rolled: Rolled, sleeps: Sleeps, outbox: Path
) -> None:
    server = hand_rolled(defer={"oncall@example.com": 1})

    delivered, _ = send_report(settings_for(server, outbox), sleeps)

    assert delivered.sent
    assert delivered.refused == ()
    assert delivered.summary() == f"report sent to {', '.join(TO)} after 2 attempts"
    assert outbox_files(outbox) == []


def test_a_recipient_deferred_for_good_is_reported_and_the_report_kept(
    hand_rolled: Rolled, sleeps: Sleeps, outbox: Path
) -> None:
    server = hand_rolled(defer={"oncall@example.com": 1000})

    delivered, _ = send_report(settings_for(server, outbox, delivery_timeout=1), sleeps)

    assert delivered.sent
    assert delivered.destination == "ops@example.com"
    assert delivered.refused == ("oncall@example.com (451 4.7.1 Greylisted, try again later)",)
    assert len(outbox_files(outbox)) == 1


def test_the_password_is_never_in_what_deliver_says(
    smtp_scripted: Scripted, smtp_ca_file: str, sleeps: Sleeps, outbox: Path
) -> None:
    server = smtp_scripted(
        tls="starttls", username="user", password="right-one", reject_auth_connections=1000
    )
    settings = settings_for(
        server,
        outbox,
        smtp_security="starttls",
        smtp_user="user",
        smtp_password="hunter2-secret",
        smtp_ca_file=smtp_ca_file,
    )

    delivered, _ = send_report(settings, sleeps)

    assert not delivered.sent
    assert "535" in (delivered.error or "")
    assert "hunter2-secret" not in delivered.summary()
    assert "hunter2-secret" not in repr(settings)
    (saved,) = outbox_messages(outbox)
    assert b"hunter2-secret" not in saved.as_bytes()
