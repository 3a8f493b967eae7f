"""The attachment: the redacted output, gzipped, within the room the message leaves it.

Kept whole when it fits; else more of its middle is left out (at line ends), and the one
marker in it says how much in all. Pure: bytes in, bytes out.
"""

from __future__ import annotations

import gzip

from lognotify.record import Record
from lognotify.text import omitted_marker

TYPE_CHECKING = False
if TYPE_CHECKING:
    from lognotify.report.shown import Log

# Share of what is kept taken from the start; the rest is the end, where failures show.
HEAD_SHARE = 0.25
SMALLEST = 1024


class Attachment(Record):
    """The gzipped log (``data``), and how much of the output it holds and leaves out."""

    data: bytes
    kept_bytes: int
    omitted_bytes: int


def fit(log: Log, room: int, *, mtime: float) -> Attachment:
    """``log`` gzipped in at most ``room`` bytes of the message (base64 and part headers
    included), leaving more of its middle out when it must."""
    budget = max((room - 1024) * 3 // 4, 0)  # base64 grows by 4/3; room for the part's headers
    head, tail, omitted, lines = log.head, log.tail, log.omitted_bytes, log.omitted_lines
    while True:
        data = gzip.compress(_joined(head, tail, omitted, lines), compresslevel=6, mtime=int(mtime))
        size = len(head) + len(tail)
        if len(data) <= budget or size <= SMALLEST:
            return Attachment(
                data=data, kept_bytes=max(log.total_bytes - omitted, 0), omitted_bytes=omitted
            )
        keep = size * budget // len(data) * 9 // 10
        head, tail, cut, cut_lines = _cut_middle(head, tail, keep, gap=bool(omitted))
        omitted += cut
        lines += cut_lines


def _joined(head: bytes, tail: bytes, omitted: int, lines: int) -> bytes:
    if not omitted:
        return head + tail
    newline = b"" if not head or head.endswith(b"\n") else b"\n"
    return b"".join([head, newline, omitted_marker(omitted, lines).encode(), b"\n", tail])


def _cut_middle(head: bytes, tail: bytes, keep: int, *, gap: bool) -> tuple[bytes, bytes, int, int]:
    """Keep about ``keep`` bytes, a quarter from the start; cut at line ends when there is one.

    With a ``gap`` already between head and tail, the cut takes it in: one marker says all.
    """
    whole = head + tail
    first = int(keep * HEAD_SHARE)
    last = keep - first
    end = whole.rfind(b"\n", 0, first) + 1 or first
    start = len(whole) - last
    newline = whole.find(b"\n", start, len(whole) - 1)
    start = newline + 1 if newline >= 0 else start
    if gap:
        end, start = min(end, len(head)), max(start, len(head))
    start = max(start, end)
    cut = whole[end:start]
    return whole[:end], whole[start:], len(cut), cut.count(b"\n")
