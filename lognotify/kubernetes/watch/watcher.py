"""The watcher's core: what it knows of the cluster, what is due when, and each report once.

It keeps, of the cluster, only what deciding needs: the Jobs still running (a ``JobView``
each, for the pods that get stuck), the pods that cannot start, and the uids of what exists
(to prune the record of reports). A finished Job is dropped; a failed one becomes a task.
Tasks run on the main thread, one at a time, each when it is due: a failed Job now, a stuck
pod when it comes of age (a timer, whether or not another event comes), a report that was not
taken again later, with backoff. A report counts once ``report`` says it was taken; only then
is it recorded, and the record written to the API before the next task.
"""

from __future__ import annotations

import heapq

from lognotify.kubernetes.watch import classify, incidents
from lognotify.kubernetes.watch.api import ApiError
from lognotify.kubernetes.watch.streams import Listed, Seen, delay

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from lognotify.kubernetes.watch.api import Api
    from lognotify.kubernetes.watch.model import Incident, WatchOptions
    from lognotify.kubernetes.watch.objects import JobView, PodView
    from lognotify.kubernetes.watch.state import Ledger

JOB, STUCK, SAVE = "job:", "stuck:", "save"
#: Backoff of a report that was not taken, or could not be put together: seconds.
RETRY_FIRST, RETRY_MOST = 1.0, 300.0


class Task:
    """Something to do at ``due``: report a Job, look at a Job's stuck pods, write the record."""

    __slots__ = ("due", "job", "key", "tries")

    def __init__(self, key: str, due: float, job: JobView | None) -> None:
        self.key, self.due, self.job, self.tries = key, due, job, 0


class Watcher:
    """Events in (``take``), reports out (``run_due``); single-threaded."""

    def __init__(
        self,
        options: WatchOptions,
        report: Callable[[Incident], bool],
        *,
        api: Api,
        ledger: Ledger,
        say: Callable[[str], None],
        clock: Callable[[], float],
        sources: Iterable[str],
    ) -> None:
        self.options, self.report, self.api, self.ledger = options, report, api, ledger
        self.say, self.clock = say, clock
        self.sources = frozenset(sources)
        self.jobs: dict[str, JobView] = {}  # running Jobs
        self.stuck: dict[str, PodView] = {}  # pods that cannot start, by uid
        self.stuck_of: dict[str, set[str]] = {}  # Job uid -> its stuck pods' uids
        self.known: dict[str, set[str]] = {}  # source -> uids of what exists
        self.listed: set[str] = set()  # sources that listed completely at least once
        self.tasks: dict[str, Task] = {}
        self._heap: list[tuple[float, int, str]] = []
        self._seq = 0
        self.stopping = False
        self.not_taken = 0  # reports that were not taken (and will be tried again)
        self.api_errors = 0

    # --- what happens in the cluster -----------------------------------------------------------

    def take(self, items: Iterable[Seen | Listed]) -> None:
        """Learn from the readers' events, in their order."""
        for item in items:
            if isinstance(item, Listed):
                self._listed(item)
            elif item.kind == "jobs":
                self._job(item)
            else:
                self._pod(item)

    def _job(self, seen: Seen) -> None:
        job: JobView = seen.view  # type: ignore[assignment]
        known = self.known.setdefault(seen.source, set())
        if seen.type == "DELETED":
            known.discard(job.uid)
            self.jobs.pop(job.uid, None)
            self.ledger.prune(gone=[job.uid])
            return
        known.add(job.uid)
        if job.finished:
            self.jobs.pop(job.uid, None)
        else:
            self.jobs[job.uid] = job
            if job.uid in self.stuck_of:  # its pods came first
                self._schedule(STUCK + job.uid, self.clock())
        if job.failed and job.uid not in self.ledger:
            self._schedule(JOB + job.uid, self.clock(), job)

    def _pod(self, seen: Seen) -> None:
        pod: PodView = seen.view  # type: ignore[assignment]
        known = self.known.setdefault(seen.source, set())
        if seen.type == "DELETED":
            known.discard(pod.uid)
            self._unstick(pod.uid)
            self.ledger.prune(gone=[pod.uid])
            return
        known.add(pod.uid)
        due = classify.stuck_due(pod, self.options.stuck_after, self.clock())
        if due is None or not pod.job_uid or pod.uid in self.ledger:
            self._unstick(pod.uid)
            return
        self.stuck[pod.uid] = pod
        self.stuck_of.setdefault(pod.job_uid, set()).add(pod.uid)
        self._schedule(STUCK + pod.job_uid, due)

    def _unstick(self, uid: str) -> None:
        pod = self.stuck.pop(uid, None)
        if pod and pod.job_uid:
            siblings = self.stuck_of.get(pod.job_uid, set())
            siblings.discard(uid)
            if not siblings:
                self.stuck_of.pop(pod.job_uid, None)

    def _listed(self, listed: Listed) -> None:
        self.known[listed.source] = set(listed.uids)
        self.listed.add(listed.source)
        alive = set().union(*self.known.values())
        for uid in [uid for uid in self.jobs if uid not in alive]:
            del self.jobs[uid]  # deleted while no watch was looking
        for uid in [uid for uid in self.stuck if uid not in alive]:
            self._unstick(uid)
        if self.listed >= self.sources and self.ledger.prune(alive):
            self._schedule(SAVE, self.clock())

    # --- what is due ---------------------------------------------------------------------------

    def _schedule(self, key: str, due: float, job: JobView | None = None) -> None:
        task = self.tasks.get(key)
        if task is None:
            task = self.tasks[key] = Task(key, due, job)
        elif due >= task.due:
            return
        task.due = due
        self._seq += 1
        heapq.heappush(self._heap, (due, self._seq, key))

    def next_due(self) -> float | None:
        """When the next task is due (None: nothing to do until an event comes)."""
        while self._heap and self._stale(self._heap[0]):
            heapq.heappop(self._heap)
        return self._heap[0][0] if self._heap else None

    def _stale(self, entry: tuple[float, int, str]) -> bool:
        task = self.tasks.get(entry[2])
        return task is None or task.due != entry[0]

    def run_due(self) -> None:
        """Run every task that is due, one at a time, until none is or the watcher is stopping."""
        while not self.stopping:
            due = self.next_due()
            now = self.clock()
            if due is None or due > now:
                return
            key = heapq.heappop(self._heap)[2]
            task = self.tasks.pop(key)
            if key == SAVE:
                self._save(task)
            elif key.startswith(JOB):
                self._report_job(task, now)
            else:
                self._report_stuck(task, now)

    def _again(self, task: Task, why: str | None = None) -> None:
        task.tries += 1
        wait = delay(task.tries - 1, RETRY_FIRST, RETRY_MOST)
        if why:
            self.say(f"{why}; trying again in {wait:.0f} s")
        task.due = self.clock() + wait
        self.tasks[task.key] = task
        self._seq += 1
        heapq.heappush(self._heap, (task.due, self._seq, task.key))

    # --- reporting -----------------------------------------------------------------------------

    def _report_job(self, task: Task, now: float) -> None:
        job = task.job
        if job is None or job.uid in self.ledger:
            return
        where = f"Job {job.namespace}/{job.name}"
        try:
            incident = incidents.job_failed(self.api, job, self.options.max_bytes, now)
        except ApiError as exc:
            self.api_errors += 1
            self._again(task, f"cannot put the report of {where} together: {exc}")
            return
        if incident is None:
            self.say(f"{where} failed; lognotify in its pod reported it already")
            self._record([job.uid])
        else:
            self._deliver(incident, [job.uid], task, where)

    def _report_stuck(self, task: Task, now: float) -> None:
        job_uid = task.key[len(STUCK) :]
        job = self.jobs.get(job_uid)
        pods = [self.stuck[uid] for uid in self.stuck_of.get(job_uid, ()) if uid not in self.ledger]
        if job is None or not pods:
            return  # not a running Job we watch (yet): its ADDED will look again
        stuck_after = self.options.stuck_after
        ripe = [pod for pod in pods if (classify.stuck_due(pod, stuck_after, now) or now) <= now]
        young = [
            classify.stuck_due(pod, stuck_after, now) or now for pod in pods if pod not in ripe
        ]
        if ripe:
            where = f"pod {ripe[0].namespace}/{ripe[0].name} (not started)"
            self._deliver(
                classify.not_started(job, ripe, now), [pod.uid for pod in ripe], task, where
            )
        if young:  # after a retry was scheduled: the earlier of the two stays
            self._schedule(task.key, min(young))

    def _deliver(self, incident: Incident, uids: list[str], task: Task, where: str) -> None:
        try:
            taken = self.report(incident)
        except Exception as exc:  # a failing report function must not end the watch
            self.say(f"the report of {where} failed: {exc!r}")
            taken = False
        if taken:
            self._record(uids)
        else:
            self.not_taken += 1
            if not self.options.once:
                self._again(task, f"the report of {where} was not taken")

    def _record(self, uids: list[str]) -> None:
        for uid in uids:
            self.ledger.add(uid)
        self._save(Task(SAVE, self.clock(), None))

    def _save(self, task: Task) -> None:
        if not self.ledger.dirty:
            return
        try:
            self.ledger.save()
        except ApiError as exc:
            self.api_errors += 1
            why = f"the record of reports in {self.ledger.where} could not be written: {exc}"
            if self.options.once:
                self.say(why)
            else:
                self._again(task, why)

    def save_now(self) -> bool:
        """Write the record of reports now (the end of a pass, or stopping); whether it was."""
        try:
            self.ledger.save()
        except ApiError as exc:
            self.api_errors += 1
            self.say(f"the record of reports in {self.ledger.where} could not be written: {exc}")
            return False
        return True
