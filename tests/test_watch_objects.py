"""Reading Jobs and pods: the views the watcher keeps, and how a pod ended.

The objects come from kube_objects (shaped as a cluster writes them, validated against the real
schemas); a property test feeds the readers JSON of any shape, which the API could send.
"""

from __future__ import annotations

import time
from typing import Any

import kube_objects as k
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lognotify.kubernetes.watch.objects import (
    STUCK_REASONS,
    attempt,
    evicted,
    failure,
    job_view,
    pod_view,
    stuck,
    timestamp,
)

T0 = 1_780_000_000.0


@given(st.integers(min_value=0, max_value=4_000_000_000))
def test_a_time_the_api_writes_reads_back_to_the_same_second(when: int) -> None:
    assert timestamp(k.rfc3339(when)) == when


def test_times_with_fractions_or_nonsense() -> None:
    assert timestamp("2026-05-01T02:03:04.500000Z") == timestamp("2026-05-01T02:03:04Z") + 0.5  # type: ignore[operator]
    assert [timestamp(v) for v in (None, "", "yesterday", 12)] == [None, None, None, None]


def test_a_cronjobs_failed_job_is_seen_as_failed_with_its_condition() -> None:
    job = k.failed(k.job("etl-29001", "etl", cronjob="etl", created=T0), at=T0 + 100)
    view = job_view(job)
    assert (view.namespace, view.name, view.cronjob) == ("etl", "etl-29001", "etl")
    assert (view.failed, view.finished, view.reason) == (True, True, "BackoffLimitExceeded")
    assert (view.message, view.started, view.ended) == (k.BACKOFF_LIMIT_MESSAGE, T0 + 1, T0 + 100)


def test_a_running_job_and_a_complete_one() -> None:
    running = job_view(k.job("a", cronjob=None))
    assert (running.failed, running.finished, running.cronjob, running.ended) == (
        False,
        False,
        None,
        None,
    )
    done = job_view(k.complete(k.job("b")))
    assert (done.failed, done.finished) == (False, True)


def test_a_failed_condition_that_is_not_true_is_not_a_failure() -> None:
    job = k.failed(k.job("a"))
    for cond in job["status"]["conditions"]:
        cond["status"] = "False"
    assert not job_view(job).failed


def test_a_pod_knows_its_job_by_owner_or_else_by_label() -> None:
    job = k.job("etl-1", "etl")
    pod = k.failed_pod(job, "abcde", 1)
    view = pod_view(pod)
    assert (view.job_uid, view.job, view.node) == (job["metadata"]["uid"], "etl-1", "node-1")
    del pod["metadata"]["ownerReferences"]
    assert pod_view(pod).job_uid == job["metadata"]["uid"]


@pytest.mark.parametrize("reason", sorted(STUCK_REASONS))
def test_a_pending_pod_waiting_for_ever_is_stuck(reason: str) -> None:
    pod = k.waiting_pod(k.job("a"), "x", reason, message="why not")
    assert stuck(pod) == stuck(pod)
    assert pod_view(pod).stuck is not None
    found = pod_view(pod).stuck
    assert found is not None
    assert (found.container, found.reason, found.message) == ("main", reason, "why not")


def test_an_unschedulable_pod_is_stuck_without_a_container() -> None:
    found = stuck(k.unschedulable_pod(k.job("a"), "x", "0/3 nodes are available."))
    assert found is not None
    assert (found.container, found.reason, found.message) == (
        None,
        "Unschedulable",
        "0/3 nodes are available.",
    )


def test_pods_that_are_on_their_way_are_not_stuck() -> None:
    job = k.job("a")
    deleting = k.waiting_pod(job, "d")
    deleting["metadata"]["deletionTimestamp"] = k.now_rfc3339()
    running = k.pod(job, "r")
    assert [stuck(pod) for pod in (deleting, running)] == [None, None]
    # ContainerCreating is a candidate: only its age (stuck_after, decided by the watcher)
    # tells a slow image from a volume that will never mount (a missing Secret)
    creating = stuck(k.waiting_pod(job, "c", "ContainerCreating"))
    assert creating is not None
    assert creating.reason == "ContainerCreating"


def test_a_restarted_container_failed_in_its_previous_run() -> None:
    job = k.job("a", restart_policy="OnFailure")
    last = {"terminated": k.terminated(2, "Error", started=T0, finished=T0 + 5)}
    state = {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 10s restarting"}}
    pod = k.pod(job, "x", statuses=[k.container_status(state=state, last=last, restarts=1)])
    found = failure(pod)
    assert found is not None
    assert (found.container, found.exit_code, found.previous, found.ended) == (
        "main",
        2,
        True,
        T0 + 5,
    )


def test_the_oom_killed_container_is_the_failure_whatever_else_failed() -> None:
    job = k.job("a", containers=("sidecar", "main"))
    side = {"terminated": k.terminated(1, "Error", name="sidecar", started=T0, finished=T0 + 9)}
    main = {"terminated": k.terminated(137, "OOMKilled", started=T0, finished=T0 + 8)}
    statuses = [k.container_status("sidecar", state=side), k.container_status("main", state=main)]
    pod = k.pod(job, "x", phase="Failed", statuses=statuses)
    found = failure(pod)
    assert found is not None
    assert (found.container, found.signal) == ("main", 9)


@pytest.mark.parametrize(
    ("code", "reason", "signal"),
    [
        (143, "Error", 15),
        (137, "Error", 9),
        (137, "ContainerStatusUnknown", None),
        (3, "Error", None),
        (255, "Error", None),
    ],
)
def test_an_exit_above_128_is_a_signal_only_when_the_reason_says_so(
    code: int, reason: str, signal: int | None
) -> None:
    found = failure(k.failed_pod(k.job("a"), "x", code, reason))
    assert found is not None
    assert found.signal == signal


def test_a_signal_the_runtime_gives_is_taken_as_it_is() -> None:
    pod = k.failed_pod(k.job("a"), "x", 2, "Error")
    pod["status"]["containerStatuses"][0]["state"]["terminated"]["signal"] = 6
    found = failure(pod)
    assert found is not None
    assert found.signal == 6


def test_evictions_by_reason_or_by_disruption_condition() -> None:
    pod = k.evicted_pod(k.job("a"), "x", "The node was low on resource: memory.")
    assert evicted(pod) == "The node was low on resource: memory."
    del pod["status"]["reason"]
    assert evicted(pod) == "The node was low on resource: memory."
    assert attempt(pod).reason == "Evicted"
    pod["status"]["conditions"][0]["reason"] = "SomethingElse"
    assert evicted(pod) is None
    assert evicted(k.failed_pod(k.job("a"), "y", 1)) is None


def test_an_attempt_says_where_when_and_how_it_ended() -> None:
    pod = k.failed_pod(k.job("a"), "x", 3, message="boom", started=T0, took=20)
    assert attempt(pod) == attempt(pod)
    found = attempt(pod)
    assert (found.pod, found.node, found.exit_code, found.signal) == ("a-x", "node-1", 3, None)
    assert (found.reason, found.message, found.ended) == ("Error", "boom", T0 + 20)
    waiting = attempt(k.waiting_pod(k.job("a"), "w", message="no image"))
    assert (waiting.reason, waiting.message, waiting.exit_code) == (
        "ImagePullBackOff",
        "no image",
        None,
    )


KEYS = [
    "metadata",
    "status",
    "spec",
    "containerStatuses",
    "initContainerStatuses",
    "state",
    "lastState",
    "terminated",
    "waiting",
    "exitCode",
    "reason",
    "message",
    "conditions",
    "type",
    "phase",
    "ownerReferences",
    "kind",
    "labels",
    "uid",
    "name",
    "signal",
    "creationTimestamp",
    "deletionTimestamp",
    "nodeName",
    "containers",
    "controller",
]
JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.sampled_from(["Pending", "Failed", "True", "Job", "Evicted", "OOMKilled"])
    | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(KEYS), inner, max_size=6)
    ),
    max_leaves=12,
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(KEYS), JSON, max_size=5))
def test_an_object_of_any_shape_is_read_without_raising(obj: dict[str, Any]) -> None:
    job_view(obj)
    pod_view(obj)
    attempt(obj)
    failure(obj)
    evicted(obj)


def test_views_are_small_and_hold_no_object() -> None:
    pod = k.failed_pod(k.job("a"), "x", 1, started=time.time())
    view = pod_view(pod)
    assert not hasattr(view, "__dict__")
    assert all(not isinstance(getattr(view, field), dict) for field in view._fields)


def test_a_container_still_creating_after_stuck_after_is_stuck() -> None:
    # a missing Secret volume: the pod waits in ContainerCreating, and the Job never fails
    from lognotify.kubernetes.watch.objects import STUCK_REASONS

    assert "ContainerCreating" in STUCK_REASONS
