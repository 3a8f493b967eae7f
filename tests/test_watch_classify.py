"""The contract's rules, from a failed Job and its pods to the reason, attempts and message."""

from __future__ import annotations

from typing import Any

import kube_objects as k
import pytest

from lognotify.capture import Capture
from lognotify.kubernetes.watch.classify import (
    job_failure,
    job_incident,
    last_failed,
    not_started,
    reported_inside,
    stuck_due,
)
from lognotify.kubernetes.watch.objects import job_view, pod_view

T0 = 1_780_000_000.0


def _job(reason: str = "BackoffLimitExceeded", **kwargs: Any) -> tuple[dict[str, Any], Any]:
    job = k.job("etl-29001", "etl", cronjob="etl", created=T0, **kwargs)
    return job, job_view(k.failed(job, reason=reason, at=T0 + 900))


def test_the_last_failed_pod_is_the_one_that_ended_last_whatever_the_order_given() -> None:
    job, _ = _job()
    early = k.failed_pod(job, "aaaaa", 1, started=T0 + 10)
    late = k.failed_pod(job, "zzzzz", 2, started=T0 + 500)
    middle = k.failed_pod(job, "mmmmm", 3, started=T0 + 200)
    assert last_failed([late, early, middle]) is late
    running = k.pod(job, "rrrrr", created=T0 + 800)
    assert last_failed([early, running]) is early
    assert last_failed([running]) is running
    assert last_failed([]) is None


def test_an_oom_killed_last_attempt_makes_the_reason_oom() -> None:
    job, view = _job()
    pods = [
        k.failed_pod(job, "bbbbb", 137, "OOMKilled", started=T0 + 300),
        k.failed_pod(job, "aaaaa", 1, started=T0 + 10),
    ]
    verdict = job_failure(view, pods)
    assert (verdict.reason_code, verdict.exit_code, verdict.signal) == ("oom", 137, 9)
    assert (verdict.pod, verdict.container, verdict.previous) == ("etl-29001-bbbbb", "main", False)
    assert [a.pod for a in verdict.attempts] == ["etl-29001-aaaaa", "etl-29001-bbbbb"]
    assert verdict.message == k.BACKOFF_LIMIT_MESSAGE


def test_an_earlier_oom_does_not_make_a_later_exit_oom() -> None:
    job, view = _job()
    pods = [
        k.failed_pod(job, "aaaaa", 137, "OOMKilled", started=T0 + 10),
        k.failed_pod(job, "bbbbb", 4, started=T0 + 300),
    ]
    verdict = job_failure(view, pods)
    assert (verdict.reason_code, verdict.exit_code) == ("exit", 4)


def test_the_jobs_deadline_comes_before_how_its_last_attempt_ended() -> None:
    job, view = _job("DeadlineExceeded", deadline=600)
    verdict = job_failure(view, [k.failed_pod(job, "aaaaa", 137, "OOMKilled", started=T0)])
    assert (verdict.reason_code, verdict.message) == ("deadline", k.DEADLINE_MESSAGE)


def test_a_pod_past_its_own_deadline_is_a_deadline_too() -> None:
    job, view = _job()
    pod = k.failed_pod(job, "aaaaa", 143, started=T0)
    pod["status"].update(
        reason="DeadlineExceeded",
        message="Pod was active on the node longer than the specified deadline",
    )
    verdict = job_failure(view, [pod])
    assert verdict.reason_code == "deadline"


def test_an_evicted_last_pod_gives_the_eviction_message() -> None:
    job, view = _job()
    verdict = job_failure(
        view, [k.evicted_pod(job, "aaaaa", "The node was low on resource: memory.")]
    )
    assert (verdict.reason_code, verdict.message, verdict.exit_code) == (
        "evicted",
        "The node was low on resource: memory.",
        137,
    )


@pytest.mark.parametrize(
    ("code", "reason", "expected"),
    [(143, "Error", "signal"), (3, "Error", "exit"), (139, "Error", "signal")],
)
def test_a_container_killed_by_a_signal_is_signal_else_exit(
    code: int, reason: str, expected: str
) -> None:
    job, view = _job()
    assert job_failure(view, [k.failed_pod(job, "aaaaa", code, reason)]).reason_code == expected


def test_a_job_without_pods_is_an_exit_of_0_with_the_jobs_message() -> None:
    _, view = _job()
    verdict = job_failure(view, [])
    assert (verdict.reason_code, verdict.exit_code, verdict.pod, verdict.attempts) == (
        "exit",
        0,
        None,
        (),
    )
    assert verdict.message == k.BACKOFF_LIMIT_MESSAGE


def test_a_restarted_container_is_read_from_its_previous_run() -> None:
    job, view = _job(restart_policy="OnFailure")
    last = {"terminated": k.terminated(2, "Error", started=T0, finished=T0 + 5)}
    state = {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off"}}
    pod = k.pod(job, "aaaaa", statuses=[k.container_status(state=state, last=last, restarts=3)])
    verdict = job_failure(view, [pod])
    assert (verdict.previous, verdict.exit_code, verdict.container) == (True, 2, "main")


@pytest.mark.parametrize(
    ("message", "inside"),
    [
        ("lognotify: FAILED x (exit 3); report sent <1.2@host>", True),
        ("starting\nlognotify: FAILED x (out of memory); report sent <a@b>\n", True),
        ("lognotify: FAILED x (exit 3); report not sent: connection refused", False),
        ("lognotify: FAILED x (exit 3); report saved /tmp/x.eml", False),
        ("lognotify: FAILED x (exit 3); no report: Kubernetes will retry (attempt 1 of 3)", False),
        ("my own program says: report sent <x@y>", False),
        (None, False),
    ],
)
def test_only_lognotifys_own_report_sent_counts_as_reported_inside(
    message: str | None, inside: bool
) -> None:
    assert reported_inside(message) is inside


def test_the_last_attempts_termination_message_decides_not_an_earlier_ones() -> None:
    job, view = _job()
    sent = "lognotify: FAILED etl (exit 3); report sent <1@h>"
    earlier = k.failed_pod(job, "aaaaa", 3, message=sent, started=T0)
    later = k.failed_pod(job, "bbbbb", 137, "OOMKilled", started=T0 + 300)
    assert not job_failure(view, [earlier, later]).reported_inside
    assert job_failure(view, [earlier]).reported_inside


def test_the_incident_carries_the_verdict_and_says_why_there_is_no_log() -> None:
    job, view = _job()
    verdict = job_failure(view, [k.failed_pod(job, "aaaaa", 3, started=T0 + 10)])
    capture = Capture(100)
    capture.append(b"x\n", 1)
    with_log = job_incident(view, verdict, capture.snapshot(), None, T0 + 1000)
    assert (with_log.kind, with_log.key, with_log.cronjob) == ("job-failed", view.uid, "etl")
    assert (with_log.started, with_log.ended, with_log.message) == (
        T0 + 1,
        T0 + 900,
        k.BACKOFF_LIMIT_MESSAGE,
    )
    assert with_log.output is not None
    assert with_log.output.data == b"x\n"
    without = job_incident(
        view, verdict, None, "The log of pod etl-29001-aaaaa is gone.", T0 + 1000
    )
    assert without.message == f"{k.BACKOFF_LIMIT_MESSAGE} The log of pod etl-29001-aaaaa is gone."


def test_stuck_pods_of_one_job_are_one_incident_named_by_the_oldest() -> None:
    job = k.job("pull-1", "etl", created=T0)
    young = pod_view(k.waiting_pod(job, "bbbbb", created=T0 + 50))
    old = pod_view(
        k.waiting_pod(job, "aaaaa", "ErrImagePull", message="no such image", created=T0 + 5)
    )
    incident = not_started(job_view(job), [young, old], T0 + 2000)
    assert (incident.kind, incident.key, incident.reason_code) == (
        "not-started",
        old.uid,
        "not-started",
    )
    assert (incident.pod, incident.message, incident.exit_code, incident.output) == (
        "pull-1-aaaaa",
        "no such image",
        0,
        None,
    )
    assert [a.pod for a in incident.attempts] == ["pull-1-aaaaa", "pull-1-bbbbb"]
    assert (incident.started, incident.ended) == (T0 + 5, T0 + 2000)


def test_a_stuck_pod_comes_of_age_stuck_after_its_creation() -> None:
    job = k.job("pull-1", "etl")
    assert stuck_due(pod_view(k.waiting_pod(job, "a", created=T0)), 600, T0 + 5) == T0 + 600
    assert stuck_due(pod_view(k.pod(job, "b", created=T0)), 600, T0 + 5) is None
