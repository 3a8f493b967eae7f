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
    Failure,
    JobView,
    PodView,
    attempt,
    evicted,
    failure,
    part,
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
    meta = part(pod, "metadata")
    return timestamp(meta.get("creationTimestamp")) or 0.0, str(meta.get("name", ""))


def _ended(pod: Obj) -> tuple[float, float, str]:
    found = failure(pod)
    deleted = timestamp(part(pod, "metadata").get("deletionTimestamp"))
    created, name = _created(pod)
    return (found.ended if found else None) or deleted or created, created, name


def _failed(pod: Obj) -> bool:
    status = part(pod, "status")
    deleting = part(pod, "metadata").get("deletionTimestamp")
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


def _reason(job: JobView, last: Obj | None, found: Failure | None) -> tuple[str, str | None]:
    """The reason code and the API's sentence for it, by the contract's rules, in order."""
    status = part(last or {}, "status")
    said = status.get("message")
    if job.reason == DEADLINE or status.get("reason") == DEADLINE:
        return "deadline", job.message or (said if isinstance(said, str) else None)
    if found and found.reason == "OOMKilled":
        return "oom", job.message
    eviction = evicted(last) if last else None
    if eviction:
        return "evicted", eviction
    return ("signal" if found and found.signal else "exit"), job.message


def job_failure(job: JobView, pods: list[Obj]) -> Verdict:
    """The verdict on a Job that failed for good, from all of its pods (in any order)."""
    last = last_failed(pods)
    found = failure(last) if last else None
    code, message = _reason(job, last, found)
    spec = part(last or {}, "spec")
    containers = [c for c in spec.get("containers") or [] if isinstance(c, dict)]
    first = str(containers[0].get("name")) if containers else None
    node = spec.get("nodeName")
    return Verdict(
        attempts=tuple(attempt(pod) for pod in sorted(pods, key=_created)),
        pod=_created(last)[1] if last else None,
        node=node if isinstance(node, str) else None,
        container=found.container if found else first,
        previous=bool(found and found.previous),
        reason_code=code,
        exit_code=found.exit_code if found else 0,
        signal=found.signal if found else None,
        message=message or f"Job {job.name} failed.",
        reported_inside=reported_inside(found.message if found else None),
    )


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
