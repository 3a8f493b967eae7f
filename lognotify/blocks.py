"""What all ``capture_and_notify`` blocks of a process share: the root logger, the capture of
warnings, and the SIGTERM and SIGINT handlers.

Blocks may run side by side (threads, asyncio tasks) and leave in any order: the first block
in saves each of these, the last one out restores it, so that none is left changed. Only
blocks of the main thread take the signals (Python runs signal handlers there).
"""

from __future__ import annotations

import contextvars
import logging
import signal
import threading
import warnings

from lognotify import exits
from lognotify.handler import TeeHandler
from lognotify.run import signals

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import FrameType
    from typing import Any, Protocol

    class Block(Protocol):
        """What the shared state needs of a block (``library.CaptureAndNotify``)."""

        main_thread: bool
        stopped_by: int | None
        delivering: bool
        late_signals: list[int]


# The block running in this flow of control, if any: per thread, and per asyncio task (each
# task runs in a copy of the context it was created in), so that concurrent jobs in tasks or
# threads each have their own block, and only a block inside a block is transparent.
ACTIVE: contextvars.ContextVar[Block | None] = contextvars.ContextVar(
    "lognotify_block", default=None
)


class BlockHandler(TeeHandler):
    """The TeeHandler of one block.

    With blocks side by side, a record logged inside a block goes to that block alone. A
    record from elsewhere (a worker thread the job started: threads do not inherit the
    context) goes into every block's capture, and is echoed once.
    """

    def __init__(self, block: Block, **options: Any) -> None:
        super().__init__(**options)
        self.block = block

    def emit(self, record: logging.LogRecord) -> None:
        owner = ACTIVE.get()
        if owner is None:
            self._tee(record, echo=self.echo and SHARED.echoes_strays(self))
        elif owner is self.block:
            self._tee(record, echo=self.echo)


class Shared:
    """The process's one shared state, guarded by one lock (taken inside ``critical``)."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.capturing: list[tuple[Block, BlockHandler]] = []
        self.saved_level = logging.NOTSET
        self.saved_showwarning: Any = None
        self.watching: list[Block] = []  # main-thread blocks under our handlers
        self.saved: signals.Saved | None = None

    def enter(self, block: Block, handler: BlockHandler, level: int) -> None:
        """Start capturing for ``block``; in the main thread, take SIGTERM and SIGINT."""
        with signals.critical, self.lock:
            root = logging.getLogger()
            ours = {id(h) for _, h in self.capturing}
            if not self.capturing:
                self.saved_level = root.level
                self.saved_showwarning = warnings.showwarning
                if warnings.showwarning is not logging._showwarning:  # type: ignore[attr-defined]
                    logging.captureWarnings(True)
            if not [h for h in root.handlers if id(h) not in ours] and root.level > level:
                # Logging was never configured: its default WARNING level was nobody's choice.
                root.setLevel(level)
            root.addHandler(handler)
            self.capturing.append((block, handler))
            if not block.main_thread:
                return
            if not self.watching:
                # A process that ignores SIGTERM (or SIGINT) keeps ignoring it.
                self.saved = signals.install((signal.SIGTERM, signal.SIGINT), self.on_signal)
            self.watching.append(block)

    def stop_capturing(self, block: Block, handler: BlockHandler) -> None:
        """Take ``block``'s handler off the root logger; the last one out restores it."""
        with signals.critical, self.lock:
            root = logging.getLogger()
            root.removeHandler(handler)
            self.capturing.remove((block, handler))
            if self.capturing:
                return
            root.setLevel(self.saved_level)
            if warnings.showwarning is not self.saved_showwarning:
                logging.captureWarnings(False)
                warnings.showwarning = self.saved_showwarning

    def stop_watching(self, block: Block) -> None:
        """``block`` no longer takes the signals; the last one out puts the old handlers back."""
        with signals.critical, self.lock:
            if block not in self.watching:
                return
            self.watching.remove(block)
            if not self.watching and self.saved is not None:
                self.saved.restore()
                self.saved = None

    def echoes_strays(self, handler: BlockHandler) -> bool:
        """Whether ``handler`` is the one that echoes records logged outside any block."""
        first = next((h for _, h in self.capturing if h.echo), None)
        return first is handler

    def on_signal(self, signum: int, frame: FrameType | None) -> None:
        """SIGTERM: the blocks end with SystemExit(143); SIGINT: KeyboardInterrupt, as
        Python's own handler would. Never while lognotify's own code holds a lock."""
        delivering = [block for block in self.watching if block.delivering]
        if delivering:  # let the report go out first; it ends the process after
            delivering[-1].late_signals.append(signum)
            return
        for block in self.watching:
            block.stopped_by = block.stopped_by or signum
        previous = self.saved.handlers.get(signum) if self.saved is not None else None
        signals.deferred(lambda: _interrupt(signum, previous, frame))

    def terminate_all(self) -> None:
        """Every block beside one that was told of SIGTERM late is stopped by it too."""
        for block in self.watching:
            block.stopped_by = block.stopped_by or signal.SIGTERM


def _interrupt(signum: int, previous: object, frame: FrameType | None) -> None:
    if signum != signal.SIGINT:
        raise SystemExit(exits.for_signal(signum))
    if callable(previous):  # the job's own SIGINT handler, or Python's: KeyboardInterrupt
        previous(signum, frame)
    else:
        raise KeyboardInterrupt


SHARED = Shared()
