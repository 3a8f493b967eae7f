"""An incident, put together from the API: a failed Job's pods and its last failed pod's log.

The pods are listed afresh when the Job has failed (the watcher keeps no pod of a running Job),
so the attempts are all there, whatever the watch saw. The log is read through the API into
the bounded capture: its head and its tail within ``max_bytes``, whatever its size. A log
that is gone (the pod deleted, its node lost) gives no output, and the message says why.
"""

from __future__ import annotations

from lognotify.capture import Capture
from lognotify.kubernetes.watch import classify
from lognotify.kubernetes.watch.api import ApiError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from lognotify.capture import Snapshot
    from lognotify.kubernetes.watch.api import Api
    from lognotify.kubernetes.watch.model import Incident
    from lognotify.kubernetes.watch.objects import JobView


def job_failed(api: Api, job: JobView, max_bytes: int, now: float) -> Incident | None:
    """The incident for a Job that failed for good; None when lognotify mailed it from inside.

    Raises ``ApiError`` when the API cannot be asked (the watcher tries again later).
    """
    verdict = classify.job_failure(job, api.job_pods(job.namespace, job.uid))
    if verdict.reported_inside:
        return None
    output, note = log_of(api, job.namespace, verdict, max_bytes)
    return classify.job_incident(job, verdict, output, note, now)


def log_of(
    api: Api, namespace: str, verdict: classify.Verdict, max_bytes: int
) -> tuple[Snapshot | None, str | None]:
    """The last failed pod's log, or None and the sentence that says why there is none."""
    if verdict.pod is None:
        return None, "No pod of this Job is left to read a log from."
    capture = Capture(max_bytes)
    try:
        api.read_log(namespace, verdict.pod, verdict.container, verdict.previous, capture)
    except ApiError as exc:
        if not exc.status:  # no answer at all: try the whole report again later
            raise
        return (
            None,
            f"The log of pod {verdict.pod} is gone (the API answered {exc.status}: {exc.answer}).",
        )
    return capture.snapshot(), None
