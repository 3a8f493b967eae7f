"""The seam around the client: raw JSON pages, watch streams, logs, ConfigMaps, and errors.

The test API server answers as the real one does: these tests also hold it to that (selectors,
consistent pages and their expiry, 410 on a compacted watch, the log endpoint's rules).
"""

from __future__ import annotations

import threading
import time
import tracemalloc
from collections.abc import Iterable, Iterator
from pathlib import Path

import kube_objects as k
import pytest
from kube_api import KubeAPI

from lognotify.capture import Capture
from lognotify.kubernetes.watch.api import Api, ApiError, Conflict, Dropped, Gone
from lognotify.kubernetes.watch.streams import JOB_PODS


@pytest.fixture
def api(kube: KubeAPI, tmp_path: Path) -> Api:
    return Api(kube.client(tmp_path / "kubeconfig"))


def _names(pages: list[tuple[list[dict[str, object]], str]]) -> list[str]:
    return [item["metadata"]["name"] for items, _ in pages for item in items]  # type: ignore[index]


def test_a_list_comes_in_pages_of_one_consistent_snapshot(kube: KubeAPI, api: Api) -> None:
    for index in range(5):
        kube.add(k.job(f"job-{index}", "etl"))
    pages = api.pages("jobs", None, None, limit=2)
    first = next(pages)
    kube.add(k.job("job-late", "etl"))  # after the first page: not in this list
    rest = list(pages)
    assert [len(items) for items, _ in [first, *rest]] == [2, 2, 1]
    assert _names([first, *rest]) == [f"job-{i}" for i in range(5)]
    assert {version for _, version in [first, *rest]} == {first[1]}


def test_a_list_continued_after_the_history_was_compacted_is_gone(kube: KubeAPI, api: Api) -> None:
    for index in range(3):
        kube.add(k.job(f"job-{index}", "etl"))
    pages = api.pages("jobs", None, None, limit=2)
    next(pages)
    kube.compact()
    with pytest.raises(Gone):
        next(pages)


def test_label_selectors_and_namespaces_select_as_the_api_does(kube: KubeAPI, api: Api) -> None:
    kube.add(k.job("a", "etl", labels={"team": "data", "tier": "batch"}))
    kube.add(k.job("b", "etl", labels={"team": "web"}))
    kube.add(k.job("c", "ops", labels={"team": "data"}))
    kube.add(k.job("d", "ops"))
    cases = {
        "team=data": "ac",
        "team!=data": "bd",
        "team in (web, data),tier": "a",
        "!team": "d",
        "team notin (web)": "acd",
        "team": "abc",
    }
    for selector, expected in cases.items():
        assert "".join(_names(list(api.pages("jobs", None, selector)))) == expected, selector
    assert _names(list(api.pages("jobs", "ops", None))) == ["c", "d"]
    with pytest.raises(ApiError, match="400: unable to parse requirement"):
        list(api.pages("jobs", None, "team=(x"))


def test_the_pods_of_a_job_are_found_by_its_controllers_label(kube: KubeAPI, api: Api) -> None:
    job = kube.add(k.job("a", "etl"))
    kube.add(k.failed_pod(job, "aaaaa", 1))
    other = kube.add(k.job("b", "etl"))
    kube.add(k.failed_pod(other, "bbbbb", 1))
    assert [p["metadata"]["name"] for p in api.job_pods("etl", job["metadata"]["uid"])] == [
        "a-aaaaa"
    ]
    old = kube.add(k.job("c", "etl"))
    pod = k.failed_pod(old, "ccccc", 1)
    del pod["metadata"]["labels"][JOB_PODS]  # a cluster before 1.27: only the old label
    kube.add(pod)
    assert [p["metadata"]["name"] for p in api.job_pods("etl", old["metadata"]["uid"])] == [
        "c-ccccc"
    ]


def test_a_watch_streams_the_changes_after_a_version(kube: KubeAPI, api: Api) -> None:
    job = kube.add(k.job("a", "etl"))
    [(_, version)] = list(api.pages("jobs", None, None))
    kube.replace(k.failed(job))
    kube.delete("jobs", "etl", "a")
    stream = api.watch("jobs", None, None, version, 1)
    events = [(e["type"], e["object"]["metadata"]["name"]) for e in stream]  # ends after 1 s
    assert events == [("MODIFIED", "a"), ("DELETED", "a")]


def test_a_watch_from_a_compacted_version_gets_410_in_the_stream(kube: KubeAPI, api: Api) -> None:
    kube.add(k.job("a", "etl"))
    [(_, version)] = list(api.pages("jobs", None, None))
    kube.add(k.job("b", "etl"))
    kube.compact()
    [event] = list(api.watch("jobs", None, None, version, 5))
    assert (event["type"], event["object"]["code"], event["object"]["reason"]) == (
        "ERROR",
        410,
        "Expired",
    )


def test_a_watch_cut_in_the_middle_is_dropped_and_close_ends_one(kube: KubeAPI, api: Api) -> None:
    [(_, version)] = list(api.pages("jobs", None, None))
    stream = api.watch("jobs", None, None, version, 60)
    kube.wait_until(lambda: kube.watching("jobs") == 1)
    kube.drop_watches()
    with pytest.raises(Dropped):
        list(stream)
    stream = api.watch("jobs", None, None, version, 60)
    ended = threading.Event()

    def read() -> None:
        list(_quiet(stream))
        ended.set()

    thread = threading.Thread(target=read)
    thread.start()
    kube.wait_until(lambda: kube.watching("jobs") == 1)
    stream.close()
    assert ended.wait(10)


def _quiet(stream: Iterable[object]) -> Iterator[object]:
    try:
        yield from stream
    except Dropped:
        return


def test_a_huge_log_is_read_into_a_bounded_capture(kube: KubeAPI, api: Api) -> None:
    job = kube.add(k.job("a", "etl"))
    kube.add(k.failed_pod(job, "aaaaa", 1))
    line = b"2026-05-01T02:03:04Z INFO processing record 0123456789 of the nightly batch\n"
    kube.set_log("etl", "a-aaaaa", line, repeat=(64 << 20) // len(line))
    capture = Capture(1 << 20)
    tracemalloc.start()
    api.read_log("etl", "a-aaaaa", "main", False, capture)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    snapshot = capture.snapshot()
    assert snapshot.total_bytes == len(line) * ((64 << 20) // len(line))
    assert len(snapshot.data) <= 1 << 20
    assert snapshot.tail.endswith(line)
    assert peak < 8 << 20


def test_the_previous_log_of_a_restarted_container_and_the_log_rules(
    kube: KubeAPI, api: Api
) -> None:
    job = kube.add(k.job("a", "etl", containers=("main", "side")))
    kube.add(k.failed_pod(job, "aaaaa", 1))
    kube.set_log("etl", "a-aaaaa", b"before the restart\n", previous=True)
    kube.set_log("etl", "a-aaaaa", b"after\n")
    capture = Capture(100)
    api.read_log("etl", "a-aaaaa", "main", True, capture)
    assert capture.snapshot().data == b"before the restart\n"
    assert kube.requests[-1].query == {"container": "main", "previous": "true"}
    with pytest.raises(ApiError, match="a container name must be specified"):
        api.read_log("etl", "a-aaaaa", None, False, Capture(100))
    with pytest.raises(ApiError, match='previous terminated container "side"'):
        api.read_log("etl", "a-aaaaa", "side", True, Capture(100))
    kube.drop_logs("etl", "a-aaaaa")
    with pytest.raises(ApiError) as gone:
        api.read_log("etl", "a-aaaaa", "main", False, Capture(100))
    assert gone.value.status == 404


def test_configmaps_are_read_created_and_replaced_with_their_version(
    kube: KubeAPI, api: Api
) -> None:
    assert api.config_map("mon", "state") is None
    made = api.create_config_map("mon", {"metadata": {"name": "state"}, "data": {"a": "1"}})
    with pytest.raises(Conflict):
        api.create_config_map("mon", {"metadata": {"name": "state"}, "data": {}})
    body = {
        "metadata": {"name": "state", "resourceVersion": made["metadata"]["resourceVersion"]},
        "data": {"a": "2"},
    }
    replaced = api.replace_config_map("mon", body)
    assert replaced["data"] == {"a": "2"}
    with pytest.raises(Conflict, match="the object has been modified"):
        api.replace_config_map("mon", body)  # the version it was read at is stale now
    assert api.config_map("mon", "state")["data"] == {"a": "2"}  # type: ignore[index]


def test_an_error_answer_names_what_was_tried_and_the_apis_words(kube: KubeAPI, api: Api) -> None:
    kube.fail("GET", r"/pods$", 403)
    with pytest.raises(ApiError) as error:
        next(api.pages("pods", "etl", None))
    assert str(error.value) == "list pods in etl: the API answered 403: injected failure 403"
    assert error.value.status == 403


def test_an_unreachable_api_says_where_and_why_and_fast(kube: KubeAPI, api: Api) -> None:
    kube.stop()
    started = time.monotonic()
    with pytest.raises(ApiError) as error:
        api.config_map("mon", "state")
    assert str(error.value) == f"cannot reach the Kubernetes API at {kube.url}: connection refused"
    assert error.value.status == 0
    assert time.monotonic() - started < 5
