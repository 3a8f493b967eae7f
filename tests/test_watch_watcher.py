"""The watcher's core, driven by scripted event histories and a clock the test moves.

The events are what the readers would pass on (views of real-shaped objects); the API behind
the reports and the record is the test server, so a report is the real thing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kube_objects as k
import pytest
from kube_api import KubeAPI

from lognotify.kubernetes.watch.api import Api
from lognotify.kubernetes.watch.model import Incident, WatchOptions
from lognotify.kubernetes.watch.objects import job_view, pod_view
from lognotify.kubernetes.watch.state import Ledger, scope
from lognotify.kubernetes.watch.streams import Listed, Seen
from lognotify.kubernetes.watch.watcher import Watcher

T0 = 1_780_000_000.0
JOBS, PODS = "jobs in all namespaces", "pods in all namespaces"


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


class Rig:
    """A watcher, its clock, what it reported and said."""

    def __init__(
        self,
        kube: KubeAPI,
        tmp_path: Path,
        answers: list[bool] | None = None,
        stuck_after: float = 600,
    ) -> None:
        self.kube, self.clock, self.answers = kube, Clock(), list(answers or [])
        self.calls: list[Incident] = []
        self.lines: list[str] = []
        api = Api(kube.client(tmp_path / "kubeconfig"))
        self.ledger = Ledger(api, "lognotify", scope((), None))
        self.watcher = Watcher(
            WatchOptions(stuck_after=stuck_after),
            self.report,
            api=api,
            ledger=self.ledger,
            say=self.lines.append,
            clock=self.clock,
            sources=[JOBS, PODS],
        )

    def report(self, incident: Incident) -> bool:
        self.calls.append(incident)
        return self.answers.pop(0) if self.answers else True

    def job(self, obj: dict[str, Any], kind: str = "ADDED") -> None:
        self.watcher.take([Seen(kind="jobs", type=kind, view=job_view(obj), source=JOBS)])

    def pod(self, obj: dict[str, Any], kind: str = "ADDED") -> None:
        self.watcher.take([Seen(kind="pods", type=kind, view=pod_view(obj), source=PODS)])

    def listed(self, source: str, *objs: dict[str, Any]) -> None:
        kind = "jobs" if source == JOBS else "pods"
        uids = frozenset(obj["metadata"]["uid"] for obj in objs)
        self.watcher.take([Listed(kind=kind, source=source, uids=uids)])

    def run(self, later: float = 0) -> list[str]:
        """Move the clock on by ``later`` seconds, run what is due; the jobs reported so far."""
        self.clock.now += later
        self.watcher.run_due()
        return [incident.job for incident in self.calls]


@pytest.fixture
def rig(kube: KubeAPI, tmp_path: Path) -> Rig:
    return Rig(kube, tmp_path)


def _stuck(kube: KubeAPI, name: str, created: float) -> tuple[dict[str, Any], dict[str, Any]]:
    job = kube.add(k.job(name, "etl", created=created))
    return job, kube.add(k.waiting_pod(job, "ppppp", created=created))


def test_a_failed_job_seen_twice_is_one_report(kube: KubeAPI, rig: Rig) -> None:
    job = kube.add(k.job("a", "etl"))
    kube.add(k.failed_pod(job, "aaaaa", 3))
    failed = kube.replace(k.failed(job))
    rig.job(failed)
    rig.job(failed, "MODIFIED")
    assert rig.run() == ["a"]
    rig.job(failed, "MODIFIED")
    assert rig.run(3600) == ["a"]
    assert failed["metadata"]["uid"] in rig.ledger


def test_a_stuck_pod_is_reported_when_it_comes_of_age_and_not_before(
    kube: KubeAPI, rig: Rig
) -> None:
    job, pod = _stuck(kube, "pull-1", created=T0 - 100)
    rig.job(job)
    rig.pod(pod)
    assert rig.watcher.next_due() == T0 + 500
    assert rig.run(499) == []
    assert rig.run(1) == ["pull-1"]
    assert rig.run(3600) == ["pull-1"]
    rig.pod(pod, "MODIFIED")  # still stuck, already reported
    assert rig.run(1) == ["pull-1"]
    assert rig.watcher.stuck == {}


def test_a_stuck_pod_that_starts_in_time_is_never_reported(kube: KubeAPI, rig: Rig) -> None:
    job, pod = _stuck(kube, "pull-1", created=T0)
    rig.job(job)
    rig.pod(pod)
    running = k.pod(job, "ppppp", created=T0)
    running["metadata"]["uid"] = pod["metadata"]["uid"]
    rig.pod(running, "MODIFIED")  # the image came: it runs
    assert rig.run(3600) == []
    assert rig.watcher.stuck == {}


def test_a_stuck_pod_whose_job_comes_later_is_reported_when_it_comes(
    kube: KubeAPI, rig: Rig
) -> None:
    job, pod = _stuck(kube, "pull-1", created=T0 - 3600)
    rig.pod(pod)
    assert rig.run() == []  # not a Job the watcher knows (another selector's, or not seen yet)
    rig.job(job)
    assert rig.run() == ["pull-1"]


def test_the_stuck_pods_of_one_job_are_one_report(kube: KubeAPI, rig: Rig) -> None:
    job = kube.add(k.job("wide-1", "etl"))
    pods = [kube.add(k.waiting_pod(job, f"p{i}p{i}p", created=T0 - 3600 + i)) for i in range(3)]
    rig.job(job)
    for pod in pods:
        rig.pod(pod)
    assert rig.run() == ["wide-1"]
    assert len(rig.calls[0].attempts) == 3
    assert all(pod["metadata"]["uid"] in rig.ledger for pod in pods)


def test_a_report_not_taken_is_tried_again_with_backoff_and_recorded_once_taken(
    kube: KubeAPI, tmp_path: Path
) -> None:
    rig = Rig(kube, tmp_path, answers=[False, False, True])
    job = kube.add(k.job("a", "etl"))
    failed = kube.replace(k.failed(job))
    rig.job(failed)
    assert rig.run() == ["a"]
    assert failed["metadata"]["uid"] not in rig.ledger
    first = rig.watcher.next_due()
    assert first is not None
    assert T0 + 0.75 <= first <= T0 + 1
    assert rig.run(0.5) == ["a"]  # not yet
    assert rig.run(0.5) == ["a", "a"]
    second = rig.watcher.next_due()
    assert second is not None
    assert second - rig.clock.now >= 1.5
    assert rig.run(2) == ["a", "a", "a"]
    assert failed["metadata"]["uid"] in rig.ledger
    assert rig.watcher.next_due() is None
    assert sum("was not taken; trying again" in line for line in rig.lines) == 2


def test_a_report_function_that_raises_is_a_report_not_taken(kube: KubeAPI, rig: Rig) -> None:
    def broken(incident: Incident) -> bool:
        raise RuntimeError("template exploded")

    rig.watcher.report = broken
    job = kube.replace(k.failed(kube.add(k.job("a", "etl"))))
    rig.job(job)
    rig.run()
    assert "the report of Job etl/a failed: RuntimeError('template exploded')" in rig.lines
    assert job["metadata"]["uid"] not in rig.ledger
    assert rig.watcher.next_due() is not None


def test_stopping_ends_the_pass_after_the_report_in_flight(kube: KubeAPI, rig: Rig) -> None:
    for name in ("a", "b"):
        rig.job(kube.replace(k.failed(kube.add(k.job(name, "etl")))))

    def stop_after(incident: Incident) -> bool:
        rig.watcher.stopping = True
        rig.calls.append(incident)
        return True

    rig.watcher.report = stop_after
    assert rig.run() == ["a"]
    assert rig.watcher.next_due() is not None  # b waits for the next watcher


def test_running_and_finished_jobs_are_kept_only_while_running(kube: KubeAPI, rig: Rig) -> None:
    job = kube.add(k.job("a", "etl"))
    rig.job(job)
    assert set(rig.watcher.jobs) == {job["metadata"]["uid"]}
    rig.job(kube.replace(k.complete(job)), "MODIFIED")
    assert rig.watcher.jobs == {}
    assert rig.run() == []


def test_deleted_objects_leave_the_record_and_a_relist_prunes_once_all_have_listed(
    kube: KubeAPI, rig: Rig
) -> None:
    one = kube.replace(k.failed(kube.add(k.job("one", "etl"))))
    two = kube.replace(k.failed(kube.add(k.job("two", "etl"))))
    rig.job(one)
    rig.job(two)
    rig.run()
    rig.job(one, "DELETED")
    assert one["metadata"]["uid"] not in rig.ledger
    rig.ledger.add("vanished-while-away")
    rig.listed(JOBS, two)
    assert "vanished-while-away" in rig.ledger  # the pods have not listed yet
    rig.listed(PODS)
    assert "vanished-while-away" not in rig.ledger
    assert two["metadata"]["uid"] in rig.ledger
    rig.run()
    assert not rig.ledger.dirty  # the pruned record was written


def test_a_job_reported_from_inside_is_recorded_without_a_report(kube: KubeAPI, rig: Rig) -> None:
    job = kube.add(k.job("a", "etl"))
    kube.add(
        k.failed_pod(job, "aaaaa", 3, message="lognotify: FAILED a (exit 3); report sent <x@y>")
    )
    rig.job(kube.replace(k.failed(job)))
    assert rig.run() == []
    assert job["metadata"]["uid"] in rig.ledger
    assert rig.lines == ["Job etl/a failed; lognotify in its pod reported it already"]


def test_an_api_that_fails_while_a_report_is_put_together_is_tried_again(
    kube: KubeAPI, rig: Rig
) -> None:
    rig.job(kube.replace(k.failed(kube.add(k.job("a", "etl")))))
    kube.fail("GET", r"/pods$", 503)
    assert rig.run() == []
    assert rig.lines[0].startswith(
        "cannot put the report of Job etl/a together: list pods in etl: the API answered 503"
    )
    assert rig.run(1) == ["a"]
