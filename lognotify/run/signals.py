"""Signals: installing handlers and putting back the ones that were there, written once.

Python runs signal handlers in the main thread, between two bytecodes, wherever it is. A
handler that raises (the library's SystemExit on SIGTERM) must never do so while lognotify's
own code on the main thread holds a lock or is half-way through changing a descriptor: the
lock would stay taken for ever, and the next record logged by any thread would hang. Such
code runs inside ``critical``; a handler asks ``deferred(action)`` and, inside it, the action
runs when the critical section ends instead.
"""

from __future__ import annotations

import signal
import sys
from _thread import get_ident

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from types import FrameType

    Handler = Callable[[int, FrameType | None], object] | int | None

#: The signals lognotify passes on to a command, and holds while a report goes out.
FORWARDED = (
    signal.SIGTERM,
    signal.SIGINT,
    signal.SIGHUP,
    signal.SIGQUIT,
    signal.SIGUSR1,
    signal.SIGUSR2,
)
#: The ones that mean "stop" when they come from outside (pod deleted, deadline, Ctrl-C).
STOPPING = frozenset({signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT})


def _main_thread() -> int:
    # threading knows the main thread; without it loaded (the wrapper, which does not need its
    # 2 ms), no thread but the main one has been started by Python code yet.
    threading = sys.modules.get("threading")
    return threading.main_thread().ident or get_ident() if threading else get_ident()


_MAIN_THREAD = _main_thread()


class Saved:
    """The handlers that were in place before ``install``; ``restore`` puts them back."""

    __slots__ = ("handlers", "ignored")

    def __init__(self) -> None:
        self.handlers: dict[int, Handler] = {}
        self.ignored: list[int] = []  # ignored where we were started: left ignored

    def restore(self) -> None:
        """Put every saved handler back (once)."""
        handlers, self.handlers = self.handlers, {}
        for signum, handler in handlers.items():
            signal.signal(signum, handler)


def install(
    signums: Iterable[int],
    handler: Callable[[int, FrameType | None], object],
    *,
    keep_ignored: bool = True,
) -> Saved:
    """Install ``handler`` for each of ``signums``; what was there comes back with restore().

    With ``keep_ignored`` a signal ignored where we were started stays ignored (a `&` job's
    SIGINT, nohup's SIGHUP), and is listed in ``Saved.ignored``.
    """
    saved = Saved()
    for signum in signums:
        previous = signal.getsignal(signum)
        if keep_ignored and previous is signal.SIG_IGN:
            saved.ignored.append(signum)
            continue
        saved.handlers[signum] = previous
        signal.signal(signum, handler)
    return saved


def name(signum: int) -> str:
    """``SIGTERM`` for 15; ``signal 64`` for a number Python has no name for."""
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


class _Critical:
    """``with critical:`` around main-thread code that a raising handler must not cut short."""

    def __init__(self) -> None:
        self.depth = 0
        self.pending: list[Callable[[], None]] = []

    def __enter__(self) -> None:
        if get_ident() == _MAIN_THREAD:
            self.depth += 1

    def __exit__(self, *exc: object) -> None:
        if get_ident() != _MAIN_THREAD:
            return
        self.depth -= 1
        if self.depth == 0 and self.pending:
            actions, self.pending = self.pending, []
            for action in actions:
                action()  # the first that raises ends the others' turn, as a signal would


critical = _Critical()


def deferred(action: Callable[[], None]) -> bool:
    """Run ``action`` now, or, inside a critical section, when it ends; whether it waits."""
    if critical.depth:
        critical.pending.append(action)
        return True
    action()
    return False
