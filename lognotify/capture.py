"""The bounded capture: the first part and the last part of the output, within ``max_bytes``.

Whatever flows through, memory stays at ``max_bytes`` plus a small constant: the head is
filled once, the tail is a ring buffer overwritten in place (no allocation per chunk, no
trimming pass), and what falls out between them is only counted, in bytes; its lines are
those the error-line tracker counted, less those held (each byte is looked at once, there).

The output of two streams arrives in pieces that need not end at a line's end. The capture
assembles each stream's lines apart (a line is held until its newline, at most
``PARTIAL_LIMIT`` bytes), so that a line of stdout and a line of stderr are never mixed: every
line the capture keeps came from one stream, and remembers which. The error lines of the whole
output, the part that falls out included, are tracked on the way (``lognotify.errorlines``).
"""

from __future__ import annotations

from _thread import allocate_lock  # threading.Lock itself, without importing threading

from lognotify.record import Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections import deque

    from lognotify.errorlines import ErrorLine
    from lognotify.errorrule import ErrorRule
else:  # the C module: collections itself costs ~2 ms at start-up
    from _collections import deque

STDOUT = 1
STDERR = 2

# Share of max_bytes kept from the start; the rest keeps the end, where failures show.
HEAD_SHARE = 0.25
# Stream changes remembered per part; past that the oldest are forgotten (they only colour lines).
MAX_MARKS = 4096
# Appends smaller than this are gathered and stored together: a log record costs a list append.
PENDING_LIMIT = 64 * 1024
# A line longer than this is kept in pieces (a progress bar that never ends its line, say).
PARTIAL_LIMIT = 64 * 1024


class Snapshot(Record):
    """What a capture holds: ``head``, then ``omitted_bytes`` left out, then ``tail``.

    ``head_marks`` and ``tail_marks`` are ``(offset, stream)`` pairs: from ``offset`` on, the
    bytes of that part came from ``stream``. ``total_lines`` counts every line seen (one not
    ended by a newline too); ``error_lines`` are the first and last lines of all the output
    that look like errors, and ``error_lines_total`` how many there were.
    """

    head: bytes = b""
    tail: bytes = b""
    head_marks: tuple[tuple[int, int], ...] = ()
    tail_marks: tuple[tuple[int, int], ...] = ()
    omitted_bytes: int = 0
    omitted_lines: int = 0
    total_bytes: int = 0
    total_lines: int = 0
    error_lines: tuple[ErrorLine, ...] = ()
    error_lines_total: int = 0

    @property
    def data(self) -> bytes:
        """Head and tail joined (the omitted part is simply absent)."""
        return self.head + self.tail


class Capture:
    """A thread-safe store keeping the first and the last part of what it is given.

    ``append`` is O(len(data)) amortised; small appends are gathered and stored together.
    Memory never exceeds ``max_bytes`` plus a constant (pending appends, partial lines, marks).
    """

    def __init__(self, max_bytes: int = 1 << 20, *, rule: ErrorRule | None = None) -> None:
        if max_bytes < 0:
            raise ValueError("max_bytes must be 0 or more")
        from lognotify.errorlines import ErrorLines

        self.max_bytes = max_bytes
        self._errors = ErrorLines(rule)
        self._head_limit = int(max_bytes * HEAD_SHARE)
        self._tail_limit = max_bytes - self._head_limit
        self._head = bytearray()
        self._head_marks: list[tuple[int, int]] = []
        # The tail grows up to _tail_limit, then becomes a ring whose oldest byte is at _pos.
        self._tail = bytearray()
        self._pos = 0
        self._tail_written = 0  # bytes ever written to the tail; its marks use this clock
        self._tail_marks: deque[tuple[int, int]] = deque()
        self._omitted_bytes = 0
        self._total = 0
        self._partial = {STDOUT: bytearray(), STDERR: bytearray()}  # a line not ended yet
        # Small appends waiting to be stored, all from one stream (at most PENDING_LIMIT bytes).
        self._pending: list[bytes] = []
        self._pending_stream = STDOUT
        self._pending_size = 0
        self._lock = allocate_lock()

    def __len__(self) -> int:
        """Bytes given to the capture so far, kept or not."""
        return self._total

    def append(self, data: bytes, stream: int = STDOUT) -> None:
        """Add ``data``, which came from ``stream``."""
        size = len(data)
        if not size:
            return
        with self._lock:
            self._total += size
            partial = self._partial[stream]
            if size < PENDING_LIMIT and data[-1] == 10 and not partial:  # a record: kept short
                self._gather(data if type(data) is bytes else bytes(data), stream)
                return
            end = data.rfind(b"\n") + 1
            if not end:  # no line ends here: the line goes on, unless it is too long to hold
                partial += data
                if len(partial) >= PARTIAL_LIMIT:
                    self._put(bytes(partial), stream)
                    partial.clear()
                return
            if partial:  # the line going on ends here, stored with the lines after it
                self._put(bytes(partial), stream)
                partial.clear()
            if end >= PENDING_LIMIT:  # stored now, up to its last line's end: nothing copied
                self._put_now(data, stream, end)
            else:
                self._put(data if end == len(data) else data[:end], stream)
            partial += memoryview(data)[end:]

    def _put_now(self, data: bytes | bytearray, stream: int, stop: int | None = None) -> None:
        if self._pending:
            self._fold()
        self._store(data, stream, len(data) if stop is None else stop)

    def _put(self, data: bytes, stream: int) -> None:
        if len(data) >= PENDING_LIMIT:  # a big chunk (a command's output): store it now
            self._put_now(data, stream)
        else:
            self._gather(data, stream)

    def _gather(self, data: bytes, stream: int) -> None:
        # Log records are small and many: gather them, and fold them in together.
        if self._pending and stream != self._pending_stream:
            self._fold()
        self._pending.append(data)
        self._pending_stream = stream
        self._pending_size += len(data)
        if self._pending_size >= PENDING_LIMIT:
            self._fold()

    def _fold(self) -> None:
        data = b"".join(self._pending)
        self._pending.clear()
        self._pending_size = 0
        self._store(data, self._pending_stream)

    def _store(self, data: bytes | bytearray, stream: int, stop: int | None = None) -> None:
        """data[:stop] goes to the tracker, then the head or the tail (all of it copied)."""
        stop = len(data) if stop is None else stop
        self._errors.feed(data, stream, stop)
        begin = 0
        room = self._head_limit - len(self._head)
        if room > 0:
            marks = self._head_marks
            if (not marks or marks[-1][1] != stream) and len(marks) < MAX_MARKS:
                marks.append((len(self._head), stream))
            if stop <= room:
                self._head += memoryview(data)[:stop]
                return
            self._head += memoryview(data)[:room]
            begin = room
        self._append_tail(data, begin, stop, stream)

    def _append_tail(self, data: bytes | bytearray, begin: int, stop: int, stream: int) -> None:
        # data[begin:stop] goes to the tail; slices are memoryviews: nothing is copied twice.
        limit = self._tail_limit
        size = stop - begin
        marks = self._tail_marks
        if not marks or marks[-1][1] != stream:
            marks.append((self._tail_written, stream))
            if len(marks) > MAX_MARKS:
                marks.popleft()
        self._tail_written += size
        tail = self._tail
        if len(tail) < limit:  # still filling up
            room = limit - len(tail)
            if size <= room:
                tail += memoryview(data)[begin:stop]
                return
            tail += memoryview(data)[begin : begin + room]
            begin += room
            size -= room
        self._omitted_bytes += size  # as many bytes as come in fall out of the full ring
        if size >= limit:  # all that is held, and the start of data, falls out
            tail[:] = memoryview(data)[stop - limit : stop]
            self._pos = 0
        else:  # overwrite the oldest bytes of the ring, in at most two pieces
            pos = self._pos
            first = min(size, limit - pos)
            tail[pos : pos + first] = memoryview(data)[begin : begin + first]
            rest = size - first
            if rest:
                tail[:rest] = memoryview(data)[begin + first : stop]
            self._pos = (pos + size) % limit
        self._forget_marks()

    def _forget_marks(self) -> None:
        start = self._tail_written - len(self._tail)
        marks = self._tail_marks
        while len(marks) > 1 and marks[1][0] <= start:
            marks.popleft()

    def snapshot(self) -> Snapshot:
        """A consistent copy of what is held now; a line not ended yet is taken as it is."""
        with self._lock:
            for stream, partial in self._partial.items():
                if partial:
                    self._put(bytes(partial), stream)
                    partial.clear()
            if self._pending:
                self._fold()
            self._errors.finish()
            errors, errors_total = self._errors.result()
            ring = memoryview(self._tail)  # the ring in order, copied once
            tail = b"".join((ring[self._pos :], ring[: self._pos]))
            ring.release()
            held = self._head.count(b"\n") + tail.count(b"\n")
            start = self._tail_written - len(tail)
            tail_marks = tuple((max(at - start, 0), stream) for at, stream in self._tail_marks)
            return Snapshot(
                head=bytes(self._head),
                tail=tail,
                head_marks=tuple(self._head_marks),
                tail_marks=tail_marks,
                omitted_bytes=self._omitted_bytes,
                omitted_lines=self._errors.newlines - held,
                total_bytes=self._total,
                total_lines=self._errors.lines,
                error_lines=errors,
                error_lines_total=errors_total,
            )
