"""Error lines: which lines of the output look like errors, and the first and last of them.

A line looks like an error when its text as a report shows it (escape codes dropped, at most
2,000 characters) has one of these, words being case-sensitive and whole:

- ``ERROR``, ``ERR``, ``CRITICAL``, ``FATAL``, ``PANIC``, ``SEVERE``, ``FAILED``, ``FAIL``,
  ``FAILURE``, ``Error``, ``Fatal``, ``Exception``, ``Traceback``, ``panic``, ``panicked``,
  ``Killed``, ``OOMKilled`` (``npm ERR!``, ``--- FAIL:``, ``Exception in thread "main"``);
- ``error``, ``fatal``, ``panic``, ``critical``, ``exception`` or ``failure`` before ``:`` or
  ``]``, not after a ``-`` (``error: ...``, ``fatal: ...``, Go's ``panic: ...``, ``[error]``),
  and ``error[E0308]``;
- ``failed`` or ``Failed``, but not as a count of none (``failed=0``, ``failed: 0``, ``0 failed``);
- an exception's class before ``:`` or ending the line (``ValueError: ...``, ``MemoryError``);
- a level of error, err, eror, fatal, panic, crit, critical, alert, emerg or emergency (lower
  case, capitals or capitalised) in ``level=`` (or ``lvl=``, ``severity=``) or in JSON's
  ``"level":`` (or ``"severity"``, ``"lvl"``, ``"levelname"``, ``"log.level"``); pino's
  ``"level":50`` and ``60``; logrus's ``ERRO[..]``, ``FATA[..]``, ``PANI[..]``; a klog line
  ``E0101 12:00:00.000000 ...`` or ``F0101 ...``;
- ``Segmentation fault``, ``Bus error``, ``core dumped``, ``Out of memory``, ``out of memory``,
  ``command not found``, ``No such file or directory``, ``Permission denied``.

So ``0 errors``, ``errors: 0``, ``error_count=0``, ``no errors found``, ``--on-error``,
``continue-on-error: true`` and ``level=info`` do not. Extra patterns are RE2 over each line's
UTF-8 bytes (``^`` and ``$`` are the line's start and end; write non-ASCII text as literals).

The tracker sees every byte a job prints. One RE2 automaton scans each chunk whole: it takes
runs of error lines that show as they are (UTF-8, no control characters) at once, and points
out the few other lines whose text could match, which are shown and matched one by one.
"""

from __future__ import annotations

from _bisect import bisect_right  # the C module: bisect imports more

from lognotify.record import Record
from lognotify.text import LINE_CHARS, readable_line

TYPE_CHECKING = False
if TYPE_CHECKING:
    import re
    from collections import deque
    from collections.abc import Callable, Sequence
    from typing import Any

    from lognotify.fastscan import Loading, Prefilter

    Search = Callable[[Any, int, int], list[tuple[int, int]]]  # [(start, end)]; -1s: none
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

_CTL = r"\x00-\x08\x0a-\x1f\x7f"
_U8 = (
    r"[\xc2-\xdf][\x80-\xbf]|\xe0[\xa0-\xbf][\x80-\xbf]|[\xe1-\xec\xee\xef][\x80-\xbf]{2}"
    r"|\xed[\x80-\x9f][\x80-\xbf]|\xf0[\x90-\xbf][\x80-\xbf]{2}|[\xf1-\xf3][\x80-\xbf]{3}"
    r"|\xf4[\x80-\x8f][\x80-\xbf]{2}"
)
_CLEAN = rf"(?:[\t\x20-\x7e]|{_U8})"  # a character that shows as itself
_LEAD3 = r"\xe0[\xa0-\xbf]|\xed[\x80-\x9f]|[\xe1-\xec\xee\xef][\x80-\xbf]"
_LEAD4 = r"\xf0[\x90-\xbf]|[\xf1-\xf3][\x80-\xbf]|\xf4[\x80-\x8f]"
_END = r"(?:[^\x80-\xbf\n]|$)"
# Where a line stops showing as itself: a control character (a CR before the newline aside)
# or a byte that is not UTF-8. Never takes the newline.
_BAD = (
    r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\x80-\xc1\xf5-\xff]|\r[^\n]|\xe0(?:[^\xa0-\xbf\n]|$)"
    r"|\xed(?:[^\x80-\x9f\n]|$)|\xf0(?:[^\x90-\xbf\n]|$)|\xf4(?:[^\x80-\x8f\n]|$)"
    rf"|[\xc2-\xdf\xe1-\xec\xee\xef\xf1-\xf3]{_END}|(?:{_LEAD3}|{_LEAD4}){_END}"
    rf"|(?:{_LEAD4})[\x80-\xbf]{_END}"
)
BAD = _BAD  # for ``fastscan``
_CUT = rf"(?:\r|[\xc2-\xf4]|{_LEAD3}|{_LEAD4}|(?:{_LEAD4})[\x80-\xbf])"  # bad before ASCII
_ESC = r"\x1b(?:\[[0-9;?]*[ -/]*[@-~]|\][^\x07\x1b\n]*(?:\x07|\x1b\\)|[@-Z\\-_])"
_LEVELS = (
    "error",
    "err",
    "eror",
    "fatal",
    "panic",
    "crit",
    "critical",
    "alert",
    "emerg",
    "emergency",
)
_LEVEL = "|".join(f"{w}|{w.upper()}|{w.capitalize()}" for w in _LEVELS)
# Literals in every match of the rule, which escape codes may split. Each word of the rule
# follows a boundary, so the \xNN of a control character can never start one.
_CORES = [
    "ERR",
    "rror",
    "err",
    "Err",
    "ror",
    "ROR",
    "CRIT",
    "crit",
    "Crit",
    "FATA",
    "atal",
    "PANI",
    "anic",
    "EVER",
    "FAIL",
    "ail",
    "xcept",
    "Trace",
    "Kill",
    "lert",
    "LERT",
    "merg",
    "MERG",
    'vel"',
    "Segm",
    "dump",
    "memo",
    "found",
    "such",
    "enied",
]
_KLOG = ["[EF]", "[0-9]", "[0-9]", "[0-9]"]
_W, _WS, _ND, _WSET, _NZ = r"\w-", r"\w \t", r"0-9 \t", r"\w=:", r"0 \t"


def _rule(clean: bool) -> str:
    """The rule as RE2 over a line's UTF-8 bytes; ``clean``: only where it shows as itself."""

    def neg(chars: str) -> str:  # one character not in chars
        return rf"(?:[^{chars}{_CTL}\x80-\xff]|{_U8})" if clean else f"[^{chars}{_CTL}]"

    return "|".join(
        [
            r"\b(?:ERROR|ERR|CRITICAL|FATAL|PANIC|SEVERE|FAILED|FAIL|FAILURE|Error|Fatal|Exception"
            r"|Traceback|panic|panicked|Killed|OOMKilled)\b|\berror\[E[0-9]+\]|\b(?:ERRO|FATA|PANI)\[",
            rf"(?:^|{neg(_W)})(?:error|fatal|panic|critical|exception|failure)[ \t]*[:\]]",
            rf"(?:^[ \t]*|{neg(_WS)}|{neg(_ND)}[ \t]+|(?:[1-9]|[0-9]0)[ \t]+)[Ff]ailed(?:\r?$"
            rf"|{neg(_WSET)}|[=:][ \t]*(?:\r?$|{neg(_NZ)}|0[0-9]))",
            rf"\b(?:level|lvl|severity)=[\"']?(?:{_LEVEL})\b|\"(?:level|lvl|severity|levelname"
            rf"|log\.level)\"[ \t]*:[ \t]*(?:\"(?:{_LEVEL})\"|[56]0\b)",
            r"[A-Za-z0-9](?:Error|Exception)(?::|\r?$)|^[EF][0-9]{4} [0-9]{2}:[0-9]{2}:[0-9]{2}",
            r"\b(?:Segmentation fault|Bus error|core dumped|[Oo]ut of memory|command not found"
            r"|No such file or directory|Permission denied)\b",
        ]
    )


def raw_rule() -> str:
    """The built-in rule as a pattern over a raw line's bytes (multi-line: ``^`` and ``$`` at
    each line's start and end); on a line that shows as it is, it matches as the rule does."""
    return _rule(clean=False)


def _split(tokens: list[str]) -> str:
    """A core with at least one escape code inside it."""
    inside = f"(?:{_ESC})+" + f"(?:{_ESC})*".join(tokens[1:])
    if len(tokens) > 2:
        inside += "|" + _split(tokens[1:])
    return f"{tokens[0]}(?:{inside})"


class ErrorRule:
    """The rule that says whether a line looks like an error, and ``extra_patterns`` (RE2).

    A line matches when the built-in rule (above) or an extra pattern finds a match in it. A
    bad pattern raises ValueError (``check_pattern``). RE2 is loaded on first use, not here.
    """

    __slots__ = ("_extra", "_matcher", "_scanner", "extra_patterns")

    def __init__(self, extra_patterns: Sequence[str] = ()) -> None:
        for pattern in extra_patterns:
            if reason := check_pattern(pattern):
                raise ValueError(f"error pattern {pattern!r}: {reason}")
        self.extra_patterns = tuple(extra_patterns)
        self._matcher: Search | None = None
        self._scanner: tuple[Search, Search] | None = None
        self._extra: Search | None = None

    def matches(self, text: str) -> bool:
        """Whether ``text``, one line as shown (escape codes dropped), looks like an error."""
        if self._matcher is None:
            extra = "".join(f"|(?:{p})" for p in self.extra_patterns)
            self._matcher = _search(f"(?m){_rule(clean=False)}{extra}", anchored=False)
        data = text.encode("utf-8", "surrogatepass")
        return self._matcher(data, 0, len(data))[0][0] >= 0

    def scanner(self) -> tuple[Search, Search]:
        """For ``ErrorLines``: the chunk scanner, and the (anchored) matcher of a run of error
        lines that show as they are. Compiled on first use, in about 7 ms."""
        if self._scanner is None:
            line = rf"{_CLEAN}*(?:{_rule(clean=True)}){_CLEAN}*\r?"
            cores = [list(core) for core in _CORES] + [_KLOG]
            plain = "|".join("".join(core) for core in cores)
            gapped = "|".join(f"(?:{_ESC})*".join(core) for core in cores)
            scan = [
                rf"^{line}\n",
                "|".join(map(_split, cores)),
                rf"^{_CLEAN}*(?:(?:{_BAD})[^\n]*?|{_CUT})(?:{gapped})",
                rf"^{_CLEAN}*?(?:{plain}){_CLEAN}*(?:{_BAD})",
            ]
            if self.extra_patterns:  # every line not shown as it is, and the extras' matches
                scan += [rf"^{_CLEAN}*(?:{_BAD}|\r)", *(f"(?:{p})" for p in self.extra_patterns)]
            self._scanner = (
                _search("(?m)" + "|".join(scan), anchored=False),
                _search(rf"(?m)(?:{line}\n)+", anchored=True),
            )
        return self._scanner

    def extra_search(self) -> Search | None:
        """The extra patterns as one search over many lines (None without any)."""
        if self._extra is None and self.extra_patterns:
            self._extra = _search(
                "(?m)" + "|".join(f"(?:{p})" for p in self.extra_patterns), anchored=False
            )
        return self._extra


def _compile(pattern: str) -> Any:
    import re2  # ~6 ms: loaded when the first line is looked at, never at start-up

    options = re2.Options()
    options.log_errors = False
    options.encoding = re2.Options.Encoding.LATIN1  # bytes: any byte can be matched
    options.never_capture = True
    options.max_mem = 8 << 20  # RE2's default: its automata's caches stay within it
    return re2.compile(pattern.encode("utf-8", "surrogatepass"), options)


def _search(pattern: str, *, anchored: bool) -> Search:
    from functools import partial

    compiled = _compile(pattern)
    inner: Any = getattr(compiled, "_regexp", None)  # the binding itself: half the cost a call
    if (anchor := getattr(type(inner), "Anchor", None)) is not None:
        return partial(inner.Match, anchor.ANCHOR_START if anchored else anchor.UNANCHORED)
    find = compiled.match if anchored else compiled.search
    return lambda data, pos, end: [m.span() if (m := find(data, pos, end)) else (-1, -1)]


def check_pattern(pattern: str) -> str | None:
    """None when ``pattern`` can be an extra error pattern, else why not, in one line."""
    import re2

    try:
        compiled = _compile(pattern)
    except re2.error as exc:
        reason = exc.args[0] if exc.args else "not a valid RE2 pattern"
        return reason.decode("utf-8", "replace") if isinstance(reason, bytes) else str(reason)
    if compiled.search(b"") is not None:
        return "it matches an empty line, so every line would look like an error"
    return None


_DEFAULT = ErrorRule()


def looks_like_error(text: str) -> bool:
    """Whether ``text`` (one line as shown, escape codes dropped) looks like an error."""
    return _DEFAULT.matches(text)


class ErrorLine(Record):
    """An error line: its 1-based number over all the output, its text as shown, its stream."""

    number: int
    text: str
    stream: str


def shown(raw: bytes | bytearray, dropped: int = 0) -> str:
    """A line's text as a report shows it (``text.readable_line``); ``dropped`` more bytes of
    it, not kept, are counted in the ``... [N more characters]`` at its end."""
    text = readable_line(bytes(raw).decode("utf-8", "surrogateescape"))
    if not dropped:
        return text
    if len(text) > LINE_CHARS:  # already cut: add what its marker counts
        dropped += int(text[LINE_CHARS:].split("[", 1)[1].split(" ", 1)[0].replace(",", ""))
    return f"{text[:LINE_CHARS]}... [{dropped:,} more characters]"


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
        self._rule, self._first, self._total, self._lines = rule or _DEFAULT, first, 0, 0
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
        if end - pos < LITTLE and self._rule._scanner is None:  # saves compiling the scanner
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
            stop = _short_lines(data, pos, end)  # a line cut when shown is looked at alone
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
            if _short_lines(data, pos, cut, KEEP) < cut:
                break
            text = _escapes().sub(b"", memoryview(data)[pos:cut])
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


def _short_lines(data: bytes | bytearray, pos: int, end: int, longest: int = LINE_CHARS) -> int:
    """Where the first line of data[pos:end] longer than ``longest`` bytes starts, or end
    (just past the buffer's last newline, so a window may run past it)."""
    find, window = data.rfind, longest + 1
    while pos < end:
        if (newline := find(b"\n", pos, pos + window)) < 0:
            return pos
        pos = newline + 1
    return end


_ESCAPES: list[re.Pattern[bytes]] = []


def _escapes() -> re.Pattern[bytes]:
    """``text.readable_line``'s escape codes, as bytes, and never across a line's end."""
    if not _ESCAPES:
        import re

        _ESCAPES.append(re.compile(_ESC.encode()))
    return _ESCAPES[0]
