"""A Kubernetes API server for the tests, on 127.0.0.1: what the watcher uses, as the real one.

Jobs (``batch/v1``), pods and ConfigMaps (``v1``): LIST with label and field selectors,
``limit``/``continue`` over a consistent snapshot and the list's ``resourceVersion``; WATCH as
chunked JSON lines from a ``resourceVersion`` (an ``ERROR`` event with a 410 ``Status`` for a
compacted one, as the real server sends it), with bookmarks when asked for; GET; POST, PUT
(409 on a stale ``resourceVersion``) and merge PATCH; ``pods/{name}/log`` with ``container``,
``previous`` and ``limitBytes``. Every object written is validated against the real OpenAPI
schema (kubernetes-validate, strict), so the fake cannot drift from Kubernetes.

Test controls: ``add``/``replace``/``delete`` objects (each emits its watch event), ``set_log``,
``drop_watches``, ``compact``, ``bookmark``, ``fail`` (the next matching requests get an error),
``stop`` (unreachable) and ``start`` again on the same port, and the record of every request
(``requests``, ``wait_for``) so that tests wait on what the watcher did, never on time.
"""

from __future__ import annotations

import base64
import json
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from kube_objects import now_rfc3339, status, validate

Obj = dict[str, Any]
#: resource -> (apiVersion, kind, the fields a field selector may name besides metadata.*)
RESOURCES = {
    "jobs": ("batch/v1", "Job", {"status.successful"}),
    "pods": (
        "v1",
        "Pod",
        {"spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "status.phase"},
    ),
    "configmaps": ("v1", "ConfigMap", set()),
}
CONFIGMAP_LIMIT = 1 << 20
_PATH = re.compile(
    r"^/(?:api/v1|apis/batch/v1)(?:/namespaces/(?P<ns>[^/]+))?/(?P<res>jobs|pods|configmaps)"
    r"(?:/(?P<name>[^/]+)(?P<log>/log)?)?$"
)


class Request:
    """One request as the server saw it."""

    def __init__(self, method: str, path: str, query: dict[str, str], body: Obj | None) -> None:
        self.method, self.path, self.query, self.body = method, path, query, body

    def __repr__(self) -> str:
        return f"{self.method} {self.path} {self.query}"


class ApiError(Exception):
    def __init__(self, code: int, reason: str, message: str, **details: Any) -> None:
        super().__init__(message)
        self.status = status(code, reason, message, **details)


class _Watch:
    def __init__(self, resource: str, ns: str | None, query: dict[str, str]) -> None:
        self.resource, self.ns = resource, ns
        self.labels = parse_labels(query.get("labelSelector", ""))
        self.fields = parse_fields(query.get("fieldSelector", ""), _fields(resource))
        self.bookmarks = query.get("allowWatchBookmarks") in ("true", "1")
        self.queue: list[bytes | None] = []
        self.dropped = False
        self.ready = threading.Condition()

    def matches(self, obj: Obj | None) -> bool:
        if obj is None or (self.ns and obj["metadata"].get("namespace") != self.ns):
            return False
        return labels_match(self.labels, obj) and fields_match(self.fields, obj)

    def push(self, line: bytes | None) -> None:
        with self.ready:
            self.queue.append(line)
            self.ready.notify()


def _fields(resource: str) -> set[str]:
    return {"metadata.name", "metadata.namespace"} | RESOURCES[resource][2]


class KubeAPI:
    """The server; ``with KubeAPI() as api:`` starts and stops it. ``api.url`` is its address."""

    def __init__(self, *, validate_objects: bool = True) -> None:
        self.validate_objects = validate_objects
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self.rv = 1
        self.objects: dict[tuple[str, str, str], Obj] = {}
        self._json: dict[tuple[str, str, str], bytes] = {}
        self.history: list[tuple[int, str, str, Obj | None, Obj]] = []  # rv, type, res, old, new
        self.compacted = 0
        self.watches: set[_Watch] = set()
        self.logs: dict[tuple[str, str, str, bool], tuple[bytes, int]] = {}
        self.lost_logs: set[tuple[str, str]] = set()
        self.requests: list[Request] = []
        self.failures: list[tuple[str, re.Pattern[str], int, int]] = []
        self.snapshots: dict[str, tuple[int, list[bytes]]] = {}
        self.connections: set[socket.socket] = set()
        self._server: ThreadingHTTPServer | None = None
        self.port = 0

    # --- life -------------------------------------------------------------------------------

    def start(self) -> KubeAPI:
        """Listen (again, on the same port after ``stop``)."""
        server = ThreadingHTTPServer(("127.0.0.1", self.port), _handler(self))
        server.daemon_threads = True
        self.port = server.server_address[1]
        self._server = server
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        """Stop listening and cut every connection: the API is unreachable until ``start``."""
        server, self._server = self._server, None
        if server:
            server.shutdown()
            server.server_close()
        self.drop_watches()
        with self.lock:
            connections, self.connections = list(self.connections), set()
        for connection in connections:  # kept-alive connections would still be served
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def __enter__(self) -> KubeAPI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def kubeconfig(self, path: Path, namespace: str | None = None) -> Path:
        """Write a kubeconfig file whose current context is this server (and ``namespace``)."""
        context: Obj = {"cluster": "test", "user": "test"}
        if namespace:
            context["namespace"] = namespace
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "test", "cluster": {"server": self.url}}],
            "users": [{"name": "test", "user": {"token": "test-token"}}],
            "contexts": [{"name": "test", "context": context}],
            "current-context": "test",
        }
        path.write_text(json.dumps(config))
        return path

    # --- objects ----------------------------------------------------------------------------

    def add(self, obj: Obj) -> Obj:
        """Create ``obj`` (validated), as the API server stores it; emits ADDED."""
        with self.lock:
            resource = _resource_of(obj)
            meta = obj["metadata"]
            key = (resource, meta.get("namespace", ""), meta["name"])
            if key in self.objects:
                raise ApiError(409, "AlreadyExists", f'{resource} "{meta["name"]}" already exists')
            meta.setdefault("uid", str(uuid.uuid4()))
            meta.setdefault("creationTimestamp", now_rfc3339())
            self._store("ADDED", resource, key, None, obj)
            return obj

    def replace(self, obj: Obj) -> Obj:
        """Put a new state of an existing object (validated); emits MODIFIED."""
        with self.lock:
            resource = _resource_of(obj)
            meta = obj["metadata"]
            key = (resource, meta.get("namespace", ""), meta["name"])
            old = self.objects[key]
            meta["uid"] = old["metadata"]["uid"]
            meta["creationTimestamp"] = old["metadata"]["creationTimestamp"]
            self._store("MODIFIED", resource, key, old, obj)
            return obj

    def delete(self, resource: str, namespace: str, name: str) -> None:
        """Remove an object; emits DELETED (with a new resourceVersion, as the real one)."""
        with self.lock:
            old = self.objects.pop((resource, namespace, name))
            self._json.pop((resource, namespace, name), None)
            self.rv += 1
            gone = json.loads(json.dumps(old))
            gone["metadata"]["resourceVersion"] = str(self.rv)
            self._event(self.rv, "DELETED", resource, old, gone)

    def get(self, resource: str, namespace: str, name: str) -> Obj | None:
        with self.lock:
            found = self.objects.get((resource, namespace, name))
            return json.loads(json.dumps(found)) if found else None

    def _store(
        self, kind: str, resource: str, key: tuple[str, str, str], old: Obj | None, obj: Obj
    ) -> None:
        api_version, type_name, _ = RESOURCES[resource]
        obj["apiVersion"], obj["kind"] = api_version, type_name
        if self.validate_objects:
            validate(obj)
        if resource == "configmaps" and len(json.dumps(obj.get("data", {}))) > CONFIGMAP_LIMIT:
            raise ApiError(
                422,
                "Invalid",
                f"ConfigMap {key[2]!r} is invalid: []: Too long: "
                f"must have at most {CONFIGMAP_LIMIT} bytes",
            )
        self.rv += 1
        obj["metadata"]["resourceVersion"] = str(self.rv)
        stored = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind")}
        self.objects[key] = stored
        self._json[key] = json.dumps(stored, separators=(",", ":")).encode()
        self._event(self.rv, kind, resource, old, stored)

    def _event(self, rv: int, kind: str, resource: str, old: Obj | None, new: Obj) -> None:
        self.history.append((rv, kind, resource, old, new))
        for watch in list(self.watches):
            if watch.resource == resource:
                line = _event_line(watch, kind, resource, old, new)
                if line:
                    watch.push(line)
        self.changed.notify_all()

    # --- controls ---------------------------------------------------------------------------

    def set_log(
        self,
        namespace: str,
        pod: str,
        data: bytes,
        *,
        container: str = "main",
        previous: bool = False,
        repeat: int = 1,
    ) -> None:
        """What ``pods/{pod}/log`` returns for that container: ``data`` ``repeat`` times."""
        with self.lock:
            self.logs[(namespace, pod, container, previous)] = (data, repeat)

    def drop_logs(self, namespace: str, pod: str) -> None:
        """The pod's logs are gone (its node was lost): the log endpoint answers 404."""
        with self.lock:
            self.lost_logs.add((namespace, pod))

    def drop_watches(self) -> None:
        """Cut every watch connection in the middle, as a dropped connection does."""
        with self.lock:
            watches, self.watches = list(self.watches), set()
        for watch in watches:
            watch.dropped = True
            watch.push(None)

    def compact(self) -> None:
        """Forget the history so far: a watch or continue from before now gets 410 Gone."""
        with self.lock:
            self.compacted = self.rv
            self.history.clear()
            self.snapshots.clear()

    def bookmark(self) -> None:
        """Send a BOOKMARK with the current resourceVersion to the watches that asked for one."""
        with self.lock:
            for watch in list(self.watches):
                if watch.bookmarks:
                    _, kind, _ = RESOURCES[watch.resource]
                    mark = {
                        "kind": kind,
                        "apiVersion": RESOURCES[watch.resource][0],
                        "metadata": {"resourceVersion": str(self.rv)},
                    }
                    watch.push(_line("BOOKMARK", mark))

    def fail(self, method: str, path: str, code: int, times: int = 1) -> None:
        """The next ``times`` requests ``method`` whose path matches ``path`` (a regex) fail."""
        with self.lock:
            self.failures.append((method, re.compile(path), code, times))

    def wait_for(self, predicate: Callable[[list[Request]], bool], timeout: float = 20) -> None:
        """Wait until the requests seen so far satisfy ``predicate``."""
        with self.changed:
            if not self.changed.wait_for(lambda: predicate(self.requests), timeout):
                raise TimeoutError(f"requests never matched; seen: {self.requests[-20:]}")

    def count(self, method: str, path: str) -> int:
        """How many requests ``method`` had a path matching ``path`` (a regex) so far."""
        with self.lock:
            pattern = re.compile(path)
            return sum(1 for r in self.requests if r.method == method and pattern.search(r.path))

    def wait_until(self, predicate: Callable[[], bool], timeout: float = 20) -> None:
        """Wait until ``predicate()`` holds; it is tried again at every request and change."""
        with self.changed:
            if not self.changed.wait_for(predicate, timeout):
                raise TimeoutError(f"never happened; requests seen: {self.requests[-20:]}")

    def client(self, path: Path, namespace: str | None = None) -> Any:
        """A real ``kubernetes`` ApiClient for this server, through a kubeconfig at ``path``."""
        from kubernetes import config

        path = self.kubeconfig(path, namespace)
        return config.new_client_from_config(config_file=str(path))  # type: ignore[no-untyped-call]

    def watching(self, resource: str) -> int:
        with self.lock:
            return sum(1 for watch in self.watches if watch.resource == resource)

    # --- serving ----------------------------------------------------------------------------

    def record(self, request: Request) -> None:
        with self.lock:
            self.requests.append(request)
            self.changed.notify_all()
            for index, (method, pattern, code, times) in enumerate(self.failures):
                if method == request.method and pattern.search(request.path):
                    if times <= 1:
                        del self.failures[index]
                    else:
                        self.failures[index] = (method, pattern, code, times - 1)
                    reason = {409: "Conflict", 410: "Expired", 404: "NotFound"}.get(code, "")
                    raise ApiError(code, reason or "InternalError", f"injected failure {code}")

    def listing(self, resource: str, ns: str | None, query: dict[str, str]) -> bytes:
        labels = parse_labels(query.get("labelSelector", ""))
        fields = parse_fields(query.get("fieldSelector", ""), _fields(resource))
        with self.lock:
            token = query.get("continue")
            if token:
                rv, items = self._continued(token)
            else:
                rv = self.rv
                items = [
                    self._json[key]
                    for key in sorted(self.objects)
                    if key[0] == resource
                    and (not ns or key[1] == ns)
                    and labels_match(labels, self.objects[key])
                    and fields_match(fields, self.objects[key])
                ]
            limit = int(query.get("limit") or 0)
            meta: Obj = {"resourceVersion": str(rv)}
            if limit and len(items) > limit:
                rest_id = uuid.uuid4().hex
                self.snapshots[rest_id] = (rv, items[limit:])
                meta["continue"] = base64.b64encode(
                    json.dumps({"id": rest_id, "rv": rv}).encode()
                ).decode()
                meta["remainingItemCount"] = len(items) - limit
                items = items[:limit]
        api_version, kind, _ = RESOURCES[resource]
        head = json.dumps({"kind": f"{kind}List", "apiVersion": api_version, "metadata": meta})
        return head[:-1].encode() + b',"items":[' + b",".join(items) + b"]}"

    def _continued(self, token: str) -> tuple[int, list[bytes]]:
        try:
            found = json.loads(base64.b64decode(token))
        except ValueError:
            raise ApiError(400, "BadRequest", "continue key is not valid") from None
        snapshot = self.snapshots.pop(found.get("id", ""), None)
        if snapshot is None or found.get("rv", 0) <= self.compacted:
            raise ApiError(
                410,
                "Expired",
                "The provided continue parameter is too old to "
                "display a consistent list result. You can start a new list without "
                "the continue parameter.",
            )
        return snapshot

    def watch(self, resource: str, ns: str | None, query: dict[str, str]) -> _Watch:
        watch = _Watch(resource, ns, query)
        rv_text = query.get("resourceVersion", "")
        with self.lock:
            if rv_text in ("", "0"):
                for key in sorted(self.objects):
                    obj = self.objects[key]
                    if key[0] == resource and watch.matches(obj):
                        watch.queue.append(_line("ADDED", _typed(resource, obj)))
            elif int(rv_text) < self.compacted:
                message = f"too old resource version: {rv_text} ({self.compacted})"
                watch.queue.append(_line("ERROR", status(410, "Expired", message)))
                watch.queue.append(None)
                return watch
            else:
                for rv, kind, res, old, new in self.history:
                    if rv > int(rv_text) and res == resource:
                        line = _event_line(watch, kind, resource, old, new)
                        if line:
                            watch.queue.append(line)
            self.watches.add(watch)
            self.changed.notify_all()
        return watch

    def forget(self, watch: _Watch) -> None:
        with self.lock:
            self.watches.discard(watch)
            self.changed.notify_all()

    def log(self, ns: str, name: str, query: dict[str, str]) -> Iterator[bytes]:
        with self.lock:
            pod = self.objects.get(("pods", ns, name))
            if pod is None:
                raise ApiError(404, "NotFound", f'pods "{name}" not found', name=name, kind="pods")
            names = [c["name"] for c in pod["spec"]["containers"]]
            container = query.get("container") or (names[0] if len(names) == 1 else "")
            if not container:
                raise ApiError(
                    400,
                    "BadRequest",
                    f"a container name must be specified for pod "
                    f"{name}, choose one of: [{' '.join(names)}]",
                )
            if container not in names:
                raise ApiError(
                    400, "BadRequest", f"container {container} is not valid for pod {name}"
                )
            if (ns, name) in self.lost_logs:
                raise ApiError(404, "NotFound", "the server could not find the requested resource")
            previous = query.get("previous") in ("true", "1")
            found = self.logs.get((ns, name, container, previous))
            if found is None and previous and not _restarted(pod, container):
                raise ApiError(
                    400,
                    "BadRequest",
                    f'previous terminated container "{container}" in pod "{name}" not found',
                )
            found = found or (b"", 1)  # a container that wrote nothing
        data, repeat = found
        limit = int(query.get("limitBytes") or 0) or len(data) * repeat
        batch = max(1, (64 << 10) // max(len(data), 1))  # about 64 KiB a chunk, as a kubelet
        while limit > 0 and repeat > 0:
            chunk = (data * min(batch, repeat))[:limit]
            limit -= len(chunk)
            repeat -= min(batch, repeat)
            yield chunk


def _restarted(pod: Obj, container: str) -> bool:
    for found in (pod.get("status") or {}).get("containerStatuses") or []:
        if found["name"] == container and "terminated" in (found.get("lastState") or {}):
            return True
    return False


def _resource_of(obj: Obj) -> str:
    for resource, (_, kind, _) in RESOURCES.items():
        if obj.get("kind") == kind:
            return resource
    raise ValueError(f"no such kind here: {obj.get('kind')}")


def _typed(resource: str, obj: Obj) -> Obj:
    api_version, kind, _ = RESOURCES[resource]
    return {"kind": kind, "apiVersion": api_version, **obj}


def _line(kind: str, obj: Obj) -> bytes:
    return json.dumps({"type": kind, "object": obj}, separators=(",", ":")).encode() + b"\n"


def _event_line(watch: _Watch, kind: str, resource: str, old: Obj | None, new: Obj) -> bytes | None:
    was, now = watch.matches(old), watch.matches(new)
    if kind == "DELETED":
        return _line(kind, _typed(resource, new)) if was or now else None
    if now:
        return _line("MODIFIED" if was else "ADDED", _typed(resource, new))
    return _line("DELETED", _typed(resource, new)) if was else None


# --- selectors ------------------------------------------------------------------------------

_REQUIREMENT = re.compile(
    r"^\s*(?P<not>!)?\s*(?P<key>[A-Za-z0-9][A-Za-z0-9._/-]*)\s*"
    r"(?:(?P<op>==|=|!=)\s*(?P<value>[A-Za-z0-9._-]*)|\s(?P<set>in|notin)\s*\((?P<values>[^)]*)\))?\s*$"
)


def parse_labels(text: str) -> list[tuple[str, str, frozenset[str]]]:
    """A label selector as (op, key, values) requirements; a malformed one is a 400."""
    terms = []
    for part in re.split(r",(?![^(]*\))", text) if text.strip() else []:
        found = _REQUIREMENT.match(part)
        if not found or (found["not"] and (found["op"] or found["set"])):
            raise ApiError(400, "BadRequest", f"unable to parse requirement: {part!r}")
        if found["set"]:
            values = frozenset(v.strip() for v in found["values"].split(",") if v.strip())
            terms.append((found["set"], found["key"], values))
        elif found["op"]:
            op = "!=" if found["op"] == "!=" else "="
            terms.append((op, found["key"], frozenset({found["value"]})))
        else:
            terms.append(("!" if found["not"] else "exists", found["key"], frozenset()))
    return terms


def labels_match(terms: list[tuple[str, str, frozenset[str]]], obj: Obj) -> bool:
    labels = obj["metadata"].get("labels") or {}
    for op, key, values in terms:
        has, value = key in labels, labels.get(key)
        ok = {
            "exists": has,
            "!": not has,
            "=": has and value in values,
            "in": has and value in values,
            "!=": not has or value not in values,
            "notin": not has or value not in values,
        }[op]
        if not ok:
            return False
    return True


def parse_fields(text: str, allowed: set[str]) -> list[tuple[str, str, str]]:
    terms = []
    for part in text.split(",") if text.strip() else []:
        found = re.match(r"^\s*([A-Za-z.]+)\s*(==|=|!=)\s*(.*?)\s*$", part)
        if not found:
            raise ApiError(400, "BadRequest", f"invalid selector: {part!r}")
        if found[1] not in allowed:
            raise ApiError(400, "BadRequest", f'field label not supported: "{found[1]}"')
        terms.append((found[1], "!=" if found[2] == "!=" else "=", found[3]))
    return terms


def fields_match(terms: list[tuple[str, str, str]], obj: Obj) -> bool:
    for path, op, value in terms:
        found: Any = obj
        for step in path.split("."):
            found = found.get(step) if isinstance(found, dict) else None
        if (str(found or "") == value) != (op == "="):
            return False
    return True


# --- HTTP ------------------------------------------------------------------------------------


def _merge_patch(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = _merge_patch(result.get(key), value)
    return result


def _handler(api: KubeAPI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def setup(self) -> None:
            super().setup()
            # headers and body go in two writes: without this, each answer waits 40 ms for an ACK
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with api.lock:
                api.connections.add(self.connection)

        def finish(self) -> None:
            with api.lock:
                api.connections.discard(self.connection)
            super().finish()

        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

        def do_PUT(self) -> None:
            self._serve("PUT")

        def do_PATCH(self) -> None:
            self._serve("PATCH")

        def do_DELETE(self) -> None:
            self._serve("DELETE")

        def _serve(self, method: str) -> None:
            url = urlsplit(self.path)
            query = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length)) if length else None
            try:
                api.record(Request(method, url.path, query, body))
                found = _PATH.match(url.path)
                if not found or url.path.startswith("/apis/") != (found["res"] == "jobs"):
                    raise ApiError(
                        404, "NotFound", "the server could not find the requested resource"
                    )
                self._route(
                    method,
                    found["res"],
                    found["ns"],
                    found["name"],
                    bool(found["log"]),
                    query,
                    body,
                )
            except ApiError as error:
                self._json(error.status["code"], error.status)

        def _route(
            self,
            method: str,
            res: str,
            ns: str | None,
            name: str | None,
            log: bool,
            query: dict[str, str],
            body: Any,
        ) -> None:
            if log and name and ns and method == "GET":
                self._stream(api.log(ns, name, query), "text/plain")
            elif name is None and method == "GET":
                if query.get("watch") in ("true", "1"):
                    self._watch(api.watch(res, ns, query), float(query.get("timeoutSeconds") or 0))
                else:
                    self._send(200, api.listing(res, ns, query), "application/json")
            elif name is None and method == "POST" and ns and isinstance(body, dict):
                api_version, kind, _ = RESOURCES[res]
                body.update(apiVersion=api_version, kind=kind)
                body.setdefault("metadata", {})["namespace"] = ns
                body["metadata"].pop("resourceVersion", None)
                self._json(201, _typed(res, api.add(body)))
            elif name and ns:
                self._object(method, res, ns, name, body)
            else:
                raise ApiError(405, "MethodNotAllowed", f"{method} is not allowed here")

        def _object(self, method: str, res: str, ns: str, name: str, body: Any) -> None:
            with api.lock:
                current = api.get(res, ns, name)
                if current is None:
                    raise ApiError(
                        404, "NotFound", f'{res} "{name}" not found', name=name, kind=res
                    )
                if method == "GET":
                    return self._json(200, _typed(res, current))
                if method == "DELETE":
                    api.delete(res, ns, name)
                    return self._json(200, status(200, "", "", name=name, kind=res))
                update = _merge_patch(current, body) if method == "PATCH" else dict(body or {})
                wanted = ((body or {}).get("metadata") or {}).get("resourceVersion")
                if wanted and wanted != current["metadata"]["resourceVersion"]:
                    raise ApiError(
                        409,
                        "Conflict",
                        f'Operation cannot be fulfilled on {res} "{name}": '
                        "the object has been modified; please apply your changes to the "
                        "latest version and try again",
                        name=name,
                        kind=res,
                    )
                update.setdefault("metadata", {}).update(name=name, namespace=ns)
                api_version, kind, _ = RESOURCES[res]
                update.update(apiVersion=api_version, kind=kind)
                return self._json(200, _typed(res, api.replace(update)))

        def _json(self, code: int, obj: Obj) -> None:
            self._send(code, json.dumps(obj).encode(), "application/json")

        def _send(self, code: int, data: bytes, content_type: str) -> None:
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _chunked(self, content_type: str) -> None:
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()

        def _chunk(self, data: bytes) -> None:
            if data:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))

        def _stream(self, chunks: Iterator[bytes], content_type: str) -> None:
            first = next(chunks, b"")  # an error is raised here, before anything is sent
            self._chunked(content_type)
            self._chunk(first)
            for chunk in chunks:
                self._chunk(chunk)
            self.wfile.write(b"0\r\n\r\n")

        def _watch(self, watch: _Watch, timeout: float) -> None:
            self._chunked("application/json")
            deadline = time.monotonic() + (timeout or 3600)
            try:
                while lines := _next_lines(watch, deadline):
                    for line in lines:
                        if line is None:
                            return self._end(dropped=watch.dropped)
                        self._chunk(line)
                    self.wfile.flush()
                self._end(dropped=False)  # timeoutSeconds: the server ends the watch cleanly
            except OSError:
                self.close_connection = True
            finally:
                api.forget(watch)

        def _end(self, *, dropped: bool) -> None:
            if dropped:  # cut in the middle, without the last chunk, as a lost connection is
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
            else:
                self.wfile.write(b"0\r\n\r\n")

    return Handler


def _next_lines(watch: _Watch, deadline: float) -> list[bytes | None]:
    with watch.ready:
        watch.ready.wait_for(lambda: watch.queue, max(deadline - time.monotonic(), 0))
        lines, watch.queue = watch.queue, []
    return lines
