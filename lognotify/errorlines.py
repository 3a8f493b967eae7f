"""Error lines: the first and last lines of an output that look like errors, and how many.

Which lines look like errors is ``errorrule``'s to say; here they are found in every byte a
job prints, in bounded memory and at passthrough speed.

One RE2 automaton scans each chunk whole: it takes runs of error lines that show as they are
(UTF-8, no control characters) at once, and points out the few other lines whose text could
match, which are shown and matched one by one.
"""

from __future__ import annotations

from _bisect import bisect_right  # the C module: bisect imports more

from lognotify.errorrule import DEFAULT, escapes
from lognotify.record import Record
from lognotify.text import short_lines, shown

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections import deque
    from collections.abc import Sequence

    from lognotify.errorrule import ErrorRule
    from lognotify.fastscan import Loading, Prefilter

    Kept = tuple[int, bytes | str, int]  # number, the raw line (shown when asked) or text, stream
else:  # the C module: collections itself costs ~2 ms at start-up
    from _collections import deque

KEEP = 8192  # bytes of a line kept: 2,000 characters of UTF-8 take at most 8,000
BATCH = 64 * 1024  # smaller chunks are gathered first: a scan has a fixed cost
LITTLE = 16 * 1024  # output under this, before the scanner is needed, is matched line by line
# Output past this is scanned by Hyperscan where it is installed (``lognotify.fastscan``):
# loading it costs ~5 ms (and compiling its database ~50 ms the first time, in the
# background), which only a large output wins back.
FAST_AFTER = 4 << 20


class ErrorLine(Record):
    """An error line: its 1-based number over all the output, its text as shown, its stream."""

    number: int
    text: str
    stream: str


class ErrorLines:
    """The error lines of one output, tracked in bounded memory as it goes by.

    ``feed`` takes the chunks in arrival order as one byte stream: lines end at b"\\n"
    wherever the chunks were cut, and a line's stream is that of the chunk its first byte came
    in. ``finish`` makes a last line without a newline count (output fed after it starts a new
    line). ``result``: the first ``first`` and the last ``last`` error lines, in order and none
    twice, and how many there were. The caller holds a lock. Held whatever the output: small
    chunks gathered up to ``BATCH`` bytes, ``KEEP`` bytes of the line not ended yet, and
    ``first + last`` lines of at most ``KEEP`` bytes each; while dense coloured output goes by,
    also a ``BATCH`` block of it with its escape codes dropped.
    """

    def __init__(
        self,
        rule: ErrorRule | None = None,
        *,
        first: int = 5,
        last: int = 15,
        fast_after: int | None = FAST_AFTER,
    ) -> None:
        self._rule, self._first, self._total, self._lines = rule or DEFAULT, first, 0, 0
        # Bytes still to see before Hyperscan is loaded (0: now; -1: never, or done).
        self._until_fast = -1 if fast_after is None else fast_after
        self._loading: Loading | None = None
        self._fast: Prefilter | None = None
        self._unended = 0  # lines that finish() counted without their newline
        self._firsts: list[Kept] = []
        self._lasts: deque[Kept] = deque(maxlen=last)
        self._batch, self._batch_marks = bytearray(), [(0, 1)]  # (offset, stream) from which on
        self._carry, self._carry_size, self._carry_stream = bytearray(), 0, 1  # a line going on
        self._marks: Sequence[tuple[int, int]] = ()  # those of the buffer being scanned
        self._at = self._at_line = 0  # a position in it, and how many lines ended before it

    @property
    def lines(self) -> int:
        """Lines seen (one without its newline counts once ``finish`` is called)."""
        self._flush()
        return self._lines

    @property
    def newlines(self) -> int:
        """Newline bytes seen: ``lines`` without those that ``finish`` ended."""
        return self.lines - self._unended

    def feed(self, data: bytes | bytearray, stream: int, stop: int | None = None) -> None:
        """The next chunk of the output, data[:stop], which came from ``stream`` (1 stdout,
        2 stderr). Nothing of ``data`` is kept: it may be reused once this returns."""
        stop = len(data) if stop is None else stop
        if stop >= BATCH:
            self._flush()
            self._scan(data, ((0, stream),), stop)
        elif stop:
            if not self._batch:
                self._batch_marks[:] = [(0, stream)]
            elif self._batch_marks[-1][1] != stream:
                self._batch_marks.append((len(self._batch), stream))
            self._batch += memoryview(data)[:stop]
            if len(self._batch) >= BATCH:
                self._flush()

    def finish(self) -> None:
        """The output ended (for now): a last line without a newline counts as a line."""
        self._flush()
        if self._carry_size:
            self._end_carry()
            self._unended += 1

    def result(self) -> tuple[tuple[ErrorLine, ...], int]:
        """The first and the last error lines, and how many there were."""
        self._flush()
        return tuple(
            ErrorLine(
                number=number,
                text=text if isinstance(text, str) else shown(text),
                stream="stderr" if stream == 2 else "stdout",
            )
            for number, text, stream in [*self._firsts, *self._lasts]  # lasts follow firsts
        ), self._total

    def _flush(self) -> None:
        if self._batch:
            self._scan(self._batch, self._batch_marks)
            self._batch.clear()  # nothing refers to it: kept lines are copies

    def _scan(
        self, data: bytes | bytearray, marks: Sequence[tuple[int, int]], stop: int | None = None
    ) -> None:
        """Every line of data[:stop]."""
        self._marks, start, stop = marks, 0, len(data) if stop is None else stop
        if self._carry_size:  # the line not ended yet goes on
            start = data.find(b"\n", 0, stop) + 1
            piece = memoryview(data)[: start - 1 if start else stop]
            self._carry += piece[: max(KEEP - len(self._carry), 0)]
            self._carry_size += len(piece)
            if not start:
                return
            self._end_carry()
        end = max(data.rfind(b"\n", 0, stop) + 1, start)
        if end > start:
            self._at, self._at_line = start, self._lines
            self._lines_in(data, start, end)
            self._lines = self._at_line + data.count(b"\n", self._at, end)
        if end < stop:
            self._carry_stream = self._stream(end)
            self._carry += memoryview(data)[end : min(end + KEEP, stop)]
            self._carry_size = stop - end

    def _end_carry(self) -> None:
        self._lines += 1
        size, self._carry_size = self._carry_size, 0
        self._check(self._carry, size - len(self._carry), self._carry_stream, self._lines)
        self._carry.clear()

    def _load_fast(self, size: int) -> None:
        """Hyperscan from the first chunk that needs a scanner when its database is cached
        (cheaper than RE2's scanner), else compiled in the background once the output has
        passed ``fast_after``."""
        if self._loading is None:
            from lognotify import fastscan

            self._until_fast = max(self._until_fast - size, 0)
            if self._until_fast and not fastscan.cached(self._rule.extra_patterns):
                return
            self._loading = fastscan.load(self._rule)
        if self._loading.ready:  # until then, the RE2 scanner goes on
            self._fast = self._loading.prefilter()
            self._until_fast = -1  # loaded, or not to be had: asked once

    def _prefiltered(self, data: bytes | bytearray, pos: int, end: int) -> bool:
        """Whether Hyperscan pointed out the lines of data[pos:end] to judge (they are)."""
        if self._until_fast >= 0:
            self._load_fast(end - pos)
        if self._fast is None:
            return False
        starts = self._fast.lines(data, pos, end)
        if starts is None:
            return False
        for start in starts:  # the few lines that may look like errors, judged one by one
            self._line(data, start, data.find(b"\n", start, end))
        return True

    def _lines_in(self, data: bytes | bytearray, pos: int, end: int) -> None:
        """Every error line of data[pos:end], which holds whole lines."""
        if end - pos < LITTLE and not self._rule.scanning:  # saves compiling the scanner
            while pos < end:
                pos = self._line(data, pos, data.find(b"\n", pos, end))
            return
        if self._prefiltered(data, pos, end):
            return
        search, run = self._rule.scanner()
        extra = bool(self._rule.extra_patterns)
        one = self._marks[0][1] if len(self._marks) == 1 else 0  # the stream, when only one
        firsts, lasts, first, after = self._firsts, self._lasts, self._first, -1
        slow, since = 0, pos  # lines shown one by one, since where
        while pos < end:
            stop = short_lines(data, pos, end)  # a line cut when shown is looked at alone
            while pos < stop and (found := search(data, pos, stop)[0])[0] >= 0:
                at, to = found
                # A second error line in a row (or any, with extras): the run, taken whole.
                whole = run(data, at, stop)[0][1] if extra or at == after else -1
                if data[to - 1] != 10 or (extra and whole < 0):
                    start = max(data.rfind(b"\n", pos, at) + 1, pos)  # may look like an error
                    pos = self._line(data, start, data.find(b"\n", at, stop))
                    slow += 1
                    if slow == 64:  # many: if escape codes are the cause, drop them at once
                        if pos - since < 64 * 512:
                            pos = self._without_escapes(data, pos, end)
                        slow, since = 0, pos
                elif whole >= 0:
                    pos = self._run(data, at, whole)
                else:  # one error line that shows as it is: the common case, kept short
                    self._at_line += data.count(b"\n", self._at, at) + 1
                    self._at = pos = after = to
                    self._total += 1
                    line = (self._at_line, bytes(data[at : to - 1]), one or self._stream(at))
                    (firsts if len(firsts) < first else lasts).append(line)
            if pos <= stop < end:
                pos = self._line(data, stop, data.find(b"\n", stop, end))
            elif stop == end:
                pos = end

    def _without_escapes(self, data: bytes | bytearray, pos: int, end: int) -> int:
        """Looks at data[pos:end] with its escape codes dropped, a block at a time, where that
        shows every line as it is shown (escape codes dropped once, from its first KEEP bytes).
        Returns where it stopped."""
        while len(self._marks) == 1 and data.find(b"\x1b", pos, end) >= 0:
            cut = data.find(b"\n", min(pos + BATCH, end) - 1, end) + 1
            if short_lines(data, pos, cut, KEEP) < cut:
                break
            text = escapes().sub(b"", memoryview(data)[pos:cut])
            if b"\x1b" in text:  # dropping one made another, which is shown, not dropped
                break
            self._at_line += data.count(b"\n", self._at, pos)
            self._at = 0
            self._lines_in(text, 0, len(text))
            self._at_line += text.count(b"\n", self._at, len(text))
            self._at = pos = cut
        return pos

    def _run(self, data: bytes | bytearray, at: int, to: int) -> int:
        """data[at:to]: error lines that show as they are. Returns ``to``."""
        number, start = self._number(data, at), at
        count = data.count(b"\n", at, to)
        self._total += count
        self._at, self._at_line = to, self._at_line + count
        while len(self._firsts) < self._first and start < to:
            end = data.find(b"\n", start, to)
            self._firsts.append((number, bytes(data[start:end]), self._stream(start)))
            number, start = number + 1, end + 1
        kept: list[Kept] = []
        end, number = to - 1, self._at_line
        while end >= start and len(kept) < (self._lasts.maxlen or 0):
            begin = max(data.rfind(b"\n", start, end) + 1, start)
            kept.append((number, bytes(data[begin:end]), self._stream(begin)))
            end, number = begin - 1, number - 1
        self._lasts.extend(reversed(kept))
        return to

    def _line(self, data: bytes | bytearray, start: int, end: int) -> int:
        """data[start:end], one line, looked at as shown (its first KEEP bytes). Returns end + 1."""
        raw = data[start : min(end, start + KEEP)]
        self._check(raw, end - start - len(raw), self._stream(start), self._number(data, start))
        return end + 1

    def _check(self, raw: bytes | bytearray, dropped: int, stream: int, number: int) -> None:
        text = shown(raw, dropped)
        if self._rule.matches(text):
            self._keep((number, text, stream))

    def _keep(self, line: Kept) -> None:
        self._total += 1
        (self._firsts if len(self._firsts) < self._first else self._lasts).append(line)

    def _number(self, data: bytes | bytearray, pos: int) -> int:
        """The number of the line that starts at ``pos`` (asked in increasing order)."""
        self._at_line += data.count(b"\n", self._at, pos)
        self._at = pos
        return self._at_line + 1

    def _stream(self, pos: int) -> int:
        marks = self._marks
        return marks[0][1] if len(marks) == 1 else marks[bisect_right(marks, (pos, 3)) - 1][1]
