"""The termination message: one line that ``kubectl describe pod`` shows after a failed run.

Kubernetes reads the file at ``terminationMessagePath`` (``/dev/termination-log``) when the
container ends. lognotify replaces its content at the end of every failed run with one line
of at most 4096 bytes, saying what became of the report. A file that is not there, or cannot
be written, is passed over silently: it is only there in a pod.
"""

from __future__ import annotations

import os

MAX_BYTES = 4096


def termination_line(*, job: str, short_reason: str, report: str) -> str:
    """``lognotify: FAILED <job> (<short reason>); <report>``, on one line, at most 4096 bytes.

    ``report`` is what became of the report: ``report sent <Message-ID>``, ``report saved
    <path>``, ``report not sent: <why>``, ``no report: ...``. The caller redacts it.
    """
    line = " ".join(f"lognotify: FAILED {job} ({short_reason}); {report}".split())
    data = line.encode("utf-8", "backslashreplace")
    if len(data) <= MAX_BYTES:
        return line
    return data[: MAX_BYTES - 3].decode("utf-8", "ignore") + "..."


def write_termination_log(path: str, line: str) -> bool:
    """Replace the content of ``path`` with ``line``; whether it was written.

    Never creates the file (it is Kubernetes' to make), never raises.
    """
    if not path:
        return False
    try:
        fd = os.open(path, os.O_WRONLY | os.O_TRUNC | os.O_CLOEXEC | os.O_NOCTTY | os.O_NONBLOCK)
    except OSError:
        return False
    try:
        os.write(fd, line.encode("utf-8", "backslashreplace"))
        return True
    except OSError:
        return False
    finally:
        os.close(fd)
