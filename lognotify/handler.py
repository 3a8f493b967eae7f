"""TeeHandler: each record formatted once, written to a stream and into a bounded capture."""

from __future__ import annotations

import logging
import sys

from lognotify.capture import Capture
from lognotify.settings import DEFAULT_MAX_BYTES

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import TextIO


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
        max_bytes: int = DEFAULT_MAX_BYTES,
        echo: bool = True,
        level: int | str = logging.NOTSET,
    ) -> None:
        super().__init__(level)
        self.stream = stream
        self.capture = capture if capture is not None else Capture(max_bytes)
        self.echo = echo
        self.error_seen = False

    def emit(self, record: logging.LogRecord) -> None:
        """Format ``record`` once; write it to the stream, then to the capture."""
        try:
            line = self.format(record) + "\n"
            if record.levelno >= logging.ERROR:
                self.error_seen = True
            if self.echo:
                stream = self.stream or sys.stdout
                stream.write(line)
                stream.flush()
            self.capture.append(line.encode("utf-8", "backslashreplace"))
        except RecursionError:
            raise
        except Exception:
            self.handleError(record)

    def getvalue(self) -> str:
        """The captured text (head and tail, without the part left out between them)."""
        return self.capture.snapshot().data.decode("utf-8", "replace")
