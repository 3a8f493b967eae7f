"""Every setting through its flag, seen in the mail that arrives; flags beat the environment."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
from helpers import clean_env, outbox_messages, run, text_body


@pytest.fixture
def sink_args(smtp_sink: object) -> list[str]:
    return [
        "--smtp-host",
        "127.0.0.1",
        "--smtp-port",
        str(smtp_sink.port),  # type: ignore[attr-defined]
        "--smtp-security",
        "none",
        "--to",
        "ops@example.com",
    ]


def test_addressing_flags(smtp_sink: object, sink_args: list[str]) -> None:
    done = run(
        [
            *sink_args,
            "--to",
            "dev@example.com,lead@example.com",
            "--from",
            "Batch <batch@example.com>",
            "--job-name",
            "flagged",
            "--subject",
            "{{ job }}: {{ short_reason }}",
            "--",
            "false",
        ],
        clean_env(LOGNOTIFY_JOB_NAME="from-env", LOGNOTIFY_FROM="env@example.com"),
    )
    assert done.returncode == 1, done.stderr
    (delivery,) = smtp_sink.wait_for_messages(1, timeout=10)  # type: ignore[attr-defined]
    assert sorted(delivery.rcpt_tos) == ["dev@example.com", "lead@example.com", "ops@example.com"]
    assert delivery.mail_from == "batch@example.com"
    message = delivery.message
    assert message["From"] == "Batch <batch@example.com>"
    assert message["X-Lognotify-Job"] == "flagged"
    assert message["Subject"] == "flagged: exit 1"


def test_content_flags(tmp_path: Path, smtp_sink: object, sink_args: list[str]) -> None:
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "body.txt.j2").write_text("custom: {{ output.omitted }}")
    job = "echo 'api=tok_abc123'; i=0; while [ $i -lt 500 ]; do echo line $i; i=$((i+1)); done"
    job += "; exit 2"
    done = run(
        [
            *sink_args,
            "--redact",
            "tok_[a-z0-9]+",
            "--max-bytes",
            "2K",
            "--template-dir",
            str(templates),
            "--notify-on",
            "failure",
            "--",
            "sh",
            "-c",
            job,
        ],
        clean_env(),
    )
    assert done.returncode == 2
    (delivery,) = smtp_sink.wait_for_messages(1, timeout=10)  # type: ignore[attr-defined]
    assert text_body(delivery.message).startswith("custom: [... ")
    (part,) = list(delivery.message.iter_attachments())
    log = gzip.decompress(part.get_content())
    assert log.startswith(b"api=[REDACTED]\n")
    assert len(log) < 2048 + 100


def test_delivery_flags_are_taken(tmp_path: Path) -> None:
    outbox = tmp_path / "box"
    done = run(
        [
            "--smtp-host",
            "127.0.0.1",
            "--smtp-port",
            "1",
            "--smtp-security",
            "none",
            "--to",
            "a@example.com",
            "--smtp-timeout",
            "1",
            "--delivery-timeout",
            "1",
            "--outbox",
            str(outbox),
            "--",
            "false",
        ],
        clean_env(),
        timeout=30,
    )
    assert done.returncode == 1
    assert b"127.0.0.1:1: connection refused" in done.stderr
    assert len(outbox_messages(outbox)) == 1


def test_tls_flags(tmp_path: Path, smtp_starttls: object) -> None:
    password = tmp_path / "password"
    password.write_text(smtp_starttls.password)  # type: ignore[attr-defined]
    done = run(
        [
            "--smtp-host",
            "127.0.0.1",
            "--smtp-port",
            str(smtp_starttls.port),  # type: ignore[attr-defined]
            "--smtp-security",
            "starttls",
            "--smtp-user",
            smtp_starttls.username,  # type: ignore[attr-defined]
            "--smtp-password-file",
            str(password),
            "--smtp-ca-file",
            smtp_starttls.ca_file,  # type: ignore[attr-defined]
            "--to",
            "ops@example.com",
            "--",
            "false",
        ],
        clean_env(),
    )
    assert done.returncode == 1, done.stderr
    (delivery,) = smtp_starttls.wait_for_messages(1, timeout=10)  # type: ignore[attr-defined]
    assert delivery.tls
    assert delivery.auth_user == smtp_starttls.username  # type: ignore[attr-defined]


def test_process_flags(tmp_path: Path) -> None:
    outbox = tmp_path / "box"
    done = run(
        ["--timeout", "0.5", "--kill-grace", "0", "--outbox", str(outbox), "--", "sleep", "30"],
        clean_env(),
    )
    assert done.returncode == 124
    (message,) = outbox_messages(outbox)
    assert "stopped by --timeout after 0.5 s" in text_body(message)
