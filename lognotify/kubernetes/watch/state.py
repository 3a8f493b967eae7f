"""What was reported, kept in the Kubernetes API: one ConfigMap in the watcher's own namespace.

The ConfigMap ``lognotify-watch-state`` holds, under one key per scope (the namespaces and
selector a watcher watches: ``reported.<hash>``), the uids of the Jobs and pods that scope
reported or found handled, one per line (37 bytes each: a ConfigMap's 1 MiB holds 28,000).
A watcher reads every scope's key, so that nothing one watcher reported is reported by another,
but prunes and writes only its own, so that a watcher never forgets what another one saw.

Writes are optimistic: the ConfigMap is replaced with the ``resourceVersion`` it was read at;
when another writer came first (409), it is read again, this watcher's own changes are applied
to what it now holds, and the write is tried again. Only ``create``, and ``get``/``update`` of
this one name, are needed: the least RBAC a record in the API can have.
"""

from __future__ import annotations

import hashlib

from lognotify.kubernetes.watch.api import ApiError, Conflict

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable

    from lognotify.kubernetes.watch.api import Api
    from lognotify.kubernetes.watch.objects import Obj

NAME = "lognotify-watch-state"
KEY_PREFIX = "reported."
#: What the API accepts in one ConfigMap; a little is left for its metadata.
LIMIT = (1 << 20) - 16 * 1024
#: Writes tried in a row while others keep changing the ConfigMap.
MAX_CONFLICTS = 10
LABELS = {"app.kubernetes.io/name": "lognotify", "app.kubernetes.io/component": "watch"}


def scope(namespaces: Iterable[str], selector: str | None) -> str:
    """The words naming what one watcher watches, as the first line of its key says them."""
    return f"namespaces={','.join(sorted(namespaces)) or '*'} selector={selector or ''}"


def scope_key(text: str) -> str:
    """The ConfigMap key of one scope (a key may hold letters, digits, '-', '_' and '.')."""
    return KEY_PREFIX + hashlib.sha256(text.encode()).hexdigest()[:12]


def encode(text: str, uids: Iterable[str]) -> str:
    """A scope's entries as the ConfigMap holds them: a comment line, then a uid per line."""
    comment = " ".join(text.split())  # one line, whatever the selector holds
    return "".join([f"# lognotify watch, {comment}\n", *(f"{uid}\n" for uid in sorted(uids))])


def decode(value: str) -> set[str]:
    """The uids in one key's value."""
    return {line.strip() for line in value.splitlines() if line.strip()[:1] not in ("", "#")}


class Ledger:
    """The record of what was reported, as this watcher knows it, and its one writer."""

    def __init__(self, api: Api, namespace: str, text: str) -> None:
        self.api, self.namespace, self.scope = api, namespace, text
        self.key = scope_key(text)
        self.own: set[str] = set()
        self.others: set[str] = set()
        self._data: dict[str, str] = {}
        self._added: set[str] = set()
        self._removed: set[str] = set()
        self._version: str | None = None  # None: there is no ConfigMap yet

    def __contains__(self, uid: str) -> bool:
        return uid in self.own or uid in self.others

    def __len__(self) -> int:
        return len(self.own)

    @property
    def dirty(self) -> bool:
        """Whether there are changes the API has not taken yet."""
        return bool(self._added or self._removed)

    @property
    def where(self) -> str:
        return f"ConfigMap {self.namespace}/{NAME}"

    def add(self, uid: str) -> None:
        """Record ``uid`` as reported (taken by the API at the next ``save``)."""
        self.own.add(uid)
        self._added.add(uid)
        self._removed.discard(uid)

    def prune(self, alive: Iterable[str] | None = None, *, gone: Iterable[str] = ()) -> int:
        """Forget the entries of this scope that are ``gone``, or not ``alive``; how many."""
        keep = self.own if alive is None else self.own & set(alive)
        dropped = (self.own - keep) | (self.own & set(gone))
        self.own -= dropped
        self._removed |= dropped
        self._added -= dropped
        return len(dropped)

    def load(self) -> None:
        """Read the ConfigMap (none yet: nothing was reported); changes not saved are kept."""
        self._apply(self.api.config_map(self.namespace, NAME))

    def _apply(self, found: Obj | None) -> None:
        data = dict((found or {}).get("data") or {})
        self._data = data
        self._version = (found or {}).get("metadata", {}).get("resourceVersion") if found else None
        self.own = (decode(data.get(self.key, "")) | self._added) - self._removed
        self.others = set()
        for key, value in data.items():
            if key.startswith(KEY_PREFIX) and key != self.key:
                self.others |= decode(value)

    def save(self) -> None:
        """Write this scope's entries (read again and retried while another writer comes first)."""
        for _ in range(MAX_CONFLICTS):
            data = {**self._data, self.key: encode(self.scope, self.own)}
            size = sum(len(key) + len(value) for key, value in data.items())
            if size > LIMIT:
                raise ApiError(
                    f"{self.where} would hold {size} bytes, more than a ConfigMap "
                    f"can ({len(self.own)} entries of this watcher)"
                )
            meta: Obj = {"name": NAME, "namespace": self.namespace, "labels": LABELS}
            try:
                if self._version is None:
                    found = self.api.create_config_map(
                        self.namespace, {"metadata": meta, "data": data}
                    )
                else:
                    meta["resourceVersion"] = self._version
                    found = self.api.replace_config_map(
                        self.namespace, {"metadata": meta, "data": data}
                    )
            except Conflict:
                self.load()  # someone else wrote (or created it) first: their changes, then ours
                continue
            self._added.clear()
            self._removed.clear()
            self._apply(found)
            return
        raise ApiError(f"{self.where} kept changing while it was written ({MAX_CONFLICTS} tries)")
