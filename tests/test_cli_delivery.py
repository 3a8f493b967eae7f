"""End to end: ``python -m lognotify -- COMMAND`` against real SMTP servers on 127.0.0.1.

What a user sees: the command's exit status (a failed delivery never changes it), the
command's own output passed through, one ``lognotify:`` line on stderr, the message that
arrived, or the ``.eml`` left in the outbox.
"""

from __future__ import annotations

import gzip
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest
from helpers import closed_port, own_lines, printed_report
from smtp_servers import ALWAYS, BaseSMTPServer, ScriptedServer, Sink, Trickle

pytestmark = pytest.mark.timeout(60)

Scripted = Callable[..., ScriptedServer]

TO = "ops@example.com"
PASSWORD = "hunter2-Pa55word"


def smtp_env(server: BaseSMTPServer | None = None, **extra: str) -> dict[str, str]:
    env = {
        "LOGNOTIFY_TO": TO,
        "LOGNOTIFY_SMTP_SECURITY": "none",
        "LOGNOTIFY_JOB_NAME": "sync",
        "LOGNOTIFY_FROM": "lognotify@example.com",
    }
    if server is not None:
        env.update(LOGNOTIFY_SMTP_HOST=server.host, LOGNOTIFY_SMTP_PORT=str(server.port))
    env.update(extra)
    return env


class Run:
    """What a user sees of one run: exit status, stdout bytes, stderr text, time taken."""

    def __init__(self, proc: subprocess.CompletedProcess[bytes], elapsed: float) -> None:
        self.status = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr.decode("utf-8", "replace")
        self.elapsed = elapsed

    @property
    def own_lines(self) -> list[str]:
        """lognotify's own messages on stderr (a report printed there not counted)."""
        return own_lines(self.stderr)

    @property
    def printed_report(self) -> str | None:
        """The report's text printed on stderr because no server took it, if any."""
        return printed_report(self.stderr)


Lognotify = Callable[..., Run]


@pytest.fixture
def lognotify(tmp_path: Path) -> Lognotify:
    """Run ``python -m lognotify *args`` with only the given LOGNOTIFY_* settings."""

    def run(*args: str, env: Mapping[str, str]) -> Run:
        clean = {k: v for k, v in os.environ.items() if not k.startswith("LOGNOTIFY_")}
        clean["TMPDIR"] = str(tmp_path)  # the default outbox lands here, not in /tmp
        start = time.monotonic()
        proc = subprocess.run(
            [sys.executable, "-m", "lognotify", *args],
            check=False,
            env={**clean, **env},
            capture_output=True,
            timeout=30,
        )
        return Run(proc, time.monotonic() - start)

    return run


def eml_files(outbox: Path) -> list[Path]:
    return sorted(outbox.glob("*.eml")) if outbox.exists() else []


# --- delivered -------------------------------------------------------------------------------


def test_failed_command_is_mailed_once_and_its_status_kept(
    lognotify: Lognotify, smtp_sink: Sink
) -> None:
    run = lognotify(
        "--", "sh", "-c", "printf 'loading batch 42\\nboom\\n'; exit 3", env=smtp_env(smtp_sink)
    )

    assert run.status == 3
    assert run.stdout == b"loading batch 42\nboom\n"
    assert run.own_lines == [f"lognotify: report sent to {TO}"]
    (arrived,) = smtp_sink.wait_for_messages(1)
    message = arrived.message
    assert message["Subject"].startswith("[lognotify] FAILED sync (exit 3) on ")
    assert message["X-Lognotify-Job"] == "sync"
    assert message["X-Lognotify-Status"] == "failure"
    assert message["X-Lognotify-Exit-Code"] == "3"
    (log,) = message.iter_attachments()
    assert str(log.get_filename()).startswith("sync-")
    assert str(log.get_filename()).endswith("Z.log.gz")
    assert gzip.decompress(log.get_content()) == b"loading batch 42\nboom\n"
    assert smtp_sink.connections == 1


def test_successful_command_is_not_mailed_by_default(lognotify: Lognotify, smtp_sink: Sink) -> None:
    run = lognotify("--", "sh", "-c", "echo fine", env=smtp_env(smtp_sink))

    assert run.status == 0
    assert run.stdout == b"fine\n"
    assert run.own_lines == []
    assert smtp_sink.connections == 0


def test_test_email_exits_0_when_the_server_accepts(lognotify: Lognotify, smtp_sink: Sink) -> None:
    run = lognotify("--test-email", env=smtp_env(smtp_sink))

    assert run.status == 0, run.stderr
    (arrived,) = smtp_sink.wait_for_messages(1)
    assert arrived.message["X-Lognotify-Status"] == "test"


def test_dry_run_test_email_prints_the_sample_and_sends_nothing(
    lognotify: Lognotify, smtp_sink: Sink
) -> None:
    run = lognotify("--dry-run", "--test-email", env=smtp_env(smtp_sink))

    assert run.status == 0, run.stderr
    assert b"\nX-Lognotify-Status: test\n" in run.stdout
    assert smtp_sink.connections == 0


def test_smtp_password_typed_as_a_flag_is_refused_and_never_printed(
    lognotify: Lognotify, smtp_sink: Sink
) -> None:
    for args in (
        ("--smtp-password", "hunter2hunter2"),
        ("--smtp-password=hunter2hunter2",),
        ("--smtp-password-file", "hunter2hunter2"),
    ):
        run = lognotify(*args, "--", "true", env=smtp_env(smtp_sink))

        assert run.status == 2
        assert "hunter2" not in run.stderr
        assert b"hunter2" not in run.stdout
        (line,) = run.own_lines
        assert "--smtp-password" in line


def test_test_email_exits_1_with_the_servers_reason(
    lognotify: Lognotify, smtp_scripted: Scripted
) -> None:
    server = smtp_scripted(data_reply="554 5.7.1 Relaying denied")

    run = lognotify("--test-email", env=smtp_env(server))

    assert run.status == 1
    assert "554 5.7.1 Relaying denied" in run.stderr


# --- the cases -----------------------------------------------------------------------


def test_connection_refused_keeps_the_status_ends_in_time_and_saves_the_report(
    lognotify: Lognotify, tmp_path: Path
) -> None:
    outbox = tmp_path / "outbox"
    env = smtp_env(
        LOGNOTIFY_SMTP_HOST="127.0.0.1",
        LOGNOTIFY_SMTP_PORT=str(closed_port()),
        LOGNOTIFY_DELIVERY_TIMEOUT="3",
        LOGNOTIFY_OUTBOX=str(outbox),
    )

    run = lognotify("--", "sh", "-c", "echo working; exit 7", env=env)

    assert run.status == 7
    assert run.stdout == b"working\n"
    assert run.elapsed < 3 + 3  # delivery_timeout, plus start-up and margin
    (line,) = run.own_lines
    # the one line, then the report's text, kept in the logs when the outbox dies with the pod
    assert run.stderr.startswith(line + "\nlognotify: report follows\n")
    assert run.stderr.endswith("lognotify: end of report\n")
    # the report's text as the redesigned template opens it
    assert (run.printed_report or "").startswith("FAILED sync: exited with status 7\n")
    assert "working" in (run.printed_report or "")
    assert "connection refused" in line
    (saved,) = eml_files(outbox)
    assert str(saved) in line
    assert b"X-Lognotify-Job: sync" in saved.read_bytes()
    assert "attempts" in line  # it was retried before giving up


@pytest.mark.parametrize(
    "reply", ["554 5.7.1 Message rejected by policy", "552 5.3.4 Message too big for system"]
)
def test_permanent_rejection_is_not_retried_and_the_reason_shown(
    lognotify: Lognotify, smtp_scripted: Scripted, reply: str
) -> None:
    server = smtp_scripted(data_reply=reply)

    run = lognotify("--", "sh", "-c", "echo boom; exit 3", env=smtp_env(server))

    assert run.status == 3
    (line,) = run.own_lines
    assert reply in line
    assert "1 attempt" in line
    assert server.connections == 1
    assert server.data_attempts == 1
    assert run.elapsed < 10


def test_refused_authentication_is_not_retried_and_the_password_not_shown(
    lognotify: Lognotify, smtp_scripted: Scripted, smtp_ca_file: str
) -> None:
    server = smtp_scripted(
        tls="starttls", username="user", password=PASSWORD, reject_auth_connections=ALWAYS
    )
    env = smtp_env(
        server,
        LOGNOTIFY_SMTP_SECURITY="starttls",
        LOGNOTIFY_SMTP_USER="user",
        LOGNOTIFY_SMTP_PASSWORD=PASSWORD,
        LOGNOTIFY_SMTP_CA_FILE=smtp_ca_file,
    )

    run = lognotify("--", "sh", "-c", "exit 4", env=env)

    assert run.status == 4
    (line,) = run.own_lines
    assert "535" in line
    assert PASSWORD not in run.stderr
    assert PASSWORD.encode() not in run.stdout
    assert server.connections == 1
    assert server.received == []


def test_a_silent_server_and_a_stalled_one_do_not_hang_the_job(
    lognotify: Lognotify, smtp_scripted: Scripted
) -> None:
    silent = smtp_scripted(no_greeting_connections=ALWAYS)
    stalled = smtp_scripted(stall_data_times=ALWAYS)
    timeouts = {"LOGNOTIFY_SMTP_TIMEOUT": "1", "LOGNOTIFY_DELIVERY_TIMEOUT": "2"}

    for server in (silent, stalled):
        run = lognotify("--", "sh", "-c", "exit 5", env=smtp_env(server, **timeouts))

        assert run.status == 5
        assert run.elapsed < 2 + 3  # delivery_timeout, plus start-up and margin
        (line,) = run.own_lines
        assert "could not send" in line
        assert "timed out" in line
        assert server.messages == []


def test_a_server_trickling_its_replies_cannot_stretch_delivery(
    lognotify: Lognotify, tmp_path: Path
) -> None:
    # Each read succeeds well within smtp_timeout, but the greeting never ends: the reply as a
    # whole must be bounded, and all attempts by delivery_timeout.
    with Trickle(interval=0.2) as trickle:
        env = {
            **smtp_env(LOGNOTIFY_OUTBOX=str(tmp_path / "outbox")),
            "LOGNOTIFY_SMTP_HOST": trickle.host,
            "LOGNOTIFY_SMTP_PORT": str(trickle.port),
            "LOGNOTIFY_SMTP_TIMEOUT": "1",
            "LOGNOTIFY_DELIVERY_TIMEOUT": "3",
        }
        run = lognotify("--", "sh", "-c", "exit 9", env=env)

    assert run.status == 9
    assert run.elapsed < 3 + 3  # delivery_timeout, plus start-up and margin
    (line,) = run.own_lines
    assert "could not send" in line
    assert "report saved to" in line
    assert len(list((tmp_path / "outbox").glob("*.eml"))) == 1


def test_an_untrusted_certificate_is_refused_once(
    lognotify: Lognotify, smtp_starttls_untrusted: BaseSMTPServer
) -> None:
    server = smtp_starttls_untrusted
    env = smtp_env(
        server,
        LOGNOTIFY_SMTP_SECURITY="starttls",
        LOGNOTIFY_SMTP_USER="user",
        LOGNOTIFY_SMTP_PASSWORD="secret",
        LOGNOTIFY_SMTP_CA_FILE=str(server.ca_file),
    )

    run = lognotify("--", "sh", "-c", "exit 6", env=env)

    assert run.status == 6
    (line,) = run.own_lines
    assert "certificate" in line
    assert server.connections == 1
    assert server.auth_attempts == 0
    assert server.received == []


def test_starttls_never_falls_back_to_plain_text(lognotify: Lognotify, smtp_sink: Sink) -> None:
    env = smtp_env(smtp_sink, LOGNOTIFY_SMTP_SECURITY="starttls")

    run = lognotify("--", "sh", "-c", "exit 1", env=env)

    assert run.status == 1
    (line,) = run.own_lines
    assert "STARTTLS" in line
    assert smtp_sink.received == []
    assert smtp_sink.data_attempts == 0


@pytest.mark.parametrize("given_as", ["env", "flags"])
def test_credentials_without_encryption_are_a_configuration_error(
    lognotify: Lognotify, smtp_sink: Sink, tmp_path: Path, given_as: str
) -> None:
    marker = tmp_path / "started"
    if given_as == "env":
        env = smtp_env(smtp_sink, LOGNOTIFY_SMTP_USER="user", LOGNOTIFY_SMTP_PASSWORD=PASSWORD)
        flags: list[str] = []
        setting = "LOGNOTIFY_SMTP_SECURITY"
    else:
        password_file = tmp_path / "password"
        password_file.write_text(PASSWORD + "\n")
        env = smtp_env(smtp_sink)
        del env["LOGNOTIFY_SMTP_SECURITY"]
        flags = [
            "--smtp-security",
            "none",
            "--smtp-user",
            "user",
            "--smtp-password-file",
            str(password_file),
        ]
        setting = "--smtp-security"

    run = lognotify(*flags, "--", "touch", str(marker), env=env)

    assert run.status == 2
    assert run.stdout == b""
    (line,) = run.stderr.splitlines()
    assert line.startswith("lognotify:")
    assert setting in line
    assert PASSWORD not in run.stderr
    assert not marker.exists()  # the command was never started
    assert smtp_sink.connections == 0  # nothing was sent, the password least of all


@pytest.mark.parametrize(
    "signum", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP], ids=lambda s: s.name
)
def test_a_signal_while_the_report_is_sent_does_not_lose_it(
    smtp_scripted: Scripted, tmp_path: Path, signum: signal.Signals
) -> None:
    # Issue case 15 for the wrapper: the pod is deleted (or Ctrl-C is pressed, or the terminal
    # hangs up) while the report is on its way.
    server = smtp_scripted(stall_data_times=1)
    env = {
        "PATH": os.environ["PATH"],
        "TMPDIR": str(tmp_path),
        **smtp_env(server, LOGNOTIFY_SMTP_TIMEOUT="2", LOGNOTIFY_DELIVERY_TIMEOUT="20"),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "lognotify", "--", "sh", "-c", "echo failing; exit 3"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    server.wait_for_received(1, timeout=20)  # the first attempt's body is in; the server stalls
    proc.send_signal(signum)
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 3, stderr  # the command's own status, not a death by the signal
    assert len(server.wait_for_messages(1, timeout=5)) == 1
    assert b"report sent to ops@example.com after 2 attempts" in stderr
    held = f"lognotify: {signum.name} arrived after the command had ended; it was held until"
    assert f"{held} the report was done\n".encode() in stderr
    assert b"Traceback" not in stderr
