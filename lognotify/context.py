"""capture_and_notify(): the library entry, as a context manager and a decorator."""

from __future__ import annotations

import contextlib
import contextvars
import logging
import os
import shlex
import signal
import sys
import threading
import time
import traceback
import warnings

from lognotify.capture import Capture
from lognotify.errors import ConfigError
from lognotify.handler import TeeHandler
from lognotify.notify import notify, say, should_notify
from lognotify.result import RunResult
from lognotify.settings import CLI_ONLY, FLAGS, load_settings, unknown_env

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from types import FrameType, TracebackType
    from typing import Any, Literal, ParamSpec, TextIO, TypeVar, overload

    P = ParamSpec("P")
    R = TypeVar("R")

DEFAULT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
SIGTERM_EXIT = 128 + signal.SIGTERM
SIGINT_EXIT = 128 + signal.SIGINT
# The block running in this flow of control, if any: per thread, and per asyncio task (each
# task runs in a copy of the context it was created in), so that concurrent jobs in tasks or
# threads each have their own block, and only a block inside a block is transparent.
_ACTIVE: contextvars.ContextVar[CaptureAndNotify | None] = contextvars.ContextVar(
    "lognotify_block", default=None
)


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
        misplaced = CLI_ONLY & set(settings)
        if misplaced:
            raise TypeError(f"{', '.join(sorted(misplaced))}: only the command line takes these")
        unknown = set(settings) - set(FLAGS)
        if unknown:  # a typo in a keyword is a programming error: say so now, not at run time
            raise TypeError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        self._options: dict[str, Any] = dict(
            echo=echo, level=level, log_format=log_format, stream=stream, **settings
        )
        self._settings_given = settings
        self._handler: _BlockHandler | None = None
        self._nested = False
        self._terminated = False
        self._delivering = False
        self._late_signals: list[int] = []

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
        if _ACTIVE.get() is not None:
            # Inside another block of this thread (a decorated main() called in a `with`):
            # that one captures, reports and handles SIGTERM; a second would mean two mails.
            self._nested = True
            return self
        self._terminated = self._delivering = False  # this object may be entered again
        self._late_signals = []
        try:
            self._settings = load_settings(self._settings_given)
            level, formatter = _log_options(self._options)
        except ConfigError as exc:
            say(str(exc))
            raise SystemExit(2) from exc
        for warning in unknown_env():
            say(warning)
        self._started = time.time()
        handler = _BlockHandler(
            self,
            stream=self._options["stream"],
            capture=Capture(self._settings.max_bytes),
            echo=self._options["echo"],
            level=level,
        )
        handler.setFormatter(formatter)
        self._handler = handler
        self._main_thread = threading.current_thread() is threading.main_thread()
        _SHARED.enter(self, handler, level)
        _ACTIVE.set(self)
        return self

    def _hold(self, signum: int, frame: FrameType | None) -> None:
        self._late_signals.append(signum)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> Literal[False]:
        if self._nested:
            self._nested = False
            return False
        self._delivering = True
        ended = time.time()
        _ACTIVE.set(None)
        saved_sigint: Any = None
        if self._main_thread and signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
            # Ctrl-C while the report goes out must not put a KeyboardInterrupt from inside
            # smtplib in place of the job's own outcome: held, then delivered once it is sent.
            saved_sigint = signal.signal(signal.SIGINT, self._hold)
        handler = self._handler
        assert handler is not None  # __enter__ ran
        _SHARED.stop_capturing(self, handler)
        handler.close()
        self._handler = None
        try:
            result = self._result(exc, tb, handler, ended)
            if should_notify(self._settings.notify_on, result):
                notify(result, self._settings)
        except Exception as error:  # ours must never replace the job's outcome
            say(f"could not make the report: {type(error).__name__}: {error}")
        finally:
            _SHARED.stop_watching(self)
            if saved_sigint is not None:
                signal.signal(signal.SIGINT, saved_sigint)
        if signal.SIGTERM in self._late_signals:
            # SIGTERM came while the report was going out: deferred, never dropped, so the
            # process still ends with 143 even when the job's exception would be caught above.
            _SHARED.terminate_all()  # blocks beside this one (other tasks) are stopped by it too
            if exc is not None and not isinstance(exc, SystemExit):
                traceback.print_exception(exc_type, exc, tb)  # as Python would have shown it
            raise SystemExit(SIGTERM_EXIT) from exc
        if signal.SIGINT in self._late_signals:
            signal.raise_signal(signal.SIGINT)  # to the job's own handler: KeyboardInterrupt
        return False  # never swallow the job's exception

    def _result(
        self,
        exc: BaseException | None,
        tb: TracebackType | None,
        handler: TeeHandler,
        ended: float,
    ) -> RunResult:
        exit_code, sig, exception, trace = 0, None, None, None
        if self._terminated:
            # Our SystemExit(143), or what it became on its way out (a CancelledError in
            # asyncio, say): the run was stopped by SIGTERM either way. An exception a
            # `finally` raised after it is reported too.
            exit_code, sig = SIGTERM_EXIT, signal.SIGTERM
            if exc is not None and not isinstance(exc, (SystemExit, _cancelled())):
                exception = _describe(exc)
                trace = "".join(traceback.format_exception(type(exc), exc, tb))
        elif isinstance(exc, SystemExit):
            if exc.code is None or exc.code == 0:
                exit_code = 0
            elif isinstance(exc.code, int):
                exit_code = int(exc.code)  # sys.exit(True) exits 1
            else:  # sys.exit("message"): Python prints it and exits 1
                exit_code, exception = 1, f"SystemExit: {exc.code}"
        elif isinstance(exc, KeyboardInterrupt):
            exit_code, sig, exception = SIGINT_EXIT, signal.SIGINT, "KeyboardInterrupt"
        elif exc is not None:
            exit_code = 1
            exception = _describe(exc)
            trace = "".join(traceback.format_exception(type(exc), exc, tb))
        argv = getattr(sys, "orig_argv", None) or [sys.executable, *sys.argv]
        return RunResult(
            mode="library",
            command=shlex.join(argv),
            program=_script_name(),
            exit_code=exit_code,
            signal=sig,
            exception=exception,
            traceback=trace,
            started=self._started,
            ended=ended,
            output=handler.capture.snapshot(),
            error_reported=handler.error_seen,
        )


class _BlockHandler(TeeHandler):
    """The TeeHandler of one block.

    With blocks side by side (decorated tasks in threads or asyncio tasks), a record logged
    inside a block goes to that block alone. A record from elsewhere (a worker thread the job
    started: threads do not inherit the context) goes into every block's capture, and is
    echoed once.
    """

    def __init__(self, block: CaptureAndNotify, **options: Any) -> None:
        super().__init__(**options)
        self.block = block

    def emit(self, record: logging.LogRecord) -> None:
        owner = _ACTIVE.get()
        if owner is None:
            self._tee(record, echo=self.echo and _SHARED.echoes_strays(self))
        elif owner is self.block:
            self._tee(record, echo=self.echo)


class _Shared:
    """What all blocks of the process share: the root logger, warning capture, SIGTERM.

    Blocks may run side by side (threads, asyncio tasks) and leave in any order: the first
    block in saves each of these, the last one out restores it, so that none is left changed.
    Only blocks of the main thread take SIGTERM (Python runs signal handlers there).
    """

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.capturing: list[tuple[CaptureAndNotify, _BlockHandler]] = []
        self.saved_level = logging.NOTSET
        self.saved_showwarning: Any = None
        self.watching: list[CaptureAndNotify] = []  # main-thread blocks under our SIGTERM handler
        self.saved_sigterm: Any = None

    def enter(self, block: CaptureAndNotify, handler: _BlockHandler, level: int) -> None:
        with self.lock:
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
            if not block._main_thread:
                return
            if not self.watching:
                if signal.getsignal(signal.SIGTERM) is signal.SIG_IGN:
                    return  # a process that ignores SIGTERM keeps doing so
                self.saved_sigterm = signal.signal(signal.SIGTERM, self.on_sigterm)
            self.watching.append(block)

    def stop_capturing(self, block: CaptureAndNotify, handler: _BlockHandler) -> None:
        with self.lock:
            root = logging.getLogger()
            root.removeHandler(handler)
            self.capturing.remove((block, handler))
            if self.capturing:
                return
            root.setLevel(self.saved_level)
            if warnings.showwarning is not self.saved_showwarning:
                logging.captureWarnings(False)
                warnings.showwarning = self.saved_showwarning

    def stop_watching(self, block: CaptureAndNotify) -> None:
        with self.lock:
            if block not in self.watching:
                return
            self.watching.remove(block)
            if not self.watching:
                signal.signal(signal.SIGTERM, self.saved_sigterm)
                self.saved_sigterm = None

    def echoes_strays(self, handler: _BlockHandler) -> bool:
        """Whether ``handler`` is the one that echoes records logged outside any block."""
        first = next((h for _, h in self.capturing if h.echo), None)
        return first is handler

    def on_sigterm(self, signum: int, frame: FrameType | None) -> None:
        delivering = [block for block in self.watching if block._delivering]
        if delivering:  # let the report go out first; it ends the process with 143 after
            delivering[-1]._late_signals.append(signum)
            return
        self.terminate_all()
        raise SystemExit(SIGTERM_EXIT)

    def terminate_all(self) -> None:
        for block in self.watching:
            block._terminated = True


# The process's one shared state: the root logger and signal handlers are process-wide.
_SHARED = _Shared()


if TYPE_CHECKING:  # typing costs ~3 ms at import; the overloads are for type checkers only

    @overload
    def capture_and_notify(function: Callable[P, R], /) -> Callable[P, R]: ...

    @overload
    def capture_and_notify(**settings: Any) -> CaptureAndNotify: ...


def capture_and_notify(
    function: Callable[P, R] | None = None, /, **settings: Any
) -> CaptureAndNotify | Callable[P, R]:
    """Capture the logging of a block of work and mail a report when it fails.

    Use it as a context manager (``with capture_and_notify(job_name="nightly-etl"):``) or a
    decorator (``@capture_and_notify(job_name="nightly-etl")``, or bare
    ``@capture_and_notify`` with every setting from the environment). While active, a
    :class:`TeeHandler` on the root logger writes every record to stdout (``echo=False``
    turns that off) and into a bounded capture; Python warnings are captured too. On leaving:

    * an exception: a failure report with the traceback, then the exception propagates;
    * ``SystemExit`` with a non-zero code: a failure report with that exit code
      (``SystemExit(0)`` and ``SystemExit(None)`` are success); ``KeyboardInterrupt``: 130;
    * SIGTERM (main thread only): the block is interrupted with ``SystemExit(143)``, so
      ``finally`` clauses run; the report says SIGTERM and the process exits 143.

    The root logger, the SIGTERM handler and warning capture are restored as they were.
    Settings are the keywords of the contract (``to``, ``smtp_host``, ``notify_on``, ...),
    falling back to ``LOGNOTIFY_*`` variables read on entry; ``level`` (default INFO) and
    ``log_format`` shape what is captured. A malformed setting prints one line and exits 2
    before the block runs. A failure to notify is one line on stderr, never an exception.
    """
    if function is not None:
        return CaptureAndNotify(**settings)(function)
    return CaptureAndNotify(**settings)


def _cancelled() -> type[BaseException]:
    asyncio = sys.modules.get("asyncio")  # loaded if and only if a task could be cancelled
    return asyncio.CancelledError if asyncio is not None else SystemExit


def _log_options(options: dict[str, Any]) -> tuple[int, logging.Formatter]:
    """The handler's level and formatter from ``level``, ``log_format`` and ``echo``."""
    if not isinstance(options["echo"], bool):
        raise ConfigError(f"echo: expected True or False, got {options['echo']!r}")
    level = options["level"]
    if isinstance(level, str) and not level.strip().isdigit():
        level = logging.getLevelName(level.strip().upper())  # a number when the name is known
    elif isinstance(level, (int, str)) and not isinstance(level, bool):
        level = int(level)
    if not isinstance(level, int) or level < 0:
        raise ConfigError(
            f"level: expected a logging level like INFO, DEBUG or 20, got {options['level']!r}"
        )
    try:
        formatter = logging.Formatter(options["log_format"], validate=True)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"log_format: {exc}") from None
    return level, formatter


def _describe(exc: BaseException) -> str:
    kind = type(exc)
    name = kind.__qualname__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"
    try:
        message = str(exc)
    except Exception:  # an exception may fail to describe itself; the report still goes out
        message = "<unprintable>"
    return f"{name}: {message}" if message else name


def _script_name() -> str:
    path = sys.argv[0] if sys.argv and sys.argv[0] else ""
    if not path or path in ("-c", "-m", "-"):
        return "python"
    stem, _ = os.path.splitext(os.path.basename(path))
    if stem == "__main__":
        return os.path.basename(os.path.dirname(os.path.abspath(path))) or "python"
    return stem
