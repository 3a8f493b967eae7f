"""Child of ``bench.py``'s library figure: ``library_child.py inside|outside SIZE``.

Writes SIZE bytes of log lines to stdout (``sys.stdout``, 1,000 lines a write), inside
``capture_and_notify(capture="output")`` or not, and prints the seconds it took on stderr:
entering and leaving the block included.
"""

from __future__ import annotations

import sys
import time

LINE = b"2026-01-01T00:00:00Z INFO etl: processed record 12345 of batch 42\n"
BLOCK = LINE * 1000
where, size = sys.argv[1], int(sys.argv[2])


def write() -> None:
    out = sys.stdout.buffer
    for _ in range(max(size // len(BLOCK), 1)):
        out.write(BLOCK)
    out.flush()


if where == "inside":
    from lognotify import capture_and_notify

    start = time.perf_counter()
    with capture_and_notify(job_name="bench", capture="output", notify_on="never"):
        write()
else:
    start = time.perf_counter()
    write()
print(time.perf_counter() - start, file=sys.stderr)
