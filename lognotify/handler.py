"""TeeHandler: each record formatted once, written to a stream and into a bounded capture."""

from __future__ import annotations

import logging
import sys

from lognotify.capture import Capture
from lognotify.errors import ConfigError
from lognotify.run.signals import critical
from lognotify.settings.parsers import size

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, TextIO

DEFAULT_MAX_BYTES = 1 << 20


class TeeHandler(logging.Handler):
    """A logging handler that tees every record to a stream and into a :class:`Capture`.

    ``stream`` defaults to whatever ``sys.stdout`` is when a record arrives, and is flushed
    per record so that ``kubectl logs`` shows it at once; ``echo=False`` writes to the capture
    only. ``error_seen`` turns true once a record at ERROR or above has passed. Usable from
    ``logging.config.dictConfig``::

        "handlers": {"tee": {"class": "lognotify.TeeHandler", "max_bytes": 65536}}
    """

    def __init__(
        self,
        stream: TextIO | None = None,
        capture: Capture | None = None,
        *,
        max_bytes: int | str = DEFAULT_MAX_BYTES,
        echo: bool = True,
        level: int | str = logging.NOTSET,
    ) -> None:
        super().__init__(level)
        self.stream = stream
        if capture is None:
            # dictConfig passes what the file says: 65536, or "64K" as LOGNOTIFY_MAX_BYTES takes it
            capture = Capture(size(max_bytes, "max_bytes"))
        self.capture = capture
        self.echo = echo
        self.error_seen = False
        # With the block's output captured at the descriptors, an echoed record reaches the
        # capture through stdout: put into it here as well, it would be there twice.
        self.capture_echoed = True

    def handle(self, record: logging.LogRecord) -> bool:
        """As logging's, but never cut short by a raising signal handler while it holds this
        handler's lock (the library's SIGTERM would otherwise leave it held for ever)."""
        with critical:
            return bool(super().handle(record))

    def emit(self, record: logging.LogRecord) -> None:
        """Format ``record`` once; put it in the capture, then write it to the stream.

        The capture comes first: a stream that fails (closed, full disk) must not cost the
        report its record.
        """
        self._tee(record, echo=self.echo)

    def _tee(self, record: logging.LogRecord, *, echo: bool) -> None:
        try:
            line = self.format(record) + "\n"
            if record.levelno >= logging.ERROR:
                self.error_seen = True
            stream = self.stream or sys.stdout
            echoing = echo and stream is not None  # sys.stdout is None under pythonw
            if self.capture_echoed or not echoing:
                self.capture.append(line.encode("utf-8", "backslashreplace"))
            if echoing:
                stream.write(line)
                stream.flush()
        except RecursionError:
            raise
        except Exception:
            self.handleError(record)

    def getvalue(self) -> str:
        """The captured text (head and tail, without the part left out between them)."""
        return self.capture.snapshot().data.decode("utf-8", "replace")


def log_options(options: dict[str, Any]) -> tuple[int, logging.Formatter]:
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
