"""The excerpt: which lines of a capture a report shows, with their true streams and numbers.

Pure: a :class:`~lognotify.capture.Snapshot` in, records out; no Jinja, no I/O, no decoding.

Two views of one snapshot:

* ``kept(snapshot)``: what the attachment holds. Where the capture left output out, the
  partial line on each side of the gap goes too (a secret cut there, its start or end
  missing, would match no rule any more), and is counted as omitted.
* ``excerpt(snapshot)``: what the mail bodies show: the first lines and the last lines of
  what was kept, each with the stream that wrote it and its number in the whole output.
"""

from __future__ import annotations

import bisect

from lognotify.record import Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from lognotify.capture import Snapshot

HEAD_LINES, HEAD_BYTES = 100, 16_000
TAIL_LINES, TAIL_BYTES = 300, 48_000
# Where output was left out, at most this much of the line cut on each side goes with it.
CUT_EDGE = 4096
_SPACE = b" \t\r\n\v\f"

Marks = tuple[tuple[int, int], ...]


class Kept(Record):
    """The output that is kept whole: ``head``, ``omitted_bytes`` left out, then ``tail``."""

    head: bytes
    tail: bytes
    head_marks: Marks
    tail_marks: Marks
    omitted_bytes: int
    omitted_lines: int
    total_bytes: int
    total_lines: int


class Line(Record):
    """One line of output: its bytes (without the newline), stream and 1-based number."""

    raw: bytes
    stream: int
    number: int


class Excerpt(Record):
    """The first and last lines of the output; ``omitted_*`` is what lies between them."""

    head: tuple[Line, ...]
    tail: tuple[Line, ...]
    omitted_bytes: int
    omitted_lines: int
    total_bytes: int
    total_lines: int


def kept(snapshot: Snapshot, *, cut_edge: int = CUT_EDGE) -> Kept:
    """The snapshot without the partial lines on both sides of the part left out."""
    head, tail = snapshot.head, snapshot.tail
    fields = {"total_bytes": snapshot.total_bytes, "total_lines": snapshot.total_lines}
    if not snapshot.omitted_bytes:
        return Kept(
            head=head + tail,
            tail=b"",
            head_marks=_joined_marks(snapshot),
            tail_marks=(),
            omitted_bytes=0,
            omitted_lines=0,
            **fields,
        )
    keep_head = len(head)
    if head and not head.endswith(b"\n"):
        newline = head.rfind(b"\n")
        # a whole line before it stays; a head that is one line keeps its whole words
        keep_head = newline + 1 if newline >= 0 else _last_space(head) + 1
        keep_head = max(keep_head, len(head) - cut_edge)
    newline = tail.find(b"\n")
    if 0 <= newline < len(tail) - 1:  # a whole line after it stays
        drop_tail = newline + 1
    else:  # the tail is one line: its first word may be a secret's end
        edge = tail[:cut_edge]
        drop_tail = next((at + 1 for at, byte in enumerate(edge) if byte in _SPACE), len(tail))
    drop_tail = min(drop_tail, cut_edge)
    dropped = head[keep_head:] + tail[:drop_tail]
    tail_marks: dict[int, int] = {}
    for offset, stream in snapshot.tail_marks:  # later marks at the same offset win
        tail_marks[max(offset - drop_tail, 0)] = stream
    return Kept(
        head=head[:keep_head],
        tail=tail[drop_tail:],
        head_marks=tuple((at, stream) for at, stream in snapshot.head_marks if at < keep_head),
        tail_marks=tuple(tail_marks.items()),
        omitted_bytes=snapshot.omitted_bytes + len(dropped),
        omitted_lines=snapshot.omitted_lines + dropped.count(b"\n"),
        **fields,
    )


def excerpt(
    snapshot: Snapshot,
    *,
    head_lines: int = HEAD_LINES,
    head_bytes: int = HEAD_BYTES,
    tail_lines: int = TAIL_LINES,
    tail_bytes: int = TAIL_BYTES,
) -> Excerpt:
    """The first ``head_lines`` (at most ``head_bytes``) and the last ``tail_lines`` (at most
    ``tail_bytes``) lines of what is kept; a line longer than the limit is shown alone.

    Only the lines shown are split out: a capture can hold a million short lines.
    """
    part = kept(snapshot)
    head, head_end = _first_lines(part.head, part.head_marks, head_lines, head_bytes)
    if part.omitted_bytes:
        data, marks, begin, skipped = part.tail, part.tail_marks, 0, part.head[head_end:]
    else:  # one part: the tail is what the head's lines did not take
        data, marks, begin, skipped = part.head, part.head_marks, head_end, b""
    tail, tail_start = _last_lines(data, marks, begin, tail_lines, tail_bytes)
    skipped += data[begin:tail_start]
    last_number = part.total_lines - len(tail)
    tail = [line.replace(number=last_number + index + 1) for index, line in enumerate(tail)]
    return Excerpt(
        head=tuple(head),
        tail=tuple(tail),
        omitted_bytes=part.omitted_bytes + len(skipped),
        omitted_lines=part.omitted_lines + skipped.count(b"\n"),
        total_bytes=part.total_bytes,
        total_lines=part.total_lines,
    )


def _first_lines(data: bytes, marks: Marks, count: int, size: int) -> tuple[list[Line], int]:
    """Lines from the start of ``data``; and the offset where the next line starts."""
    pieces = data.split(b"\n", count)
    if len(pieces) > count or (pieces and pieces[-1] == b""):
        pieces.pop()  # the rest beyond the lines wanted, or the empty end after a newline
    lines: list[Line] = []
    offset = 0
    for piece in pieces:
        size -= len(piece) + 1
        if size < 0 and lines:
            break
        lines.append(Line(raw=piece, stream=_stream_at(marks, offset), number=len(lines) + 1))
        offset += len(piece) + 1
    return lines, min(offset, len(data))


def _last_lines(
    data: bytes, marks: Marks, begin: int, count: int, size: int
) -> tuple[list[Line], int]:
    """Lines from the end of ``data[begin:]`` (numbered later); and the offset of the first."""
    if begin >= len(data):
        return [], len(data)
    end = len(data) - 1 if data.endswith(b"\n") else len(data)
    pieces = data[begin:end].rsplit(b"\n", count)
    if len(pieces) > count:
        pieces.pop(0)  # the rest before the lines wanted
    lines: list[Line] = []
    start = end + 1
    for piece in reversed(pieces):
        size -= len(piece) + 1
        if size < 0 and lines:
            break
        start -= len(piece) + 1
        lines.append(Line(raw=piece, stream=_stream_at(marks, start), number=0))
    return lines[::-1], start


def _stream_at(marks: Marks, offset: int) -> int:
    index = bisect.bisect_right(marks, (offset, 3)) - 1
    return marks[index][1] if index >= 0 else 1


def _joined_marks(snapshot: Snapshot) -> Marks:
    shift = len(snapshot.head)
    marks = list(snapshot.head_marks)
    for at, stream in snapshot.tail_marks:
        if not marks or marks[-1][1] != stream:
            marks.append((at + shift, stream))
    return tuple(marks)


def _last_space(data: bytes) -> int:
    return max(data.rfind(bytes([byte])) for byte in _SPACE)
