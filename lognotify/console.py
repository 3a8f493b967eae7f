"""Console: the one owner of lognotify's own lines on stderr (and of the report it may print).

Every line starts with ``lognotify:``. When the command's output passed through ended in the
middle of a line, lognotify's next line on that stream starts on a line of its own, not glued
to the command's last words: the console is told where the output ended (``after_output``).
With ``quiet`` (``--passthrough off`` once the report was sent) it prints nothing at all, so
that cron mails nothing for a run that was reported.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import BinaryIO, TextIO

REPORT_BEGINS = "lognotify: report follows"
REPORT_ENDS = "lognotify: end of report"


class Console:
    """Writes lognotify's own lines to ``stderr`` (default: ``sys.stderr`` at each write)."""

    def __init__(self, stderr: TextIO | None = None) -> None:
        self._stderr = stderr
        self._mid_line: set[int] = set()
        self.quiet = False

    def after_output(self, mid_line: Iterable[int]) -> None:
        """The command's output passed through ended mid-line on these descriptors (1, 2)."""
        self._mid_line.update(mid_line)

    def say(self, line: str, *, always: bool = False) -> None:
        """One ``lognotify:`` line; its white space, line breaks included, made single spaces.

        ``always`` prints it even when quiet (a warning or a failure, never a success).
        """
        if self.quiet and not always:
            return
        self._write(f"lognotify: {' '.join(line.split())}\n")

    def warn(self, line: str) -> None:
        """A line that is printed whatever ``quiet`` says."""
        self.say(line, always=True)

    def report_text(self, text: str) -> None:
        """The text of a report that no server took, between two marker lines, for the logs."""
        body = text if text.endswith("\n") else f"{text}\n"
        self._write(f"{REPORT_BEGINS}\n{body}{REPORT_ENDS}\n")

    def stdout_block(self, data: bytes, stdout: BinaryIO | None = None) -> None:
        """``data`` on stdout (a dry run's report), on a line of its own."""
        stream = stdout or sys.stdout.buffer
        start = b"\n" if 1 in self._mid_line else b""
        self._mid_line.discard(1)
        try:
            stream.write(start + data)
            stream.flush()
        except (OSError, ValueError):
            pass  # a closed stdout must not change the command's status

    def _write(self, text: str) -> None:
        stream = self._stderr or sys.stderr
        start = "\n" if 2 in self._mid_line else ""
        self._mid_line.discard(2)
        try:
            stream.write(start + text)
            stream.flush()
        except (OSError, ValueError, AttributeError):
            pass  # a closed stderr is not the job's problem
