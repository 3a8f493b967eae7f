"""Pure: the contract's rules, from a failed Job and its pods to what the report says.

A Job that failed for good is one incident. Its reason is ``deadline`` when the Job (or its
last pod) ran past its deadline, ``oom`` when the last failed pod's container was OOM-killed,
``evicted`` when the system took that pod away, else that container's ``signal`` or ``exit``.
The deadline comes first: a Job stopped by its deadline kills whatever attempt was running,
and that attempt's own ending says less than the Job's. A Job whose last failed container
left the termination message ``...; report sent <id>`` was mailed from inside already.
"""

from __future__ import annotations

from lognotify.kubernetes.watch.model import JOB_FAILED, NOT_STARTED, Incident, PodAttempt
from lognotify.kubernetes.watch.objects import (
    JobView,
    PodView,
    attempt,
    evicted,
    failure,
    timestamp,
)
from lognotify.record import Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from lognotify.capture import Snapshot
    from lognotify.kubernetes.watch.objects import Obj

DEADLINE = "DeadlineExceeded"


class Verdict(Record):
    """What a failed Job's pods say: its attempts, its last failed pod, and why it failed."""

    attempts: tuple[PodAttempt, ...]
    pod: str | None  # the last failed pod, whose log is read
    node: str | None
    container: str | None
    previous: bool  # that container restarted since: its log is the previous one
    reason_code: str
    exit_code: int
    signal: int | None
    message: str
    reported_inside: bool  # its termination message says the in-pod lognotify mailed it


def _created(pod: Obj) -> tuple[float, str]:
    meta = pod.get("metadata") or {}
    return timestamp(meta.get("creationTimestamp")) or 0.0, str(meta.get("name", ""))


def _ended(pod: Obj) -> tuple[float, float, str]:
    found = failure(pod)
    deleted = timestamp((pod.get("metadata") or {}).get("deletionTimestamp"))
    created, name = _created(pod)
    return (found.ended if found else None) or deleted or created, created, name


def _failed(pod: Obj) -> bool:
    status = pod.get("status") or {}
    deleting = (pod.get("metadata") or {}).get("deletionTimestamp")
    return status.get("phase") == "Failed" or failure(pod) is not None or bool(deleting)


def last_failed(pods: list[Obj]) -> Obj | None:
    """The pod that failed last (the last one to end among the failed), else the newest pod."""
    failed = [pod for pod in pods if _failed(pod)]
    if failed:
        return max(failed, key=_ended)
    return max(pods, key=_created) if pods else None


def reported_inside(message: str | None) -> bool:
    """Whether a termination message is lognotify's own, saying that a server took the report."""
    return any(
        line.startswith("lognotify: ") and "; report sent " in line
        for line in (message or "").splitlines()
    )


def job_failure(job: JobView, pods: list[Obj]) -> Verdict:
    """The verdict on a Job that failed for good, from all of its pods (in any order)."""
    last = last_failed(pods)
    found = failure(last) if last else None
    status = (last or {}).get("status") or {}
    eviction = evicted(last) if last else None
    if job.reason == DEADLINE or status.get("reason") == DEADLINE:
        code, message = "deadline", job.message or status.get("message")
    elif found and found.reason == "OOMKilled":
        code, message = "oom", job.message
    elif eviction:
        code, message = "evicted", eviction
    else:
        code = "signal" if found and found.signal else "exit"
        message = job.message
    container = found.container if found else _first_container(last)
    return Verdict(
        attempts=tuple(attempt(pod) for pod in sorted(pods, key=_created)),
        pod=str(last["metadata"]["name"]) if last else None,
        node=((last or {}).get("spec") or {}).get("nodeName"),
        container=container,
        previous=bool(found and found.previous),
        reason_code=code,
        exit_code=found.exit_code if found else 0,
        signal=found.signal if found else None,
        message=message or f"Job {job.name} failed.",
        reported_inside=reported_inside(found.message if found else None),
    )


def _first_container(pod: Obj | None) -> str | None:
    containers = ((pod or {}).get("spec") or {}).get("containers") or []
    return str(containers[0].get("name")) if containers else None


def job_incident(
    job: JobView, verdict: Verdict, output: Snapshot | None, note: str | None, now: float
) -> Incident:
    """The incident for a failed Job; ``note`` says why there is no log, when there is none."""
    starts = [one.started for one in verdict.attempts if one.started is not None]
    return Incident(
        kind=JOB_FAILED,
        key=job.uid,
        namespace=job.namespace,
        job=job.name,
        cronjob=job.cronjob,
        pod=verdict.pod,
        node=verdict.node,
        container=verdict.container,
        reason_code=verdict.reason_code,
        exit_code=verdict.exit_code,
        signal=verdict.signal,
        message=f"{verdict.message} {note}" if note else verdict.message,
        attempts=verdict.attempts,
        started=min([*starts, job.started or now]),
        ended=job.ended or now,
        output=output,
    )


def stuck_due(pod: PodView, stuck_after: float, now: float) -> float | None:
    """When a stuck pod comes of age (at ``now`` if its age is unknown); None when not stuck."""
    if pod.stuck is None:
        return None
    return (pod.created if pod.created is not None else now) + stuck_after


def not_started(job: JobView, pods: list[PodView], now: float) -> Incident:
    """The incident for the stuck pods of one Job (the oldest named), reason ``not-started``."""
    ordered = sorted(pods, key=lambda pod: (pod.created or now, pod.name))
    first = ordered[0]
    why = first.stuck
    return Incident(
        kind=NOT_STARTED,
        key=first.uid,
        namespace=first.namespace,
        job=job.name,
        cronjob=job.cronjob,
        pod=first.name,
        node=first.node,
        container=why.container if why else None,
        reason_code=NOT_STARTED,
        exit_code=0,
        signal=None,
        message=why.message if why else f"Pod {first.name} has not started.",
        attempts=tuple(
            PodAttempt(
                pod=pod.name,
                node=pod.node,
                started=None,
                ended=None,
                exit_code=None,
                signal=None,
                reason=pod.stuck.reason if pod.stuck else None,
                message=pod.stuck.message if pod.stuck else None,
            )
            for pod in ordered
        ),
        started=first.created or now,
        ended=now,
        output=None,
    )
