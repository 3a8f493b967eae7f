"""The readers: one thread per kind (Jobs, pods) and namespace, listing, then watching.

A reader lists in pages, hands the watcher a small view of each object and then the set of
everything the list held (what is not in it no longer exists), and watches from the list's
``resourceVersion``. A watch that ends (the server's timeout) or whose connection is cut is
resumed from the last version seen, so nothing is missed and nothing comes twice; a version
the API has forgotten (410 Gone) means listing again. Errors are retried with exponential
backoff and jitter, said on one line when an outage starts, and at most once a minute after.
The watcher's main thread waits on the inbox's pipe: for events, a timer, or a signal.
"""

from __future__ import annotations

import os
import random
import select
import threading
from collections import deque

from lognotify.kubernetes.watch.api import ApiError, Dropped, Gone
from lognotify.kubernetes.watch.objects import job_view, pod_view
from lognotify.record import Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from lognotify.kubernetes.watch.api import Api, Stream
    from lognotify.kubernetes.watch.objects import JobView, Obj, PodView

#: The pods the watcher reads: those the Job controller made (it labels every one)...
JOB_PODS = "batch.kubernetes.io/controller-uid"
#: ...that have not started. The API filters: a cluster's 20,000 pods are not sent to be
#: dropped here, and a pod that starts leaves the watch as DELETED (it cannot get stuck again).
#: The pods of a failed Job are listed when it is reported.
NOT_STARTED = "status.phase=Pending"


def fields(kind: str) -> str | None:
    """The field selector the watcher reads ``kind`` with."""
    return NOT_STARTED if kind == "pods" else None


#: A watch lasts this long (seconds, drawn at random) before it is renewed, as client-go does.
WATCH_SECONDS = (300, 600)
#: Backoff of a reader after an error: first and longest delay, seconds.
RETRY_FIRST, RETRY_MOST = 0.5, 30.0
#: Seconds between two lines about one outage.
COMPLAIN_EVERY = 60.0


def delay(attempt: int, first: float, most: float) -> float:
    """Exponential backoff with jitter: about ``first * 2**attempt``, at most ``most``."""
    return float(min(most, first * 2 ** min(attempt, 32)) * random.uniform(0.75, 1.0))


class Seen(Record):
    """An object was added, modified or deleted (a list's items come as ADDED)."""

    kind: str  # "jobs" or "pods"
    type: str  # ADDED, MODIFIED, DELETED
    view: JobView | PodView
    source: str


class Listed(Record):
    """A (re)list by ``source`` is complete: ``uids`` is everything of it that exists now."""

    kind: str
    source: str
    uids: frozenset[str]


class Inbox:
    """Events for the watcher's main thread, and the pipe that wakes it (signal-safe)."""

    def __init__(self) -> None:
        self._items: deque[Seen | Listed] = deque()
        self._read, self._write = os.pipe()
        os.set_blocking(self._read, False)
        os.set_blocking(self._write, False)

    def put(self, items: Iterable[Seen | Listed]) -> None:
        self._items.extend(items)
        self.wake()

    def wake(self) -> None:
        """Wake the waiting thread; safe in a signal handler."""
        try:
            os.write(self._write, b"\0")
        except BlockingIOError:  # the pipe is full: a wake-up is waiting already
            pass

    def wait(self, timeout: float | None) -> None:
        """Wait until ``wake`` (or the timeout), unless there are events already."""
        if not self._items:
            select.select([self._read], [], [], timeout)
        try:
            while os.read(self._read, 4096):
                pass
        except BlockingIOError:
            pass

    def take(self) -> list[Seen | Listed]:
        items = []
        while self._items:
            items.append(self._items.popleft())
        return items

    def close(self) -> None:
        os.close(self._read)
        os.close(self._write)


def source_name(kind: str, namespace: str | None) -> str:
    return f"{kind} in {namespace}" if namespace else f"{kind} in all namespaces"


def view(kind: str, obj: Obj) -> JobView | PodView:
    return job_view(obj) if kind == "jobs" else pod_view(obj)


def list_into(
    api: Api,
    kind: str,
    namespace: str | None,
    selector: str | None,
    put: Callable[[Iterable[Seen | Listed]], None],
) -> str:
    """List completely, a page at a time into ``put`` (each item ADDED, then ``Listed``); the
    list's version. The watcher never holds a whole list, only a page and small views."""
    source, uids, version = source_name(kind, namespace), set[str](), ""
    for items, page_version in api.pages(kind, namespace, selector, fields=fields(kind)):
        version = page_version
        views = [view(kind, obj) for obj in items]
        uids.update(seen.uid for seen in views)
        put([Seen(kind=kind, type="ADDED", view=seen, source=source) for seen in views])
    put([Listed(kind=kind, source=source, uids=frozenset(uids))])
    return version


class Reader:
    """Lists then watches one kind in one namespace (None: all), into ``inbox``."""

    def __init__(
        self,
        api: Api,
        kind: str,
        namespace: str | None,
        selector: str | None,
        *,
        inbox: Inbox,
        say: Callable[[str], None],
    ) -> None:
        self.api, self.kind, self.namespace, self.selector = api, kind, namespace, selector
        self.inbox, self.say = inbox, say
        self.source = source_name(kind, namespace)
        self.version: str | None = None  # None: list (again) before watching
        self.stopping = threading.Event()
        self._stream: Stream | None = None
        self._thread = threading.Thread(
            target=self.run, name=f"lognotify {self.source}", daemon=True
        )
        self._failures = 0
        self._said_at: float | None = None

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self.stopping.set()
        if self._stream:
            self._stream.close()
        self._thread.join(timeout)

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                if self.version is None:
                    self._list()
                self._watch()
            except Gone:
                self.version = None  # the API's history moved past us: list again
            except Dropped:
                self._retry(quiet=True)
            except ApiError as exc:
                self._retry(exc)

    def _list(self) -> None:
        self.version = list_into(self.api, self.kind, self.namespace, self.selector, self.inbox.put)
        self._recovered()

    def _watch(self) -> None:
        seconds = random.randint(*WATCH_SECONDS)
        version = self.version or ""
        stream = self._stream = self.api.watch(
            self.kind, self.namespace, self.selector, version, seconds, fields=fields(self.kind)
        )
        if self.stopping.is_set():  # stop() came while the watch was being opened
            stream.close()
            return
        self._recovered()
        for event in stream:
            if self.stopping.is_set():
                return
            self._event(event)

    def _event(self, event: Obj) -> None:
        kind, obj = event.get("type"), event.get("object") or {}
        if kind == "ERROR":
            code = int(obj.get("code") or 0)
            error = Gone if code == 410 else ApiError
            raise error(f"watch {self.source}: {obj.get('message') or 'error'}", status=code)
        version = (obj.get("metadata") or {}).get("resourceVersion")
        if version:
            self.version = str(version)
        if kind in ("ADDED", "MODIFIED", "DELETED"):
            self.inbox.put(
                [
                    Seen(
                        kind=self.kind,
                        type=str(kind),
                        view=view(self.kind, obj),
                        source=self.source,
                    )
                ]
            )

    def _retry(self, exc: ApiError | None = None, *, quiet: bool = False) -> None:
        import time

        wait = delay(self._failures, RETRY_FIRST, RETRY_MOST)
        self._failures += 1
        now = time.monotonic()
        if exc and not quiet and (self._said_at is None or now - self._said_at >= COMPLAIN_EVERY):
            self._said_at = now
            self.say(f"{exc}; trying again in {wait:.1f} s")
        self.stopping.wait(wait)

    def _recovered(self) -> None:
        if self._said_at is not None:
            self.say(f"the Kubernetes API answers again ({self.source})")
        self._failures, self._said_at = 0, None
