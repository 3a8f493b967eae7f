"""The watch entry: an incident becomes a RunResult in mode ``watch`` and goes through the one
report path; its flags are checked before anything is watched. In-process, without a cluster
(the watcher itself is tested against a test API server in test_watch_*.py)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from helpers import outbox_messages, text_body

from lognotify.capture import Capture
from lognotify.console import Console
from lognotify.kubernetes.watch.model import JOB_FAILED, NOT_STARTED, Incident, PodAttempt
from lognotify.settings import load_settings
from lognotify.watcher import incident_result, report_incident, watch_main

STARTED = 1_790_000_000.0


def incident(**changes: object) -> Incident:
    log = Capture()
    log.append(b"loading\nERROR: out of memory soon\n")
    attempt = PodAttempt(
        pod="etl-29001230-abcde",
        node="node-3",
        started=STARTED,
        ended=STARTED + 60,
        exit_code=137,
        signal=9,
        reason="OOMKilled",
        message=None,
    )
    values: dict[str, object] = {
        "kind": JOB_FAILED,
        "key": "uid-1",
        "namespace": "batch",
        "job": "etl-29001230",
        "cronjob": "etl",
        "pod": "etl-29001230-abcde",
        "node": "node-3",
        "container": "main",
        "reason_code": "oom",
        "exit_code": 137,
        "signal": 9,
        "message": "",
        "attempts": (attempt,),
        "started": STARTED,
        "ended": STARTED + 60,
        "output": log.snapshot(),
    }
    values.update(changes)
    return Incident(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("changes", "code", "sentence", "short"),
    [
        ({}, "oom", "ran out of memory (its container was OOMKilled)", "out of memory"),
        (
            {"reason_code": "deadline", "message": "Job was active longer than specified"},
            "deadline",
            "ran past its activeDeadlineSeconds (DeadlineExceeded): Job was active longer than "
            "specified",
            "deadline exceeded",
        ),
        ({"reason_code": "evicted"}, "evicted", "its pod was evicted", "evicted"),
        (
            {"reason_code": "signal", "signal": 6, "exit_code": 134},
            "signal",
            "killed by SIGABRT",
            "SIGABRT",
        ),
        (
            {"reason_code": "exit", "signal": None, "exit_code": 3},
            "exit",
            "exited with status 3",
            "exit 3",
        ),
        (
            {
                "kind": NOT_STARTED,
                "reason_code": "not-started",
                "exit_code": 0,
                "message": "ImagePullBackOff",
            },
            "not-started",
            "its pod did not start: ImagePullBackOff",
            "not started",
        ),
    ],
)
def test_an_incident_becomes_a_watch_result_with_the_contracts_reason(
    changes: dict[str, object], code: str, sentence: str, short: str
) -> None:
    result = incident_result(incident(**changes))
    assert result.mode == "watch"
    assert (result.reason.code, result.reason.sentence, result.reason.short) == (
        code,
        sentence,
        short,
    )
    assert result.failed
    assert result.program == "etl-29001230"
    assert result.command == "job batch/etl-29001230"
    assert (result.started, result.ended) == (STARTED, STARTED + 60)


def test_an_incident_without_a_log_has_an_empty_output() -> None:
    result = incident_result(incident(output=None))
    assert result.output.total_bytes == 0


def test_an_incident_is_reported_through_the_one_report_path(tmp_path: Path) -> None:
    settings = load_settings({"outbox": str(tmp_path), "termination_log": ""}, {})
    said = io.StringIO()
    assert report_incident(incident(), settings, Console(said)) is True  # saved: it counts
    (message,) = outbox_messages(tmp_path)
    assert message["X-Lognotify-Job"] == "etl"  # its CronJob's name
    assert message["X-Lognotify-Reason"] == "oom"
    assert message["X-Lognotify-Exit-Code"] == "137"
    assert message["Subject"] == "[lognotify] FAILED etl (out of memory) on etl-29001230-abcde"
    text = text_body(message)
    assert "kubectl describe job -n batch etl-29001230" in text
    assert "etl-29001230-abcde on node-3" in text  # the attempts, listed
    assert "2 !| ERROR: out of memory soon" in text
    assert "report written to" in said.getvalue()


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["--stuck-after", "soon"], "--stuck-after"),
        (["--namespace", "a\nb"], "--namespace"),
        (["--smtp-port", "x"], "--smtp-port"),
        (["--timeout", "5"], "unrecognized arguments"),
    ],
)
def test_a_malformed_watch_flag_is_one_line_and_exit_2(
    argv: list[str], named: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    for name in [name for name in os.environ if name.startswith("LOGNOTIFY_")]:
        monkeypatch.delenv(name)
    said = io.StringIO()
    assert watch_main(argv, Console(said)) == 2
    (line,) = said.getvalue().splitlines()
    assert line.startswith(f"lognotify: {named}")
