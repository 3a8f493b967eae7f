"""The seam around the official ``kubernetes`` client: its ApiClient makes every request, and
every answer is read raw, as JSON.

The client's own models cost about a millisecond per pod to build; a first list of 20,000 pods
would take half a minute and a gigabyte. So every call here asks for the raw response
(``_preload_content=False``), lists in pages (``limit``/``continue``) and reads the JSON
itself. ``kubernetes`` is imported in here only, and only when a watch starts: lognotify works
without the ``watch`` extra. Every failure comes out as an ``ApiError`` that says where it
tried and why, in words fit for one ``lognotify:`` line.
"""

from __future__ import annotations

import json

from lognotify.errors import LognotifyError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from typing import Any

    from lognotify.capture import Capture
    from lognotify.kubernetes.watch.objects import Obj

#: Items per page of a list: big enough to be quick, small enough that a page stays small.
PAGE = 500
#: Seconds to connect, and to wait for an answer (a list page, a ConfigMap).
CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 60.0
#: A pod's log streams for at most this long.
LOG_TIMEOUT = 120.0
CHUNK = 64 * 1024


class ApiError(LognotifyError):
    """A request to the Kubernetes API failed; ``status`` is 0 when no answer came.

    ``answer`` is the API's own message, when it gave one.
    """

    def __init__(self, message: str, *, status: int = 0, answer: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.answer = answer


class Gone(ApiError):
    """410: the resource version (or continue token) is older than the API's history."""


class Conflict(ApiError):
    """409: the object changed since it was read, or already exists."""


class NotFound(ApiError):
    """404: no such object."""


class Dropped(ApiError):
    """A watch's connection was cut in the middle."""


_BY_STATUS: dict[int, type[ApiError]] = {404: NotFound, 409: Conflict, 410: Gone}


def _unreachable(host: str, exc: BaseException) -> ApiError:
    cause: BaseException | None = exc
    while cause is not None:  # urllib3 wraps the socket's error in two or three others
        if isinstance(cause, OSError) and cause.strerror:
            return ApiError(f"cannot reach the Kubernetes API at {host}: {cause.strerror.lower()}")
        cause = getattr(cause, "reason", None) or cause.__cause__ or cause.__context__
    return ApiError(f"cannot reach the Kubernetes API at {host}: {exc}")


def _answer(what: str, status: int, body: object) -> ApiError:
    message = ""
    try:
        message = str(json.loads(str(body)).get("message") or "")
    except (ValueError, AttributeError):
        message = str(body or "")[:200]
    kind = _BY_STATUS.get(status, ApiError)
    message = message or "no reason given"
    return kind(f"{what}: the API answered {status}: {message}", status=status, answer=message)


class Api:
    """The requests the watcher makes, over one ApiClient; JSON in, JSON out."""

    def __init__(self, client: Any) -> None:
        from kubernetes.client import BatchV1Api, CoreV1Api

        self._batch = BatchV1Api(client)
        self._core = CoreV1Api(client)
        self.host = str(client.configuration.host)

    def _call(self, what: str, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        kwargs.setdefault("_request_timeout", (CONNECT_TIMEOUT, READ_TIMEOUT))
        try:
            return method(*args, _preload_content=False, **kwargs)
        except ApiException as exc:
            raise _answer(what, int(exc.status or 0), exc.body) from None
        except (HTTPError, OSError) as exc:
            raise _unreachable(self.host, exc) from None

    def _read(self, what: str, response: Any) -> Obj:
        from urllib3.exceptions import HTTPError

        try:
            found: Obj = json.loads(response.data)
            return found
        except (HTTPError, OSError) as exc:
            raise _unreachable(self.host, exc) from None
        except ValueError as exc:
            raise ApiError(f"{what}: the API's answer is not JSON: {exc}") from None
        finally:
            response.release_conn()

    def _lister(
        self, kind: str, namespace: str | None
    ) -> tuple[Callable[..., Any], tuple[str, ...]]:
        if kind == "jobs":
            if namespace:
                return self._batch.list_namespaced_job, (namespace,)
            return self._batch.list_job_for_all_namespaces, ()
        if namespace:
            return self._core.list_namespaced_pod, (namespace,)
        return self._core.list_pod_for_all_namespaces, ()

    def pages(
        self,
        kind: str,
        namespace: str | None,
        selector: str | None,
        *,
        fields: str | None = None,
        limit: int = PAGE,
    ) -> Iterator[tuple[list[Obj], str]]:
        """The ``kind`` ("jobs", "pods") objects, a page at a time, each with the list's version.

        ``selector`` selects by label, ``fields`` by field (``status.phase=Pending``).
        """
        method, args = self._lister(kind, namespace)
        what = f"list {kind}" + (f" in {namespace}" if namespace else "")
        token = None
        while True:
            response = self._call(
                what,
                method,
                *args,
                label_selector=selector,
                field_selector=fields,
                limit=limit,
                _continue=token,
            )
            page = self._read(what, response)
            meta = page.get("metadata") or {}
            yield page.get("items") or [], str(meta.get("resourceVersion", ""))
            token = meta.get("continue")
            if not token:
                return

    def watch(
        self,
        kind: str,
        namespace: str | None,
        selector: str | None,
        version: str,
        seconds: int,
        *,
        fields: str | None = None,
    ) -> Stream:
        """The events of ``kind`` after ``version``, for ``seconds`` at most (then it ends)."""
        method, args = self._lister(kind, namespace)
        what = f"watch {kind}" + (f" in {namespace}" if namespace else "")
        response = self._call(
            what,
            method,
            *args,
            label_selector=selector,
            field_selector=fields,
            watch=True,
            resource_version=version,
            timeout_seconds=seconds,
            allow_watch_bookmarks=True,
            _request_timeout=(CONNECT_TIMEOUT, seconds + READ_TIMEOUT),
        )
        return Stream(response, self.host)

    def job_pods(self, namespace: str, job_uid: str) -> list[Obj]:
        """Every pod of one Job (by the label its controller sets; the old name as well)."""
        from lognotify.kubernetes.watch.objects import JOB_UID_LABELS

        for label in JOB_UID_LABELS:
            items: list[Obj] = []
            for page, _ in self.pages("pods", namespace, f"{label}={job_uid}"):
                items += page
            if items:
                return items
        return []

    def read_log(
        self, namespace: str, pod: str, container: str | None, previous: bool, capture: Capture
    ) -> None:
        """Stream a container's log into ``capture`` (which keeps its head and tail only)."""
        from urllib3.exceptions import HTTPError

        what = f"read the log of pod {namespace}/{pod}"
        response = self._call(
            what,
            self._core.read_namespaced_pod_log,
            pod,
            namespace,
            container=container,
            previous=previous,
            _request_timeout=(CONNECT_TIMEOUT, LOG_TIMEOUT),
        )
        try:
            for chunk in response.stream(CHUNK):
                capture.append(chunk, 1)
        except (HTTPError, OSError) as exc:
            raise _unreachable(self.host, exc) from None
        finally:
            response.release_conn()

    def config_map(self, namespace: str, name: str) -> Obj | None:
        """The ConfigMap, or None when there is none."""
        what = f"read ConfigMap {namespace}/{name}"
        try:
            response = self._call(what, self._core.read_namespaced_config_map, name, namespace)
        except NotFound:
            return None
        return self._read(what, response)

    def create_config_map(self, namespace: str, body: Obj) -> Obj:
        what = f"create ConfigMap {namespace}/{body['metadata']['name']}"
        response = self._call(what, self._core.create_namespaced_config_map, namespace, body)
        return self._read(what, response)

    def replace_config_map(self, namespace: str, body: Obj) -> Obj:
        name = body["metadata"]["name"]
        what = f"update ConfigMap {namespace}/{name}"
        method = self._core.replace_namespaced_config_map
        return self._read(what, self._call(what, method, name, namespace, body))


class Stream:
    """The events of one watch, as dicts; ``close`` (from any thread) ends it."""

    def __init__(self, response: Any, host: str) -> None:
        self._response = response
        self._host = host

    def __iter__(self) -> Iterator[Obj]:
        from urllib3.exceptions import HTTPError

        pending = b""
        try:
            for chunk in self._response.stream(None, decode_content=False):
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    if line.strip():
                        yield json.loads(line)
        except (HTTPError, OSError) as exc:
            raise Dropped(f"the watch connection to {self._host} was cut: {exc}") from None
        except ValueError as exc:
            raise Dropped(f"the watch sent something that is not JSON: {exc}") from None
        finally:
            self._response.release_conn()

    def close(self) -> None:
        """Cut the connection (a thread reading it gets an error, or the end)."""
        try:
            self._response.shutdown()
        except (AttributeError, OSError, RuntimeError, ValueError):
            self._response.close()  # urllib3 before 2.3 cannot, nor a released connection
