"""The report's data: every template variable made from a RunResult, readable, bounded and
redacted before any template sees it. Pure: no Jinja, no email."""

from __future__ import annotations

from typing import Any

import pytest
from helpers import result_of

from lognotify.capture import STDERR
from lognotify.errorrule import ErrorRule
from lognotify.kubernetes.attempts import Attempt
from lognotify.outcome import Memory
from lognotify.report import redactor_for
from lognotify.report.model import COMMAND_CHARS, TRACEBACK_CHARS, Pod, Report, build
from lognotify.settings import Settings, load_settings

SECRET = "tok-abcdef-123"


def made(result: Any = None, environ: dict[str, str] | None = None, **options: Any) -> Report:
    settings: Settings = options.pop("settings", None) or load_settings({}, environ or {})
    result = result or result_of(b"x\n")
    return build(result, settings, redactor_for(settings), hostname="vm", **options)


@pytest.mark.parametrize(
    ("given", "environ", "job"),
    [
        ({"job_name": "set"}, {"LOGNOTIFY_K8S_JOB_NAME": "sync-29001230"}, "set"),
        ({}, {"LOGNOTIFY_K8S_JOB_NAME": "sync-29001230"}, "sync"),  # its CronJob's name
        ({}, {"LOGNOTIFY_K8S_JOB_NAME": "manual-1"}, "manual-1"),  # not a CronJob's: the Job's
        ({}, {}, "sync.sh"),  # the program's
    ],
)
def test_the_job_name_is_as_set_else_the_cronjobs_else_the_jobs_else_the_programs(
    given: dict[str, str], environ: dict[str, str], job: str
) -> None:
    assert made(settings=load_settings(given, environ)).job == job


def test_a_run_without_any_name_is_called_job() -> None:
    assert made(result_of(b"", program="")).job == "job"


@pytest.mark.parametrize(
    ("facts", "status", "word"),
    [
        ({}, None, "FAILED"),
        ({"exit_code": 0}, None, "OK"),
        ({"exit_code": 0, "error_reported": True}, None, "ERRORS"),
        ({"exit_code": 0}, "test", "TEST"),
    ],
)
def test_the_status_word_follows_the_status_and_the_reason(
    facts: dict[str, Any], status: str | None, word: str
) -> None:
    report = made(result_of(b"x\n", **facts), status=status)
    assert report.status_word == word
    assert report.status == (status or ("failure" if word == "FAILED" else "success"))


def test_where_is_the_pod_when_known_else_the_host() -> None:
    assert made().where == "vm"
    assert made(environ={"LOGNOTIFY_POD_NAME": "etl-1-abcde"}).where == "etl-1-abcde"
    assert made(pod=Pod(pod="watched-pod")).where == "watched-pod"


def test_kubectl_commands_name_the_pod_the_job_and_the_cronjob() -> None:
    environ = {
        "LOGNOTIFY_POD_NAME": "etl-29001230-x7k2p",
        "LOGNOTIFY_POD_NAMESPACE": "batch",
        "LOGNOTIFY_K8S_JOB_NAME": "etl-29001230",
    }
    report = made(environ=environ)
    assert report.kubectl == (
        "kubectl logs -n batch etl-29001230-x7k2p",
        "kubectl describe pod -n batch etl-29001230-x7k2p",
        "kubectl describe job -n batch etl-29001230",
        "kubectl describe cronjob -n batch etl",
    )
    assert report.kubernetes == Pod(
        pod="etl-29001230-x7k2p", namespace="batch", job="etl-29001230", cronjob="etl"
    )
    assert made().kubectl == ()


def test_lines_keep_their_stream_their_number_and_whether_they_look_like_errors() -> None:
    output = [(b"ok\n", 1), (b"warn\n", STDERR), (b"ERROR: boom\n", STDERR), (b"done\n", 1)]
    report = made(result_of(streams=output))
    shown = [(line.number, line.stream, line.text, line.error) for line in report.output.head_lines]
    assert shown == [
        (1, "stdout", "ok", False),
        (2, "stderr", "warn", False),
        (3, "stderr", "ERROR: boom", True),
        (4, "stdout", "done", False),
    ]
    assert [(line.number, line.text) for line in report.error_lines] == [(3, "ERROR: boom")]
    assert report.error_lines_total == 1


def test_a_long_output_is_numbered_over_the_whole_of_it() -> None:
    lines = b"".join(b"l%d\n" % n for n in range(1000))
    output = made(result_of(lines)).output
    assert [line.number for line in output.head_lines] == list(range(1, 101))
    assert [line.number for line in output.tail_lines] == list(range(701, 1001))
    assert output.tail_lines[0].text == "l700"
    assert output.omitted == "[... 3,000 bytes (600 lines) omitted ...]"
    assert (output.total_lines, output.total_bytes, output.empty) == (1000, len(lines), False)


def test_an_error_rule_of_the_users_flags_their_lines_too() -> None:
    rule = ErrorRule(("^WARN ",))
    report = made(result_of(b"WARN low disk\nfine\n"), rule=rule)
    assert [line.error for line in report.output.head_lines] == [True, False]
    assert made(result_of(b"WARN low disk\n")).output.head_lines[0].error is False


def test_every_value_from_outside_is_redacted() -> None:
    output = b"use tok-abcdef-123 now\nERROR tok-abcdef-123\n"
    result = result_of(
        output,
        command=f"sync --token {SECRET}",
        exception=f"E: {SECRET}",
        traceback=f"Traceback\nE: {SECRET}\n",
        note=f"see {SECRET}",
    )
    report = made(result, environ={"API_TOKEN": SECRET})
    assert SECRET not in repr(report.context())
    assert report.command == "sync --token [REDACTED]"
    assert report.exception == "E: [REDACTED]"
    assert report.output.head_lines[0].text == "use [REDACTED] now"
    assert report.error_lines[0].text == "ERROR [REDACTED]"
    assert report.log.head == b"use [REDACTED] now\nERROR [REDACTED]\n"


def test_a_secret_spanning_lines_is_redacted_and_every_line_keeps_its_number() -> None:
    key = b"-----BEGIN PRIVATE KEY-----\nMIIabc\nMIIdef\n-----END PRIVATE KEY-----\nafter\n"
    lines = made(result_of(key)).output.head_lines
    assert [line.text for line in lines][1:3] == ["[REDACTED]", "[REDACTED]"]
    assert [(line.number, line.text) for line in lines][-1] == (5, "after")


def test_the_log_to_attach_is_not_a_template_variable_and_not_shown_by_repr() -> None:
    report = made(result_of(b"private output\n"))
    assert "log" not in report.context()
    assert repr(report).endswith("log=***)")  # the output shows once, as lines, not twice
    assert report.log.head == b"private output\n"
    assert set(report.context()) == set(Report._fields) - {"log"}


def test_long_values_keep_their_start_and_end() -> None:
    result = result_of(b"", command="x" * 20_000, traceback="t" * 100_000)
    report = made(result)
    assert len(report.command) < COMMAND_CHARS + 100
    assert "characters omitted" in report.command
    assert report.traceback is not None
    assert len(report.traceback) < TRACEBACK_CHARS + 100


def test_an_empty_output_is_empty_and_has_nothing_to_attach() -> None:
    report = made(result_of(b""))
    assert report.output.empty
    assert report.log.empty
    assert report.output.head_lines == report.output.tail_lines == ()


def test_names_from_the_downward_api_are_made_safe_for_a_header() -> None:
    report = made(environ={"LOGNOTIFY_POD_NAME": "pod\r\nX-Evil: 1\x1b[31m"})
    assert report.where == "pod X-Evil: 1 [31m"


def test_times_duration_memory_and_attempt_are_given_as_the_templates_need_them() -> None:
    memory = Memory(limit_bytes=1 << 30, peak_bytes=None, oom_killed=False)
    report = made(result_of(b"", memory=memory), attempt=Attempt(number=2, of=3))
    assert (report.started_at, report.ended_at) == ("2026-09-21T14:13:20Z", "2026-09-21T14:14:22Z")
    assert (report.duration, report.duration_seconds) == ("1m 2s", 62.5)
    assert report.memory == memory
    assert made().memory == Memory()
    assert report.attempt.words == "attempt 2 of 3"
    assert made().attempt == Attempt()


def test_the_attempts_of_a_watched_job_are_shown_in_utc_and_made_safe() -> None:
    class Seen:
        pod = "etl-1-a"
        node = None
        started = 1_790_000_000.0
        ended = None
        exit_code = 137
        reason = "OOMKilled"
        message = f"line\nbreak {SECRET}"

    (shown,) = made(attempts=[Seen()], environ={"API_TOKEN": SECRET}).attempts
    assert (shown.pod, shown.node, shown.exit_code, shown.reason) == (
        "etl-1-a",
        None,
        137,
        "OOMKilled",
    )
    assert (shown.started_at, shown.ended_at) == ("2026-09-21T14:13:20Z", None)
    assert shown.message == "line break [REDACTED]"
