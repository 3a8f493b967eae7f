"""Pure: the few fields the watcher needs, read from the API's JSON objects (Jobs and pods).

The watcher never keeps a whole object: a Job becomes a ``JobView`` and a pod a ``PodView``
(what deciding needs), and a failed pod an attempt and its failed container, when a report is
being written. Every reader here accepts what the API may leave out (a field that is absent,
null or of another shape) and answers None rather than raising.
"""

from __future__ import annotations

from datetime import datetime

from lognotify.kubernetes.watch.model import PodAttempt
from lognotify.record import Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    Obj = dict[str, Any]

#: Waiting reasons of a container that will not start by itself (the contract's list).
STUCK_REASONS = frozenset(
    {
        "ImagePullBackOff",
        "ErrImagePull",
        "CreateContainerConfigError",
        "CreateContainerError",
        # a volume that cannot be mounted (a missing Secret or ConfigMap) leaves the container
        # here, with no other word from the pod itself: after stuck_after, it is stuck too
        "ContainerCreating",
    }
)
#: The labels the Job controller puts on its pods: the new name first (Kubernetes >= 1.27).
JOB_UID_LABELS = ("batch.kubernetes.io/controller-uid", "controller-uid")
#: DisruptionTarget reasons of a pod taken away by the system rather than failed by itself.
EVICTION_REASONS = frozenset(
    {
        "EvictionByEvictionAPI",
        "TerminationByKubelet",
        "PreemptionByScheduler",
        "DeletionByTaintManager",
        "DeletionByPodGC",
    }
)
#: Container reasons under which an exit code above 128 means "killed by signal N".
SIGNAL_REASONS = frozenset({"Error", "OOMKilled"})


class JobView(Record):
    """What the watcher keeps of a Job: who it is and whether, and why, it has finished."""

    uid: str
    namespace: str
    name: str
    cronjob: str | None = None
    failed: bool = False
    finished: bool = False  # Complete or Failed: nothing more will happen to it
    reason: str | None = None  # of the Failed condition: BackoffLimitExceeded, DeadlineExceeded
    message: str | None = None
    started: float | None = None
    ended: float | None = None


class Stuck(Record):
    """Why a pod has not started: a waiting container, or no node to run on (container None)."""

    container: str | None
    reason: str
    message: str


class PodView(Record):
    """What the watcher keeps of a Job's pod: whose it is, when it was made, whether it is stuck."""

    uid: str
    namespace: str
    name: str
    job_uid: str | None = None
    job: str | None = None
    node: str | None = None
    created: float | None = None
    stuck: Stuck | None = None


class Failure(Record):
    """The container that failed a pod: its last termination, and whether that was a restart."""

    container: str
    exit_code: int
    signal: int | None
    reason: str | None
    message: str | None
    started: float | None
    ended: float | None
    previous: bool  # the log of that run is the container's previous one


def timestamp(value: object) -> float | None:
    """Epoch seconds of an RFC 3339 time as the API writes it (``2024-05-01T02:03:04Z``)."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _dict(value: object) -> Obj:
    return value if isinstance(value, dict) else {}


def part(obj: Obj, key: str) -> Obj:
    """``obj[key]`` when it is a mapping, else an empty one."""
    return _dict(obj.get(key))


def _list(value: object) -> list[Obj]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def owner(meta: Obj, kind: str) -> Obj | None:
    """The controlling owner reference of that kind (a Job's CronJob, a pod's Job)."""
    refs = [ref for ref in _list(meta.get("ownerReferences")) if ref.get("kind") == kind]
    controllers = [ref for ref in refs if ref.get("controller")]
    return (controllers or refs)[0] if refs else None


def condition(status: Obj, kind: str) -> Obj | None:
    """The condition of that type, whatever its status."""
    for cond in _list(status.get("conditions")):
        if cond.get("type") == kind:
            return cond
    return None


def job_view(obj: Obj) -> JobView:
    """A Job object, reduced to a ``JobView``."""
    meta, status = _dict(obj.get("metadata")), _dict(obj.get("status"))
    cron = owner(meta, "CronJob")
    failed = condition(status, "Failed")
    is_failed = bool(failed and failed.get("status") == "True")
    complete = condition(status, "Complete")
    failed = failed if is_failed else None
    return JobView(
        uid=str(meta.get("uid", "")),
        namespace=str(meta.get("namespace", "")),
        name=str(meta.get("name", "")),
        cronjob=_str(cron.get("name")) if cron else None,
        failed=is_failed,
        finished=is_failed or bool(complete and complete.get("status") == "True"),
        reason=_str(failed.get("reason")) if failed else None,
        message=_str(failed.get("message")) if failed else None,
        started=timestamp(status.get("startTime")) or timestamp(meta.get("creationTimestamp")),
        ended=timestamp(failed.get("lastTransitionTime")) if failed else None,
    )


def pod_view(obj: Obj) -> PodView:
    """A pod object, reduced to a ``PodView`` (``stuck`` set while it cannot start)."""
    meta, spec = _dict(obj.get("metadata")), _dict(obj.get("spec"))
    labels = _dict(meta.get("labels"))
    job = owner(meta, "Job")
    job_uid = _str(job.get("uid")) if job else None
    job_uid = job_uid or next((_str(labels.get(key)) for key in JOB_UID_LABELS), None)
    return PodView(
        uid=str(meta.get("uid", "")),
        namespace=str(meta.get("namespace", "")),
        name=str(meta.get("name", "")),
        job_uid=job_uid,
        job=_str(job.get("name")) if job else _str(labels.get("batch.kubernetes.io/job-name")),
        node=_str(spec.get("nodeName")),
        created=timestamp(meta.get("creationTimestamp")),
        stuck=stuck(obj),
    )


def stuck(obj: Obj) -> Stuck | None:
    """Why a pending pod cannot start by itself; None when it is not stuck (or not pending)."""
    meta, status = _dict(obj.get("metadata")), _dict(obj.get("status"))
    if status.get("phase", "Pending") != "Pending" or meta.get("deletionTimestamp"):
        return None
    statuses = _list(status.get("initContainerStatuses")) + _list(status.get("containerStatuses"))
    for container in statuses:
        waiting = _dict(_dict(container.get("state")).get("waiting"))
        reason = _str(waiting.get("reason"))
        if reason in STUCK_REASONS:
            message = _str(waiting.get("message")) or reason
            return Stuck(container=_str(container.get("name")), reason=reason, message=message)
    scheduled = condition(status, "PodScheduled")
    if scheduled and scheduled.get("status") == "False":
        reason = _str(scheduled.get("reason")) or "Unschedulable"
        return Stuck(
            container=None, reason=reason, message=_str(scheduled.get("message")) or reason
        )
    return None


def _signal(terminated: Obj, code: int) -> int | None:
    signal = terminated.get("signal")
    if type(signal) is int and signal > 0:
        return signal
    if 128 < code <= 128 + 64 and terminated.get("reason") in SIGNAL_REASONS:
        return code - 128
    return None


def _failure(container: Obj) -> Failure | None:
    for key, previous in (("state", False), ("lastState", True)):
        terminated = _dict(_dict(container.get(key)).get("terminated"))
        code = terminated.get("exitCode")
        if type(code) is int and code != 0:
            return Failure(
                container=str(container.get("name", "")),
                exit_code=code,
                signal=_signal(terminated, code),
                reason=_str(terminated.get("reason")),
                message=_str(terminated.get("message")),
                started=timestamp(terminated.get("startedAt")),
                ended=timestamp(terminated.get("finishedAt")),
                previous=previous,
            )
    return None


def failure(obj: Obj) -> Failure | None:
    """The container that failed this pod (an OOM-killed one first), or None."""
    status = _dict(obj.get("status"))
    statuses = _list(status.get("initContainerStatuses")) + _list(status.get("containerStatuses"))
    failures = [found for found in map(_failure, statuses) if found]
    oom = [found for found in failures if found.reason == "OOMKilled"]
    return (oom or failures)[0] if failures else None


def evicted(obj: Obj) -> str | None:
    """The eviction's message when the system took this pod away (eviction, preemption)."""
    status = _dict(obj.get("status"))
    if status.get("reason") == "Evicted":
        return _str(status.get("message")) or "The pod was evicted."
    target = condition(status, "DisruptionTarget")
    if target and target.get("status") == "True" and target.get("reason") in EVICTION_REASONS:
        return _str(target.get("message")) or str(target["reason"])
    return None


def attempt(obj: Obj) -> PodAttempt:
    """One pod of a Job as an attempt: where and when it ran, how it ended."""
    meta, spec, status = (_dict(obj.get(key)) for key in ("metadata", "spec", "status"))
    failed, waiting, eviction = failure(obj), stuck(obj), evicted(obj)
    reason = _str(status.get("reason")) or (failed.reason if failed else None)
    message = _str(status.get("message")) or (failed.message if failed else None)
    if eviction and not _str(status.get("reason")):
        reason, message = "Evicted", eviction
    elif not failed and waiting:
        reason, message = waiting.reason, waiting.message
    ended = failed.ended if failed else None
    return PodAttempt(
        pod=str(meta.get("name", "")),
        node=_str(spec.get("nodeName")),
        started=timestamp(status.get("startTime")) or (failed.started if failed else None),
        ended=ended or timestamp(meta.get("deletionTimestamp")),
        exit_code=failed.exit_code if failed else _exit_code(status),
        signal=failed.signal if failed else None,
        reason=reason,
        message=message,
    )


def _exit_code(status: Obj) -> int | None:
    for container in _list(status.get("containerStatuses")):
        code = _dict(_dict(container.get("state")).get("terminated")).get("exitCode")
        if type(code) is int:
            return code
    return None
