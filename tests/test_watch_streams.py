"""The readers: list then watch, resume after a cut, list again after 410, back off on errors."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import kube_objects as k
import pytest
from hypothesis import given
from hypothesis import strategies as st
from kube_api import KubeAPI

from lognotify.kubernetes.watch.api import Api
from lognotify.kubernetes.watch.streams import Inbox, Listed, Reader, Seen, delay, list_into


@pytest.fixture
def api(kube: KubeAPI, tmp_path: Path) -> Api:
    return Api(kube.client(tmp_path / "kubeconfig"))


class Collected:
    """What a reader put in its inbox, gathered by a thread that waits on the inbox."""

    def __init__(self, inbox: Inbox) -> None:
        self.inbox, self.items = inbox, list[Seen | Listed]()
        self.changed = threading.Condition()
        self.done = False
        threading.Thread(target=self._gather, daemon=True).start()

    def _gather(self) -> None:
        while not self.done:
            self.inbox.wait(0.5)
            with self.changed:
                self.items += self.inbox.take()
                self.changed.notify_all()

    def wait(self, predicate: object, timeout: float = 20) -> None:
        with self.changed:
            assert self.changed.wait_for(lambda: predicate(self.items), timeout), self.items  # type: ignore[operator]

    def seen(self) -> list[tuple[str, str]]:
        return [(i.type, i.view.name) for i in self.items if isinstance(i, Seen)]


@pytest.fixture
def reader(api: Api) -> Iterator[tuple[Reader, Collected, list[str]]]:
    """A reader of all Jobs, not started yet, what it passed on, and its lines."""
    inbox, lines = Inbox(), list[str]()
    reading = Reader(api, "jobs", None, None, inbox=inbox, say=lines.append)
    collected = Collected(inbox)
    yield reading, collected, lines
    reading.stop()
    collected.done = True


@given(st.integers(min_value=0, max_value=10_000))
def test_backoff_grows_to_its_ceiling_and_never_past_it(attempt: int) -> None:
    wait = delay(attempt, 0.5, 30.0)
    ceiling = min(30.0, 0.5 * 2 ** min(attempt, 32))
    assert 0.75 * ceiling <= wait <= ceiling


def test_the_inbox_wakes_its_waiter_from_another_thread_and_from_a_signal_handler() -> None:
    inbox = Inbox()
    threading.Timer(0.05, lambda: inbox.put([])).start()
    started = time.monotonic()
    inbox.wait(10)
    assert time.monotonic() - started < 5
    previous = signal.signal(signal.SIGUSR1, lambda *_: inbox.wake())
    try:
        threading.Timer(0.05, lambda: os.kill(os.getpid(), signal.SIGUSR1)).start()
        started = time.monotonic()
        inbox.wait(10)
        assert time.monotonic() - started < 5
    finally:
        signal.signal(signal.SIGUSR1, previous)
        inbox.close()


def test_a_list_gives_every_item_then_everything_that_exists(kube: KubeAPI, api: Api) -> None:
    for name in ("a", "b", "c"):
        kube.add(k.job(name, "etl"))
    got: list[Seen | Listed] = []
    version = list_into(api, "jobs", "etl", None, got.extend)
    *seen, listed = got
    added = [s for s in seen if isinstance(s, Seen)]
    assert [(s.type, s.view.name, s.source) for s in added] == [
        ("ADDED", name, "jobs in etl") for name in "abc"
    ]
    assert isinstance(listed, Listed)
    assert listed.uids == {s.view.uid for s in added}
    assert version == str(kube.rv)


def test_a_reader_lists_then_watches_and_passes_on_each_change(
    kube: KubeAPI, reader: tuple[Reader, Collected, list[str]]
) -> None:
    kube.add(k.job("a", "etl"))
    reading, collected, _ = reader
    reading.start()
    kube.wait_until(lambda: kube.watching("jobs") == 1)
    job = kube.add(k.job("b", "etl"))
    kube.replace(k.failed(job))
    kube.delete("jobs", "etl", "b")
    collected.wait(lambda items: len(items) == 5)
    assert collected.seen() == [("ADDED", "a"), ("ADDED", "b"), ("MODIFIED", "b"), ("DELETED", "b")]
    assert isinstance(collected.items[1], Listed)


def test_a_cut_watch_resumes_from_the_last_version_seen(
    kube: KubeAPI, reader: tuple[Reader, Collected, list[str]]
) -> None:
    reading, collected, lines = reader
    reading.start()
    kube.wait_until(lambda: kube.watching("jobs") == 1)
    kube.add(k.job("a", "etl"))
    collected.wait(lambda items: len(items) == 2)
    version = kube.rv
    with kube.lock:
        kube.drop_watches()
        kube.add(k.job("b", "etl"))
    collected.wait(lambda items: len(items) == 3)
    watches = [r for r in kube.requests if r.query.get("watch")]
    assert watches[-1].query["resourceVersion"] == str(version)
    assert collected.seen() == [("ADDED", "a"), ("ADDED", "b")]
    assert kube.count("GET", "/jobs$") == 3
    assert lines == []


def test_a_410_makes_the_reader_list_again(
    kube: KubeAPI, reader: tuple[Reader, Collected, list[str]]
) -> None:
    reading, collected, _ = reader
    reading.start()
    kube.wait_until(lambda: kube.watching("jobs") == 1)
    with kube.lock:
        kube.drop_watches()
        kube.add(k.job("a", "etl"))
        kube.compact()
    collected.wait(lambda items: sum(isinstance(i, Listed) for i in items) == 2)
    assert collected.seen() == [("ADDED", "a")]
    [added] = [item for item in collected.items if isinstance(item, Seen)]
    assert collected.items[-1] == Listed(
        kind="jobs", source="jobs in all namespaces", uids=frozenset({added.view.uid})
    )


def test_errors_are_retried_with_one_line_and_the_recovery_is_said(kube: KubeAPI, api: Api) -> None:
    kube.fail("GET", r"/jobs$", 500, times=3)
    inbox, lines = Inbox(), list[str]()
    reading = Reader(api, "jobs", None, None, inbox=inbox, say=lines.append)
    reading.start()
    try:
        kube.wait_until(lambda: kube.watching("jobs") == 1)
    finally:
        reading.stop()
    assert (
        lines[0]
        == "list jobs: the API answered 500: injected failure 500; trying again in "
        + lines[0].rsplit(" ", 2)[-2]
        + " s"
    )
    assert lines[1:] == ["the Kubernetes API answers again (jobs in all namespaces)"]
    assert kube.count("GET", r"/jobs$") == 5  # three failures, the list, the watch


def test_stopping_a_reader_ends_its_watch_at_once(kube: KubeAPI, api: Api) -> None:
    reading = Reader(api, "pods", "etl", "x", inbox=Inbox(), say=print)
    reading.start()
    kube.wait_until(lambda: kube.watching("pods") == 1)
    started = time.monotonic()
    reading.stop()
    assert time.monotonic() - started < 2
    assert not reading._thread.is_alive()


def test_pods_are_read_while_pending_only_and_one_that_starts_leaves_as_deleted(
    kube: KubeAPI, api: Api
) -> None:
    job = kube.add(k.job("a", "etl"))
    pending = kube.add(k.waiting_pod(job, "aaaaa"))
    kube.add(k.pod(job, "bbbbb"))  # running: never sent
    inbox = Inbox()
    collected = Collected(inbox)
    reading = Reader(
        api, "pods", None, "batch.kubernetes.io/controller-uid", inbox=inbox, say=print
    )
    reading.start()
    try:
        kube.wait_until(lambda: kube.watching("pods") == 1)
        started = k.pod(job, "aaaaa")
        started["metadata"]["uid"] = pending["metadata"]["uid"]
        kube.replace(started)
        collected.wait(lambda items: len(items) == 3)
    finally:
        reading.stop()
        collected.done = True
    assert collected.seen() == [("ADDED", "a-aaaaa"), ("DELETED", "a-aaaaa")]
    assert {r.query.get("fieldSelector") for r in kube.requests} == {"status.phase=Pending"}
