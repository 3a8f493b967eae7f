"""The watcher's records: one attempt of a Job, one incident to report, the options of a watch."""

from __future__ import annotations

from lognotify.record import Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from lognotify.capture import Snapshot

#: ``Incident.kind``: a Job that failed for good, and a Job pod that never started.
JOB_FAILED = "job-failed"
NOT_STARTED = "not-started"


class PodAttempt(Record):
    """One attempt (one pod) of a Job, as the API describes it; times are epoch seconds.

    ``signal`` is set when the container died of a signal (``exit_code`` above 128 and the
    reason saying so), else None. ``reason`` and ``message`` are the API's own words:
    ``OOMKilled``, ``Error``, ``Evicted``, ``DeadlineExceeded``, ``ImagePullBackOff``, ...
    """

    pod: str
    node: str | None
    started: float | None
    ended: float | None
    exit_code: int | None
    signal: int | None
    reason: str | None
    message: str | None


class Incident(Record):
    """One thing to report, once: a Job that failed for good, or a Job pod that never started.

    ``key`` is what is recorded as reported: the Job's uid (``job-failed``) or the pod's uid
    (``not-started``). ``pod``, ``node`` and ``container`` name the last failed (or stuck) pod
    and its container; ``exit_code`` is that container's (0 when it never ran). ``reason_code``
    is one of ``oom``, ``deadline``, ``evicted``, ``exit``, ``signal``, ``not-started``.
    ``attempts`` lists every attempt, oldest first; ``output`` is the last failed pod's log as
    the API gave it (None when there is none, and then ``message`` says why).
    """

    kind: str
    key: str
    namespace: str
    job: str
    cronjob: str | None
    pod: str | None
    node: str | None
    container: str | None
    reason_code: str
    exit_code: int
    signal: int | None
    message: str
    attempts: tuple[PodAttempt, ...]
    started: float
    ended: float
    output: Snapshot | None


class WatchOptions(Record):
    """What ``run_watch`` watches, and how.

    No ``namespaces``: all of them. ``selector``: a label selector for Jobs. ``stuck_after``:
    seconds before a pod that has not started is reported. ``once``: one pass, then return.
    ``max_bytes``: bytes of a pod's log kept. ``state_namespace``: where the record of what was
    reported is kept (None: the watcher's own namespace, found as the README says).
    """

    namespaces: tuple[str, ...] = ()
    selector: str | None = None
    stuck_after: float = 600.0
    once: bool = False
    max_bytes: int = 1 << 20
    state_namespace: str | None = None
