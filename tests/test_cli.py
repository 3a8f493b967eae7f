"""cli.main(argv) in-process: flags and the environment become settings once, and a malformed
one is one line on stderr naming it, exit 2, with nothing started.

The real program, end to end, is tested in test_cli_exits.py (statuses and signals),
test_cli_output.py (passthrough and the report), test_cli_delivery.py, test_cli_flags.py and
test_cli_hardening.py.
"""

from __future__ import annotations

import io
import signal
from pathlib import Path

import pytest
from helpers import outbox_messages, text_body, the_mail
from smtp_servers import Sink

from lognotify.cli import main
from lognotify.console import Console


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No LOGNOTIFY_* of the developer's; the default outbox and termination log out of reach."""
    import os

    for name in [name for name in os.environ if name.startswith("LOGNOTIFY_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("LOGNOTIFY_OUTBOX", str(tmp_path / "outbox"))
    monkeypatch.setenv("LOGNOTIFY_TERMINATION_LOG", "")


class Ran:
    """One in-process run of main(): its status and the lines lognotify said."""

    def __init__(self, argv: list[str]) -> None:
        self.stderr = io.StringIO()
        self.status = main(argv, console=Console(self.stderr))
        self.lines = self.stderr.getvalue().splitlines()


def refused(argv: list[str], marker: Path) -> str:
    """Run ``argv -- touch marker``; assert it is a configuration error; its one line."""
    ran = Ran([*argv, "--", "touch", str(marker)])
    assert ran.status == 2, ran.lines
    assert not marker.exists(), "the command was started"
    (line,) = ran.lines
    assert line.startswith("lognotify: ")
    return line


# --- configuration errors: one line, exit 2, nothing started -----------------------------------


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--smtp-port", "smtp"], "--smtp-port"),
        (["--smtp-port", "70000"], "--smtp-port"),
        (["--smtp-timeout", "-1"], "--smtp-timeout"),
        (["--delivery-timeout", "forever"], "--delivery-timeout"),
        (["--timeout", "0"], "--timeout"),
        (["--kill-grace", "soon"], "--kill-grace"),
        (["--max-bytes", "1.5 MB"], "--max-bytes"),
        (["--notify-on", "sometimes"], "--notify-on"),
        (["--notify-attempts", "some"], "--notify-attempts"),
        (["--smtp-security", "tls"], "--smtp-security"),
        (["--smtp-password-file", "/no/such/file"], "--smtp-password-file"),
        (["--smtp-ca-file", "/no/such/ca.pem"], "--smtp-ca-file"),
        (["--template-dir", "/no/such/dir"], "--template-dir"),
        (["--redact", "(unclosed"], "--redact"),
        (["--error-pattern", "(unclosed"], "--error-pattern"),
        (["--passthrough", "maybe"], "--passthrough"),
        (["--redact-builtin", "sometimes"], "--redact-builtin"),
        (["--to", "ops@example.com\nBcc: evil@example.com"], "--to"),
        (["--from", "not an address"], "--from"),
        (["--dry-run=html"], "--dry-run"),
        (["--smtp-password", "hunter2hunter2"], "--smtp-password"),
        (["--smtp-host", "smtp.example.com"], "--to (or LOGNOTIFY_TO)"),
    ],
)
def test_a_malformed_flag_is_one_line_naming_it_and_exit_2_before_the_job(
    args: list[str], named: str, tmp_path: Path
) -> None:
    line = refused(args, tmp_path / "started")
    assert line.startswith(f"lognotify: {named}:")
    assert "hunter2" not in line  # a password typed where a flag wanted a file is not echoed


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("LOGNOTIFY_SMTP_PORT", "0"),
        ("LOGNOTIFY_DELIVERY_TIMEOUT", "1y"),
        ("LOGNOTIFY_MAX_BYTES", "-1"),
        ("LOGNOTIFY_NOTIFY_ON", "FAILURES"),
        ("LOGNOTIFY_SMTP_PASSWORD_FILE", "/no/such/secret"),
        ("LOGNOTIFY_TIMEOUT", "1d"),
        ("LOGNOTIFY_PASSTHROUGH", "maybe"),
        ("LOGNOTIFY_K8S_FAILURES", "two"),
        ("LOGNOTIFY_K8S_BACKOFF_LIMIT", "-1"),
        ("LOGNOTIFY_K8S_FINAL_EXIT_CODES", "2,300"),
    ],
)
def test_a_malformed_variable_is_one_line_naming_it_and_exit_2_before_the_job(
    name: str, value: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(name, value)
    assert refused([], tmp_path / "started").startswith(f"lognotify: {name}:")


def test_a_flag_is_named_even_when_its_variable_is_set_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOGNOTIFY_SMTP_PORT", "2525")
    line = refused(["--smtp-port", "abc"], tmp_path / "started")
    assert line.startswith("lognotify: --smtp-port:")


def test_credentials_without_encryption_are_a_configuration_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    password = tmp_path / "password"
    password.write_text("hunter2-Pa55word\n")
    args = [
        "--smtp-host",
        "127.0.0.1",
        "--to",
        "ops@example.com",
        "--smtp-security",
        "none",
        "--smtp-user",
        "etl",
        "--smtp-password-file",
        str(password),
    ]
    line = refused(args, tmp_path / "started")
    assert line.startswith("lognotify: --smtp-security: 'none' cannot carry a user and password")
    assert "hunter2" not in line


def test_a_template_that_cannot_compile_is_refused_before_the_job(tmp_path: Path) -> None:
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "body.html.j2").write_text("<p>\n{{ job | no_such_filter }}</p>")
    line = refused(["--template-dir", str(templates)], tmp_path / "started")
    assert line.startswith(f"lognotify: {templates / 'body.html.j2'}: line 2: ")
    assert "no_such_filter" in line


def test_a_subject_that_cannot_compile_is_refused_before_the_job(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    line = refused(["--subject", "{{ nope"], tmp_path / "started")
    assert line.startswith("lognotify: subject (LOGNOTIFY_SUBJECT): line 1: ")
    monkeypatch.setenv("LOGNOTIFY_SUBJECT", "{% if %}")
    assert "LOGNOTIFY_SUBJECT" in refused([], tmp_path / "started")


def test_an_unknown_flag_is_named(tmp_path: Path) -> None:
    line = refused(["--smtp-hots", "x"], tmp_path / "started")
    assert line == "lognotify: unrecognized arguments: --smtp-hots (see lognotify --help)"


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        ([], "no command given: lognotify [OPTIONS] -- COMMAND [ARGS...] (see --help)"),
        (["--to", "ops@example.com"], "no command given"),
        (["--"], "no command given"),
        (["--test-email", "--", "true"], "--test-email takes no command"),
    ],
)
def test_a_usage_error_is_one_line_and_exit_2(argv: list[str], words: str) -> None:
    ran = Ran(argv)
    assert ran.status == 2
    (line,) = ran.lines
    assert line.startswith(f"lognotify: {words}")


def test_version_and_help_are_printed_and_exit_0(capsys: pytest.CaptureFixture[str]) -> None:
    from lognotify import __version__

    with pytest.raises(SystemExit) as version:
        main(["--version"], console=Console(io.StringIO()))
    assert version.value.code == 0
    assert capsys.readouterr().out == f"lognotify {__version__}\n"
    with pytest.raises(SystemExit) as helped:
        main(["--help"], console=Console(io.StringIO()))
    assert helped.value.code == 0
    out = capsys.readouterr().out
    flags = ["--to", "--smtp-password-file", "--kill-grace", "--test-email", "--dry-run"]
    flags += ["--passthrough", "--termination-log", "--notify-attempts", "examples:"]
    for flag in flags:
        assert flag in out, flag


# --- warnings, and a run in-process ------------------------------------------------------------


def test_an_unknown_variable_is_pointed_out_and_the_run_goes_on(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("LOGNOTIFY_SMTP_HOTS", "smtp.example.com")
    marker = tmp_path / "ran"
    ran = Ran(["--", "touch", str(marker)])
    assert ran.status == 0
    assert marker.exists()
    assert ran.lines == [
        "lognotify: unknown setting LOGNOTIFY_SMTP_HOTS is ignored "
        "(did you mean LOGNOTIFY_SMTP_HOST?)"
    ]


def test_without_from_a_host_name_without_a_dot_is_warned_about_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import os

    monkeypatch.setattr(os, "uname", lambda: os.uname_result(("Linux", "vm", "6", "#1", "x")))
    args = ["--smtp-host", "127.0.0.1", "--to", "ops@example.com", "--smtp-security", "none"]
    ran = Ran([*args, "--", "true"])
    assert ran.status == 0
    assert ran.lines == [
        "lognotify: the From address lognotify@vm has no domain, and many servers refuse it; "
        "set LOGNOTIFY_FROM (--from) to an address they take"
    ]
    assert Ran([*args, "--from", "etl@example.com", "--", "true"]).lines == []
    # under cron (--passthrough off) a run that went well prints nothing, so cron mails nothing
    assert Ran([*args, "--passthrough", "off", "--", "true"]).lines == []
    dry = Ran([*args, "--dry-run", "--", "true"]).lines  # nothing is sent: no warning
    assert not [line for line in dry if "From" in line]


def test_a_run_returns_the_commands_status_and_restores_the_signal_handlers(
    tmp_path: Path,
) -> None:
    before = {signum: signal.getsignal(signum) for signum in (signal.SIGTERM, signal.SIGINT)}
    ran = Ran(["--job-name", "etl", "--", "sh", "-c", "exit 3"])
    assert ran.status == 3
    assert {signum: signal.getsignal(signum) for signum in before} == before
    (message,) = outbox_messages(tmp_path / "outbox")
    assert message["X-Lognotify-Exit-Code"] == "3"
    (line,) = ran.lines
    assert line.startswith("lognotify: no SMTP host set (LOGNOTIFY_SMTP_HOST); report written")


def test_flags_beat_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOGNOTIFY_JOB_NAME", "from-env")
    monkeypatch.setenv("LOGNOTIFY_NOTIFY_ON", "never")
    ran = Ran(["--job-name", "from-flag", "--notify-on", "failure", "--", "false"])
    assert ran.status == 1
    (message,) = outbox_messages(tmp_path / "outbox")
    assert message["X-Lognotify-Job"] == "from-flag"


def test_a_command_that_cannot_be_found_is_127_and_said_so(tmp_path: Path) -> None:
    ran = Ran(["--", "no-such-command-anywhere"])
    assert ran.status == 127
    assert ran.lines[0] == "lognotify: command not found: no-such-command-anywhere"
    (message,) = outbox_messages(tmp_path / "outbox")
    assert "command not found" in text_body(message)


def test_dry_run_prints_the_report_and_writes_nothing(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    ran = Ran(["--dry-run", "--job-name", "etl", "--", "sh", "-c", "echo hello; exit 5"])
    assert ran.status == 5
    out = capfd.readouterr().out
    assert out.startswith("hello\nSubject: [lognotify] FAILED etl (exit 5) on ")
    assert "\nFAILED etl: exited with status 5\n" in out
    assert ran.lines == []
    assert outbox_messages(tmp_path / "outbox") == []


def test_passthrough_off_prints_nothing_at_all_when_the_report_was_sent(
    smtp_sink: Sink, capfd: pytest.CaptureFixture[str]
) -> None:
    args = ["--smtp-host", "127.0.0.1", "--smtp-port", str(smtp_sink.port)]
    args += ["--smtp-security", "none", "--to", "ops@example.com", "--from", "etl@example.com"]
    args += ["--passthrough", "off"]
    ran = Ran([*args, "--", "sh", "-c", "echo out; echo err >&2; exit 4"])
    assert ran.status == 4
    captured = capfd.readouterr()
    assert (captured.out, captured.err) == ("", "")
    assert ran.lines == []  # not even the line saying it was sent: cron mails nothing
    text = text_body(the_mail(smtp_sink))
    assert "  | out\n" in text  # (the two streams' lines may arrive in either order)
    assert "  : err\n" in text


def test_passthrough_off_still_says_where_a_report_that_was_not_sent_went(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    ran = Ran(["--passthrough", "off", "--", "sh", "-c", "echo out; exit 4"])
    assert ran.status == 4
    assert capfd.readouterr().out == ""
    (message,) = outbox_messages(tmp_path / "outbox")
    (line,) = ran.lines
    assert line.startswith("lognotify: no SMTP host set (LOGNOTIFY_SMTP_HOST); report written to ")
    assert "1  | out" in text_body(message)
