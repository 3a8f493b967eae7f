"""--test-email: a sample report through the current settings; 0 when a server took it and
every custom template rendered, else 1, and each failed attempt told as it happens."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import pytest
from helpers import closed_port, outbox_messages, text_body, the_mail
from smtp_servers import ScriptedServer, Sink

from lognotify.console import Console
from lognotify.settings import Settings, load_settings
from lognotify.testmail import send_test_email

pytestmark = pytest.mark.timeout(30)


def settings_for(tmp_path: Path, server: object | None = None, **given: object) -> Settings:
    values: dict[str, object] = {
        "outbox": str(tmp_path / "outbox"),
        "to": "ops@example.com",
        "sender": "etl@example.com",
        "smtp_security": "none",
    }
    if server is not None:
        values.update(smtp_host=server.host, smtp_port=server.port)  # type: ignore[attr-defined]
    values.update(given)
    return load_settings(values, {})


def test_the_sample_arrives_and_the_test_passed(tmp_path: Path, smtp_sink: Sink) -> None:
    said = io.StringIO()
    assert send_test_email(settings_for(tmp_path, smtp_sink), Console(said)) == 0
    message = the_mail(smtp_sink)
    assert message["X-Lognotify-Status"] == "test"
    assert message["X-Lognotify-Reason"] == "test"
    assert message["X-Lognotify-Exit-Code"] == "0"
    assert message["Subject"].startswith("[lognotify] TEST lognotify-test (test) on ")
    text = text_body(message)
    assert "if you can read it, mail delivery works" in text
    assert "2 !| ERROR: a line that looks like an error is shown first and highlighted." in text
    assert "3  : A line written to stderr is marked as such." in text
    assert said.getvalue() == "lognotify: report sent to ops@example.com\n"


def test_a_refusal_is_exit_1_with_the_servers_reason(
    tmp_path: Path, smtp_scripted: Callable[..., ScriptedServer]
) -> None:
    server = smtp_scripted(data_reply="554 5.7.1 Relaying denied")
    said = io.StringIO()
    assert send_test_email(settings_for(tmp_path, server), Console(said)) == 1
    (line,) = [line for line in said.getvalue().splitlines() if "could not send" in line]
    assert "554 5.7.1 Relaying denied (permanent; 1 attempt)" in line


def test_each_failed_attempt_is_told_as_it_happens(tmp_path: Path) -> None:
    said = io.StringIO()
    settings = settings_for(
        tmp_path, smtp_host="127.0.0.1", smtp_port=closed_port(), delivery_timeout=1.5
    )
    assert send_test_email(settings, Console(said)) == 1
    lines = said.getvalue().splitlines()
    retries = [line for line in lines if line.startswith("lognotify: attempt ")]
    assert retries
    assert retries[0] == "lognotify: attempt 1 failed: connection refused; trying again"
    assert lines.index(retries[-1]) < lines.index(
        next(line for line in lines if "could not send" in line)
    )


def test_a_custom_template_that_failed_is_exit_1_even_when_the_mail_went_out(
    tmp_path: Path, smtp_sink: Sink
) -> None:
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "body.txt.j2").write_text("{{ no_such_variable }}")
    said = io.StringIO()
    settings = settings_for(tmp_path, smtp_sink, template_dir=str(templates))
    assert send_test_email(settings, Console(said)) == 1
    assert len(smtp_sink.messages) == 1  # the built-in one went out
    lines = said.getvalue().splitlines()
    assert lines[-1].startswith(
        "lognotify: a custom template failed, so the built-in one was used: body.txt.j2: "
        "UndefinedError"
    )


def test_without_an_smtp_host_the_sample_is_kept_and_the_test_failed(tmp_path: Path) -> None:
    said = io.StringIO()
    assert send_test_email(settings_for(tmp_path), Console(said)) == 1
    (message,) = outbox_messages(tmp_path / "outbox")
    assert message["X-Lognotify-Status"] == "test"
    assert "no SMTP host set" in said.getvalue()


def test_a_dry_run_prints_the_sample_and_is_exit_0(
    tmp_path: Path, smtp_sink: Sink, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    assert (
        send_test_email(settings_for(tmp_path, smtp_sink), Console(io.StringIO()), dry_run="text")
        == 0
    )
    out = capsysbinary.readouterr().out
    assert b"\nX-Lognotify-Status: test\n" in out
    assert smtp_sink.connections == 0
