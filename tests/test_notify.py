"""notify(): after a run, whether to report it, then make it, deliver it (or print it for a dry
run) and account for it: lognotify's own lines and Kubernetes' termination message. In-process,
with a real outbox, a real SMTP server and a Console writing to a string."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from helpers import closed_port, outbox_messages, parse, printed_report, result_of, the_mail
from smtp_servers import Sink

from lognotify.console import Console
from lognotify.notify import notify, should_notify
from lognotify.settings import Settings, load_settings

pytestmark = pytest.mark.timeout(30)


class Said:
    """A Console over a string: the lines lognotify said."""

    def __init__(self) -> None:
        self.stream = io.StringIO()
        self.console = Console(self.stream)

    @property
    def text(self) -> str:
        return self.stream.getvalue()

    @property
    def lines(self) -> list[str]:
        return self.text.splitlines()


@pytest.fixture
def said() -> Said:
    return Said()


@pytest.fixture
def termination_log(tmp_path: Path) -> Path:
    path = tmp_path / "termination-log"
    path.write_text("left from before\n")  # Kubernetes makes it; lognotify only replaces it
    return path


def settings_for(tmp_path: Path, termination_log: Path | None = None, **given: Any) -> Settings:
    values: dict[str, object] = {
        "outbox": str(tmp_path / "outbox"),
        "job_name": "sync",
        "termination_log": str(termination_log or ""),
    }
    values.update(given)
    environ = {key: str(value) for key, value in given.items() if key.startswith("LOGNOTIFY_")}
    for key in environ:
        values.pop(key)
    return load_settings(values, environ)


# --- whether to report ------------------------------------------------------------------------

RUNS: dict[str, dict[str, Any]] = {
    "failed": {"exit_code": 3},
    "succeeded with errors": {"exit_code": 0, "error_reported": True},
    "succeeded": {"exit_code": 0},
    "trapped SIGTERM and exited 0": {"exit_code": 0, "stopped_by": 15},
}


@pytest.mark.parametrize(
    ("notify_on", "reported"),
    [
        ("failure", {"failed", "trapped SIGTERM and exited 0"}),
        ("error", {"failed", "succeeded with errors", "trapped SIGTERM and exited 0"}),
        ("always", set(RUNS)),
        ("never", set()),
    ],
)
def test_notify_on_decides_which_runs_are_reported(notify_on: str, reported: set[str]) -> None:
    chosen = {run for run, facts in RUNS.items() if should_notify(notify_on, result_of(**facts))}
    assert chosen == reported


def test_a_run_not_to_report_leaves_nothing_behind(tmp_path: Path, said: Said) -> None:
    notified = notify(result_of(b"x\n", exit_code=0), settings_for(tmp_path), said.console)
    assert notified.delivered is None
    assert not notified.wanted
    assert said.lines == []
    assert outbox_messages(tmp_path / "outbox") == []


def test_a_dry_run_says_why_there_is_no_report(tmp_path: Path, said: Said) -> None:
    notify(result_of(b"x\n", exit_code=0), settings_for(tmp_path), said.console, dry_run="text")
    assert said.lines == ["lognotify: no report: the run succeeded and notify_on is failure"]


# --- the report, and what became of it ------------------------------------------------------


def test_without_an_smtp_host_the_report_is_written_to_the_outbox_and_its_path_said(
    tmp_path: Path, said: Said, termination_log: Path
) -> None:
    notified = notify(result_of(b"boom\n"), settings_for(tmp_path, termination_log), said.console)
    assert notified.wanted
    assert notified.delivered is not None
    (saved,) = (tmp_path / "outbox").glob("*.eml")
    assert notified.delivered.outbox == str(saved)
    assert said.lines == [
        f"lognotify: no SMTP host set (LOGNOTIFY_SMTP_HOST); report written to {saved}"
    ]
    assert termination_log.read_text() == f"lognotify: FAILED sync (exit 3); report saved {saved}"


def test_a_report_a_server_took_says_so_and_so_does_the_termination_message(
    tmp_path: Path, said: Said, termination_log: Path, smtp_sink: Sink
) -> None:
    settings = settings_for(
        tmp_path,
        termination_log,
        smtp_host="127.0.0.1",
        smtp_port=smtp_sink.port,
        smtp_security="none",
        to="ops@example.com",
    )
    notified = notify(result_of(b"boom\n"), settings, said.console)
    message = the_mail(smtp_sink)
    assert said.lines == ["lognotify: report sent to ops@example.com"]
    assert notified.delivered is not None
    assert notified.delivered.sent
    assert termination_log.read_text() == (
        f"lognotify: FAILED sync (exit 3); report sent {message['Message-ID']}"
    )
    assert message["Message-ID"].startswith("<")


def test_a_report_no_server_took_is_kept_and_printed_between_two_marker_lines(
    tmp_path: Path, said: Said, termination_log: Path
) -> None:
    settings = settings_for(
        tmp_path,
        termination_log,
        smtp_host="127.0.0.1",
        smtp_port=closed_port(),
        smtp_security="none",
        to="ops@example.com",
        delivery_timeout=0.5,
    )
    notify(result_of(b"boom\n"), settings, said.console)
    (saved,) = (tmp_path / "outbox").glob("*.eml")
    first = said.lines[0]
    assert first.startswith("lognotify: could not send the report: 127.0.0.1:")
    assert first.endswith(f"; report saved to {saved}")
    report = printed_report(said.text)
    assert report is not None
    assert report.startswith("FAILED sync: exited with status 3\n")
    assert said.text.endswith("lognotify: end of report\n")
    assert termination_log.read_text().startswith(
        "lognotify: FAILED sync (exit 3); report not sent: "
    )
    assert termination_log.read_text().endswith(f"; saved {saved}")
    assert "report sent" not in termination_log.read_text()


def test_a_dry_run_prints_the_report_to_stdout_and_sends_nothing(
    tmp_path: Path, said: Said, termination_log: Path
) -> None:
    stdout = io.BytesIO()
    notified = notify(
        result_of(b"boom\n"),
        settings_for(tmp_path, termination_log),
        said.console,
        dry_run="text",
        stdout=stdout,
    )
    assert notified.delivered is None
    assert stdout.getvalue().startswith(b"Subject: [lognotify] FAILED sync (exit 3) on ")
    assert said.lines == []
    assert outbox_messages(tmp_path / "outbox") == []
    assert (
        termination_log.read_text() == "lognotify: FAILED sync (exit 3); report not sent: dry run"
    )
    mime = io.BytesIO()
    notify(result_of(b"boom\n"), settings_for(tmp_path), said.console, dry_run="mime", stdout=mime)
    assert parse(mime.getvalue())["X-Lognotify-Job"] == "sync"


# --- attempts ---------------------------------------------------------------------------------

RETRIED: dict[str, Any] = {"LOGNOTIFY_K8S_FAILURES": "0", "LOGNOTIFY_K8S_BACKOFF_LIMIT": "2"}


def test_a_failed_attempt_kubernetes_will_retry_sends_nothing_under_last(
    tmp_path: Path, said: Said, termination_log: Path
) -> None:
    settings = settings_for(tmp_path, termination_log, **RETRIED)
    notified = notify(result_of(b"boom\n"), settings, said.console)
    assert notified.delivered is None
    assert outbox_messages(tmp_path / "outbox") == []
    assert said.lines == [
        "lognotify: FAILED sync (exit 3); no report: Kubernetes will retry (attempt 1 of 3)"
    ]
    assert termination_log.read_text() == (
        "lognotify: FAILED sync (exit 3); no report: Kubernetes will retry (attempt 1 of 3)"
    )


def test_under_every_a_failed_attempt_is_reported_and_says_it_will_be_retried(
    tmp_path: Path, said: Said
) -> None:
    settings = settings_for(tmp_path, notify_attempts="every", **RETRIED)
    notify(result_of(b"boom\n"), settings, said.console)
    (message,) = outbox_messages(tmp_path / "outbox")
    assert message["X-Lognotify-Attempt"] == "1/3"
    assert "(exit 3, attempt 1 of 3, will retry)" in message["Subject"]


@pytest.mark.parametrize(
    ("environ", "facts"),
    [
        ({"LOGNOTIFY_K8S_FAILURES": "2", "LOGNOTIFY_K8S_BACKOFF_LIMIT": "2"}, {}),  # the last
        ({**RETRIED, "LOGNOTIFY_K8S_FINAL_EXIT_CODES": "3"}, {}),  # the Job fails on exit 3
        (RETRIED, {"exit_code": 124, "timed_out": True, "timeout": 5.0}),  # a timeout is final
        ({"LOGNOTIFY_K8S_FAILURES": "1"}, {}),  # how many are allowed is not known
    ],
    ids=["last-attempt", "final-exit-code", "timeout", "limit-unknown"],
)
def test_a_final_attempt_is_reported_under_last(
    tmp_path: Path, said: Said, environ: dict[str, Any], facts: dict[str, Any]
) -> None:
    facts = {"exit_code": 3, **facts}
    notify(result_of(b"boom\n", **facts), settings_for(tmp_path, **environ), said.console)
    (message,) = outbox_messages(tmp_path / "outbox")
    assert "will retry" not in message["Subject"]


# --- what is never written, and what never escapes -------------------------------------------


def test_a_success_never_touches_the_termination_message(
    tmp_path: Path, said: Said, termination_log: Path
) -> None:
    settings = settings_for(tmp_path, termination_log, notify_on="always")
    notify(result_of(b"fine\n", exit_code=0), settings, said.console)
    assert len(outbox_messages(tmp_path / "outbox")) == 1
    assert termination_log.read_text() == "left from before\n"


def test_the_termination_message_is_redacted(
    tmp_path: Path, said: Said, termination_log: Path
) -> None:
    settings = settings_for(
        tmp_path, termination_log, job_name="sync-hunter2hunter2", redact=["hunter2hunter2"]
    )
    notify(result_of(b"boom\n"), settings, said.console)
    assert termination_log.read_text().startswith("lognotify: FAILED sync-[REDACTED] (exit 3);")


def test_a_problem_making_the_report_is_one_line_and_never_raised(
    tmp_path: Path, said: Said, termination_log: Path
) -> None:
    # An error rule that is not one: making the report fails; the run's outcome stands.
    not_a_rule: Any = object()
    notified = notify(
        result_of(b"boom\n"), settings_for(tmp_path, termination_log), said.console, rule=not_a_rule
    )
    assert notified.wanted
    assert notified.delivered is None
    (line,) = said.lines
    assert line.startswith("lognotify: could not make the report: AttributeError: ")
    assert termination_log.read_text().startswith(
        "lognotify: FAILED sync (exit 3); report not sent: could not make the report: "
    )
