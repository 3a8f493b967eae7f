"""``run_watch``: connect, say what is watched, then one pass (``--once``) or watch to SIGTERM."""

from __future__ import annotations

import os
import sys
import threading
import time

from lognotify import exits
from lognotify.kubernetes.watch.api import Api, ApiError
from lognotify.kubernetes.watch.connect import kubeconfig_namespace, load_client, own_namespace
from lognotify.kubernetes.watch.state import Ledger, scope
from lognotify.kubernetes.watch.streams import (
    JOB_PODS,
    RETRY_FIRST,
    RETRY_MOST,
    Inbox,
    Reader,
    delay,
    list_into,
    source_name,
)
from lognotify.kubernetes.watch.watcher import Watcher

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from types import FrameType
    from typing import Any

    from lognotify.kubernetes.watch.model import Incident, WatchOptions


def _say(line: str) -> None:
    print(f"lognotify: {line}", file=sys.stderr, flush=True)


def duration(seconds: float) -> str:
    """``10m`` for 600, ``1h`` for 3600, ``90s`` for 90."""
    for unit, size in (("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


def start_line(options: WatchOptions, host: str, where: str) -> str:
    """The one line that says what the watcher watches, and where it keeps its record."""
    spaces = ", ".join(options.namespaces) if options.namespaces else "all namespaces"
    selector = f"selector {options.selector}" if options.selector else "no selector"
    what = "one pass over" if options.once else "watching"
    return (
        f"{what} Jobs in {spaces} ({selector}) at {host}; pods not started after "
        f"{duration(options.stuck_after)} are reported; reports are recorded in {where}"
    )


def _sources(options: WatchOptions) -> list[tuple[str, str | None, str | None]]:
    spaces: list[str | None] = list(options.namespaces) or [None]
    jobs = [("jobs", space, options.selector) for space in spaces]
    return jobs + [("pods", space, JOB_PODS) for space in spaces]


def run_watch(
    options: WatchOptions,
    report: Callable[[Incident], bool],
    *,
    api_client: Any = None,
    say: Callable[[str], None] = _say,
    clock: Callable[[], float] = time.time,
) -> int:
    """Report every Job that failed for good, and every Job pod that does not start, once.

    ``report(incident)`` returns True when the report was taken (a server took it, or it was
    saved to the outbox and printed); only then is it recorded as reported, else it is tried
    again later. ``api_client``: a ``kubernetes.client.ApiClient`` (default: in-cluster, else
    the kubeconfig). ``say`` writes one ``lognotify:`` line. Returns the exit status: 0, or 1
    when ``--once`` could not reach the API. Without ``once``, watches until SIGTERM or SIGINT,
    which finish the report in flight, then return 0.
    """
    try:
        api = Api(api_client if api_client is not None else load_client())
        namespace = own_namespace(options.state_namespace, kubeconfig_namespace, os.environ)
    except ApiError as exc:
        say(str(exc))
        return exits.API_UNREACHABLE
    ledger = Ledger(api, namespace, scope(options.namespaces, options.selector))
    say(start_line(options, api.host, ledger.where))
    sources = _sources(options)
    names = [source_name(kind, space) for kind, space, _ in sources]
    watcher = Watcher(options, report, api=api, ledger=ledger, say=say, clock=clock, sources=names)
    inbox = Inbox()

    def stop(signum: int, frame: FrameType | None) -> None:
        watcher.stopping = True  # the report in flight ends first; then the loop sees this
        inbox.wake()

    saved = None
    if threading.current_thread() is threading.main_thread():
        import signal

        from lognotify.run import signals

        saved = signals.install((signal.SIGTERM, signal.SIGINT), stop)
    try:
        if options.once:
            return _once(api, watcher, sources, say)
        return _forever(api, watcher, inbox, sources, say)
    finally:
        if saved:
            saved.restore()
        inbox.close()


def _once(
    api: Api,
    watcher: Watcher,
    sources: list[tuple[str, str | None, str | None]],
    say: Callable[[str], None],
) -> int:
    try:
        watcher.ledger.load()
        for kind, space, selector in sources:
            list_into(api, kind, space, selector, watcher.take)
    except ApiError as exc:
        say(str(exc))
        return exits.API_UNREACHABLE
    watcher.run_due()
    if watcher.ledger.dirty:
        watcher.save_now()
    if watcher.not_taken:
        say(f"{watcher.not_taken} report(s) were not taken; the next pass tries them again")
    return exits.API_UNREACHABLE if watcher.api_errors else exits.OK


def _forever(
    api: Api,
    watcher: Watcher,
    inbox: Inbox,
    sources: list[tuple[str, str | None, str | None]],
    say: Callable[[str], None],
) -> int:
    readers: list[Reader] = []
    try:
        if not _load(watcher, inbox, say):
            return exits.OK
        readers = [
            Reader(api, kind, space, selector, inbox=inbox, say=say)
            for kind, space, selector in sources
        ]
        for reader in readers:
            reader.start()
        while not watcher.stopping:
            due = watcher.next_due()
            inbox.wait(None if due is None else max(due - watcher.clock(), 0.0))
            watcher.take(inbox.take())
            watcher.run_due()
    finally:
        for reader in readers:
            reader.stopping.set()
        for reader in readers:
            reader.stop(timeout=1.0)
        if watcher.ledger.dirty:
            watcher.save_now()
    return exits.OK


def _load(watcher: Watcher, inbox: Inbox, say: Callable[[str], None]) -> bool:
    """Read the record of reports, trying again while the API does not answer; False: stopped."""
    failures = 0
    while not watcher.stopping:
        try:
            watcher.ledger.load()
            return True
        except ApiError as exc:
            wait = delay(failures, RETRY_FIRST, RETRY_MOST)
            failures += 1
            say(f"{exc}; trying again in {wait:.1f} s")
            inbox.wait(wait)
    return False
