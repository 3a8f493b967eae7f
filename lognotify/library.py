"""capture_and_notify(): the library entry, as a context manager and a decorator."""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
import time
import traceback

from lognotify import exits
from lognotify.blocks import ACTIVE, SHARED, BlockHandler
from lognotify.capture import Capture
from lognotify.console import Console
from lognotify.ending import block_result
from lognotify.errors import ConfigError
from lognotify.handler import log_options
from lognotify.notify import notify
from lognotify.run import signals
from lognotify.settings import keywords_for, load_settings, unknown_env

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from types import FrameType, TracebackType
    from typing import Any, Literal, ParamSpec, TextIO, TypeVar, overload

    from lognotify.errorrule import ErrorRule
    from lognotify.fdcapture import OutputCapture
    from lognotify.handler import TeeHandler
    from lognotify.settings.model import Settings

    P = ParamSpec("P")
    R = TypeVar("R")

DEFAULT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_KEYWORDS = keywords_for("all", "library")


class CaptureAndNotify(contextlib.ContextDecorator):
    """The object :func:`capture_and_notify` returns; see there."""

    def __init__(
        self,
        *,
        echo: bool = True,
        level: int | str = logging.INFO,
        log_format: str = DEFAULT_FORMAT,
        stream: TextIO | None = None,
        **settings: Any,
    ) -> None:
        misplaced = keywords_for("cli", "watch") & set(settings)
        if misplaced:
            raise TypeError(f"{', '.join(sorted(misplaced))}: only the command line takes these")
        unknown = set(settings) - _KEYWORDS
        if unknown:  # a typo in a keyword is a programming error: say so now, not at run time
            raise TypeError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        self._options: dict[str, Any] = dict(
            echo=echo, level=level, log_format=log_format, stream=stream, **settings
        )
        self._settings_given = settings
        self._handler: BlockHandler | None = None
        self._nested = False
        self.main_thread = False
        self.stopped_by: int | None = None  # SIGTERM or SIGINT that reached the block
        self.delivering = False
        self.late_signals: list[int] = []

    def _recreate_cm(self) -> CaptureAndNotify:
        # A decorated function gets a fresh capture per call, so calls never share state.
        return CaptureAndNotify(**self._options)

    def __call__(self, function: Callable[P, R]) -> Callable[P, R]:  # type: ignore[override]
        """Decorate ``function``: each call runs in a fresh block.

        A coroutine function is wrapped around its awaiting, not around the mere creation
        of the coroutine. A generator function is refused: its run is paused and resumed by
        its consumer, who may stop it early; put the block inside it instead.
        """
        import functools
        import inspect

        new_block = self._recreate_cm
        wrapper: Any
        if inspect.iscoroutinefunction(function):

            async def wrapper(*args: Any, **kwargs: Any) -> Any:
                with new_block():
                    return await function(*args, **kwargs)

        elif inspect.isgeneratorfunction(function) or inspect.isasyncgenfunction(function):
            raise TypeError(
                f"capture_and_notify cannot decorate the generator function "
                f"{function.__qualname__}: use `with capture_and_notify():` inside it, or "
                "decorate the function that consumes it"
            )
        else:

            def wrapper(*args: Any, **kwargs: Any) -> Any:
                with new_block():
                    return function(*args, **kwargs)

        return functools.wraps(function)(wrapper)

    @property
    def handler(self) -> TeeHandler | None:
        """The TeeHandler while the block runs (its capture holds the log so far)."""
        return self._handler

    def __enter__(self) -> CaptureAndNotify:
        if ACTIVE.get() is not None:
            # Inside another block of this thread (a decorated main() called in a `with`):
            # that one captures, reports and handles SIGTERM; a second would mean two mails.
            self._nested = True
            return self
        self.stopped_by, self.delivering, self.late_signals = None, False, []
        self._console = Console()
        try:
            self._settings, self._rule = _settings(self._settings_given)
            level, formatter = log_options(self._options)
        except ConfigError as exc:
            self._console.warn(str(exc))
            raise SystemExit(exits.CONFIG_ERROR) from exc
        for warning in unknown_env():
            self._console.warn(warning)
        self._started = time.time()
        capture = Capture(self._settings.max_bytes, rule=self._rule)
        handler = BlockHandler(
            self,
            stream=self._options["stream"],
            capture=capture,
            echo=self._options["echo"],
            level=level,
        )
        handler.setFormatter(formatter)
        self._handler = handler
        self._output = self._capture_output(handler) if self._settings.capture == "output" else None
        self.main_thread = threading.current_thread() is threading.main_thread()
        SHARED.enter(self, handler, level)
        ACTIVE.set(self)
        return self

    def _capture_output(self, handler: BlockHandler) -> OutputCapture | None:
        """Descriptors 1 and 2 through the capture; None (and one line) when they cannot be."""
        from lognotify.fdcapture import capture_output

        try:
            output = capture_output(handler.capture.append)
        except OSError as exc:  # fd 1 or 2 closed, no descriptors left: the records still go
            self._console.warn(f"cannot capture the output ({exc}); capturing log records only")
            return None
        # An echoed record now reaches the capture through stdout; its own copy would be twice.
        handler.capture_echoed = self._options["stream"] is not None
        return output

    def _hold(self, signum: int, frame: FrameType | None) -> None:
        self.late_signals.append(signum)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> Literal[False]:
        if self._nested:
            self._nested = False
            return False
        self.delivering = True
        ended = time.time()
        ACTIVE.set(None)
        held = None
        if self.main_thread and signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
            # Ctrl-C while the report goes out must not put a KeyboardInterrupt from inside
            # smtplib in place of the job's own outcome: held, then delivered once it is sent.
            held = signals.install((signal.SIGINT,), self._hold)
        try:
            self._report(exc, tb, ended)
        finally:
            SHARED.stop_watching(self)
            if held is not None:
                held.restore()
        if signal.SIGTERM in self.late_signals:
            # SIGTERM came while the report was going out: deferred, never dropped, so the
            # process still ends with 143 even when the job's exception would be caught above.
            SHARED.terminate_all()  # blocks beside this one (other tasks) are stopped by it too
            if exc is not None and not isinstance(exc, SystemExit):
                traceback.print_exception(exc_type, exc, tb)  # as Python would have shown it
            raise SystemExit(exits.for_signal(signal.SIGTERM)) from exc
        if signal.SIGINT in self.late_signals:
            signal.raise_signal(signal.SIGINT)  # to the job's own handler: KeyboardInterrupt
        return False  # never swallow the job's exception

    def _report(self, exc: BaseException | None, tb: TracebackType | None, ended: float) -> None:
        handler = self._handler
        assert handler is not None  # __enter__ ran
        if self._output is not None:
            with signals.critical:  # a SIGTERM now waits: it is held while the report goes out
                self._output.close()  # fds 1 and 2 are the original ones again, nothing lost
        SHARED.stop_capturing(self, handler)
        handler.close()
        self._handler = None
        try:
            result = block_result(
                exc,
                tb,
                stopped_by=self.stopped_by,
                started=self._started,
                ended=ended,
                output=handler.capture.snapshot(),
                error_seen=handler.error_seen,
            )
            notify(result, self._settings, self._console, rule=self._rule)
        except Exception as error:  # ours must never replace the job's outcome
            self._console.warn(f"could not make the report: {type(error).__name__}: {error}")


if TYPE_CHECKING:  # typing costs ~3 ms at import; the overloads are for type checkers only

    @overload
    def capture_and_notify(function: Callable[P, R], /) -> Callable[P, R]: ...

    @overload
    def capture_and_notify(**settings: Any) -> CaptureAndNotify: ...


def capture_and_notify(
    function: Callable[P, R] | None = None, /, **settings: Any
) -> CaptureAndNotify | Callable[P, R]:
    """Capture the logging (or all the output) of a block of work; mail a report when it fails.

    Use it as a context manager (``with capture_and_notify(job_name="nightly-etl"):``) or a
    decorator (``@capture_and_notify(job_name="nightly-etl")``, or bare
    ``@capture_and_notify`` with every setting from the environment). While active, a
    :class:`TeeHandler` on the root logger writes every record to stdout (``echo=False``
    turns that off) and into a bounded capture; Python warnings are captured too. With
    ``capture="output"`` everything written to file descriptors 1 and 2 is captured as well
    (print, subprocesses, C code). On leaving:

    * an exception: a failure report with the traceback, then the exception propagates;
    * ``SystemExit`` with a non-zero code: a failure report with that exit code
      (``SystemExit(0)`` and ``SystemExit(None)`` are success); ``KeyboardInterrupt``: 130;
    * SIGTERM (main thread only): the block is interrupted with ``SystemExit(143)``, so
      ``finally`` clauses run; the report says SIGTERM and the process exits 143.

    The root logger, the signal handlers and warning capture are restored as they were.
    Settings are the keywords of the contract (``to``, ``smtp_host``, ``notify_on``, ...),
    falling back to ``LOGNOTIFY_*`` variables read on entry; ``level`` (default INFO) and
    ``log_format`` shape what is captured. A malformed setting prints one line and exits 2
    before the block runs. A failure to notify is one line on stderr, never an exception.
    """
    if function is not None:
        return CaptureAndNotify(**settings)(function)
    return CaptureAndNotify(**settings)


def _settings(given: dict[str, Any]) -> tuple[Settings, ErrorRule]:
    from lognotify.errorrule import ErrorRule

    settings = load_settings(given, scopes=("all", "library", "env"))
    if settings.subject is not None or settings.template_dir:
        from lognotify.report.templates import check

        check(settings.subject, settings.template_dir)
    return settings, ErrorRule(settings.error_patterns)
