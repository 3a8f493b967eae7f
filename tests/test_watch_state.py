"""The record of reports in the ConfigMap: its encoding, optimistic writes, scopes, its size."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import kube_objects as k
import pytest
from hypothesis import given
from hypothesis import strategies as st
from kube_api import KubeAPI

from lognotify.kubernetes.watch.api import Api, ApiError
from lognotify.kubernetes.watch.state import LIMIT, NAME, Ledger, decode, encode, scope, scope_key

NS = "lognotify"


@pytest.fixture
def api(kube: KubeAPI, tmp_path: Path) -> Api:
    return Api(kube.client(tmp_path / "kubeconfig"))


def _ledger(api: Api, namespaces: tuple[str, ...] = (), selector: str | None = None) -> Ledger:
    ledger = Ledger(api, NS, scope(namespaces, selector))
    ledger.load()
    return ledger


@given(st.sets(st.uuids().map(str)), st.text(max_size=40))
def test_entries_read_back_as_written(uids: set[str], text: str) -> None:
    assert decode(encode(text, uids)) == uids


def test_each_scope_has_its_own_valid_key() -> None:
    keys = {
        scope_key(scope(spaces, sel))
        for spaces, sel in [
            ((), None),
            (("a",), None),
            (("a", "b"), None),
            (("b", "a"), None),
            ((), "team=x"),
        ]
    }
    assert len(keys) == 4  # the order of the namespaces does not matter
    assert all(key.startswith("reported.") and key.replace(".", "").isalnum() for key in keys)


def test_nothing_recorded_yet_then_a_configmap_is_made_and_updated(kube: KubeAPI, api: Api) -> None:
    ledger = _ledger(api)
    assert "x" not in ledger
    assert not ledger.dirty
    ledger.add("uid-1")
    ledger.save()
    ledger.add("uid-2")
    ledger.save()
    found = kube.get("configmaps", NS, NAME)
    assert found is not None
    assert decode(found["data"][ledger.key]) == {"uid-1", "uid-2"}
    assert found["metadata"]["labels"]["app.kubernetes.io/name"] == "lognotify"
    assert [(r.method, r.path.rsplit("/", 1)[-1]) for r in kube.requests] == [
        ("GET", NAME),
        ("POST", "configmaps"),
        ("PUT", NAME),
    ]
    assert "uid-1" in _ledger(api)
    assert not ledger.dirty


def test_a_writer_that_came_first_is_not_overwritten(kube: KubeAPI, api: Api) -> None:
    mine, theirs = _ledger(api), _ledger(api)
    mine.add("seed")
    mine.save()
    theirs.load()
    theirs.add("theirs")
    theirs.save()
    mine.add("mine")
    mine.save()  # 409 first: read again, theirs kept, mine added
    assert decode(kube.get("configmaps", NS, NAME)["data"][mine.key]) == {"seed", "theirs", "mine"}  # type: ignore[index]
    assert kube.count("PUT", NAME) == 3


def test_two_watchers_creating_it_at_once_both_land(kube: KubeAPI, api: Api) -> None:
    first, second = _ledger(api), _ledger(api, ("etl",))
    first.add("a")
    second.add("b")
    first.save()
    second.save()  # its create gets 409 AlreadyExists: it reads and updates instead
    data = kube.get("configmaps", NS, NAME)["data"]  # type: ignore[index]
    assert decode(data[first.key]) == {"a"}
    assert decode(data[second.key]) == {"b"}


def test_another_scopes_entries_count_as_reported_but_are_never_pruned_here(api: Api) -> None:
    other = _ledger(api, ("team-b",))
    other.add("theirs")
    other.save()
    mine = _ledger(api, ("team-a",))
    mine.add("mine")
    assert "theirs" in mine
    assert mine.prune(alive=set()) == 1
    mine.save()
    assert "theirs" in _ledger(api)
    assert "mine" not in _ledger(api)


def test_pruning_keeps_what_is_alive_and_drops_what_is_gone(api: Api) -> None:
    ledger = _ledger(api)
    for uid in ("a", "b", "c"):
        ledger.add(uid)
    ledger.save()
    assert ledger.prune(alive={"a", "b", "z"}) == 1
    assert ledger.prune(gone=["b", "nope"]) == 1
    ledger.save()
    assert _ledger(api).own == {"a"}


def test_a_change_made_before_a_conflict_survives_the_reread(kube: KubeAPI, api: Api) -> None:
    ledger = _ledger(api)
    ledger.add("a")
    ledger.save()
    kube.fail("PUT", NAME, 409, times=2)
    ledger.add("b")
    ledger.prune(gone=["a"])
    ledger.save()
    assert _ledger(api).own == {"b"}


def test_five_thousand_entries_fit_in_one_configmap(kube: KubeAPI, api: Api) -> None:
    ledger = _ledger(api)
    for _ in range(5000):
        ledger.add(str(uuid.uuid4()))
    ledger.save()
    size = len(kube.get("configmaps", NS, NAME)["data"][ledger.key])  # type: ignore[index]
    assert size < 200_000
    assert len(_ledger(api)) == 5000


def test_more_than_a_configmap_holds_is_refused_before_writing(kube: KubeAPI, api: Api) -> None:
    ledger = _ledger(api)
    for _ in range(LIMIT // 37 + 10):
        ledger.add(str(uuid.uuid4()))
    with pytest.raises(ApiError, match="more than a ConfigMap can"):
        ledger.save()
    assert kube.get("configmaps", NS, NAME) is None
    assert ledger.dirty


def test_other_data_in_the_configmap_is_left_alone(kube: KubeAPI, api: Api) -> None:
    kube.add(k.config_map(NAME, NS, {"README": "kept by lognotify watch"}))
    ledger = _ledger(api)
    ledger.add("a")
    ledger.save()
    found: Any = kube.get("configmaps", NS, NAME)
    assert found["data"]["README"] == "kept by lognotify watch"
