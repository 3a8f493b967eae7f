"""Secrets out of every report, in time linear in the text whatever it and the patterns hold.

Every match of every rule (secret literals, URL passwords, ``redact`` patterns, BUILTIN_SHAPES)
is found, overlapping ones included; each span of their union becomes one ``[REDACTED]``. Rules
are RE2 patterns or literals found with ``bytes.find``, run on the text as it is and as a
terminal shows it (escape sequences and control characters dropped). No match takes a newline.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from functools import lru_cache
from itertools import accumulate, compress, count
from operator import add, ne

import re2

from lognotify.record import Record
from lognotify.shapes import BUILTIN_SHAPES, URL_PASSWORD

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Mapping, Sequence
    from typing import Any

REDACTED = "[REDACTED]"
MIN_SECRET = 4
_TOKEN = REDACTED.encode()
_SECRET_NAME = re.compile(r"(?i)PASSW(?:OR)?D|SECRET|TOKEN|API_?KEY|PRIVATE_KEY|CREDENTIAL|AUTH")
# What a terminal does not print: escape sequences (CSI; OSC, DCS, APC... strings to BEL, ST or
# the line's end; other ESC sequences), C1 and C0 controls but \t and \n. Python re is safe:
# each branch starts with its own byte and each repeated class is followed by a disjoint one.
_ESCAPE = rb"\x1b(?:[\]PX^_][^\x07\x1b\n]*(?:\x07|\x1b\\)?|\[[0-?]*[ -/]*[@-~]|[ -/]*[0-~])?"
_DROP = re.compile(_ESCAPE + rb"|\xc2[\x80-\x9f]|[\0-\x08\x0b-\x1f\x7f]")
_ESC, _C1 = re.compile(_ESCAPE), re.compile(rb"\xc2[\x80-\x9f]")
_C0 = bytes(range(9)) + bytes(range(11, 32)) + b"\x7f"
_HTML_ESCAPE = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#x27;"})
_JINJA_ESCAPE = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&#34;", "'": "&#39;"})


def secret_values(environ: Mapping[str, str]) -> list[str]:
    """The values of environment variables whose names say they hold a secret."""
    return [value for name, value in environ.items() if _SECRET_NAME.search(name)]


def check_pattern(pattern: str) -> str | None:
    """None when ``pattern`` can be a ``redact`` pattern, else why not, in one line."""
    try:
        regex = _compile(_user_source(pattern), latin1=False)
    except re2.error as exc:
        reason = " ".join(str(exc.args[0] if exc.args else b"", "utf-8", "replace").split())
        return f"not an RE2 regular expression ({reason}): RE2 has no lookaround or backreferences"
    return "matches the empty string, so it would redact nothing" if regex.fullmatch(b"") else None


class Redactor:
    """Replaces every secret in text or bytes with ``[REDACTED]``."""

    def __init__(
        self,
        secrets: Iterable[str] = (),
        patterns: Iterable[str] = (),
        *,
        always: Iterable[str] = (),
        builtin: bool = True,
    ) -> None:
        """``secrets`` of MIN_SECRET characters or more; ``always`` ones (the SMTP password) of any
        length, a shorter one where it stands as a word; a multi-line one line by line; matches
        of ``patterns`` (RE2, else ValueError); BUILTIN_SHAPES unless ``builtin=False``."""
        forms: dict[bytes, bool] = {}  # each form of each secret: only where it is a word?
        for secret, short in [*((s, False) for s in secrets), *((s, True) for s in always)]:
            for piece in secret.split("\n") if "\n" in secret else [secret]:
                piece = piece.removesuffix("\r") if "\n" in secret else piece  # noqa: PLW2901
                if len(piece) >= MIN_SECRET or (short and piece):
                    escaped = (piece.translate(_HTML_ESCAPE), piece.translate(_JINJA_ESCAPE))
                    for form in {piece, *escaped}:  # as it reads in the HTML part too
                        data = _encode(form)[0]  # and as it reads without control characters
                        for each in {data, _DROP.sub(b"", data)}:
                            if len(each) >= MIN_SECRET or (short and each):
                                forms[each] = len(each) < MIN_SECRET
        cuts = (str(form, "utf-8", "surrogateescape") for form, word in forms.items() if not word)
        self._cuts = sorted(cuts, key=len, reverse=True)  # the longest first
        rules = [_Rule(source=re2.escape(f), text=f, word=w) for f, w in forms.items()]
        for name, source in [("url", URL_PASSWORD), *(BUILTIN_SHAPES if builtin else ())]:
            rules.append(_Rule(source=source, regex=_compile(source), keys=name == "private-key"))
        user = []
        for pattern in patterns:
            if (reason := check_pattern(pattern)) is not None:
                raise ValueError(f"redact pattern {pattern!r}: {reason}")
            source = _user_source(pattern)
            user.append(_Rule(source=source, regex=_compile(source, latin1=False)))
        self._rules = ((tuple(rules), True), (tuple(user), False))

    def text(self, text: str) -> str:
        """``text`` with every secret replaced (undecodable bytes, as surrogates, kept)."""
        data, errors = _encode(text)
        return text if (redacted := self.bytes(data)) is data else redacted.decode("utf-8", errors)

    def cut_edges(self, before: str, after: str) -> tuple[str, str]:
        """Redact a secret cut in two where output was omitted between ``before`` and ``after``:
        the end of ``before`` may be the start of a secret, the start of ``after`` its end."""
        for secret in self._cuts:
            sizes = range(len(secret) - 1, MIN_SECRET - 1, -1)
            if size := next((n for n in sizes if before.endswith(secret[:n])), 0):
                before = before[:-size] + REDACTED
            if size := next((n for n in sizes if after.startswith(secret[-n:])), 0):
                after = REDACTED + after[size:]
        return before, after

    def _once(self, data: bytes, keys: bool = True) -> tuple[bytes, list[int]]:
        if (readable := _readable(data)) is data:
            return _replace(data, self._spans(data, keys))
        raw, lines = data.split(b"\n"), readable.split(b"\n")
        starts = list(map(add, accumulate(map(len, raw), initial=0), count()))  # all in C
        dirty = list(compress(count(), map(ne, map(len, raw), map(len, lines))))
        part = [raw[n] for n in dirty]  # the lines a terminal shows otherwise, as they are
        spans = [*_where(lines, self._spans(readable, keys), starts, raw)]  # as a terminal shows
        there = self._spans(b"\n".join(part), keys=False)  # no context for a private key
        spans += _where(part, there, [starts[n] for n in dirty])
        return _replace(data, spans)

    def _spans(self, data: bytes, keys: bool) -> list[tuple[int, int]]:
        rules = (r for group in self._rules for r in _present(*group, data) if keys or not r.keys)
        return [span for rule in rules for span in rule.spans(data)]

    def bytes(self, data: bytes) -> bytes:
        """``data`` with every secret replaced, also one whole only once escape sequences and
        control characters are dropped (as a terminal shows it); other bytes are kept as is."""
        redacted, marks = self._once(data)
        if redacted == data:
            return data
        lines = redacted.split(b"\n")  # only those changed (where a mark is) can change again
        steps = zip([0, *marks], marks, strict=False)
        changed = sorted(set(accumulate(redacted.count(b"\n", a, b) for a, b in steps)))
        for _ in range(8):  # until nothing changes (each round leaves fewer bytes unredacted)
            part = b"\n".join(lines[number] for number in changed)
            if (again := self._once(part, keys=False)[0]) == part:
                break
            for number, line in zip(changed, again.split(b"\n"), strict=True):
                lines[number] = line
        return b"\n".join(lines)


class _Rule(Record):
    """A secret (``text``), or an RE2 pattern (``regex``), or private key markers (``keys``)."""

    source: bytes  # as an RE2 pattern
    text: bytes = b""
    word: bool = False  # only where it stands as a word (a short SMTP password)
    regex: Any = None
    keys: bool = False

    def spans(self, data: bytes) -> Iterator[tuple[int, int]]:
        start = 0
        if self.text:  # each occurrence, overlapping ones included: a run of them in one span
            size, text = len(self.text), self.text
            period = next((k for k in range(1, size) if text[k:] == text[:-k]), size)
            while (at := data.find(text, start)) >= 0:
                end = at + size
                while data.startswith(text[size - period :], end):  # the next, a period on
                    end += period
                start = end - period + 1  # one that overlaps the run's end by less
                before = data[max(at - 4, 0) : at].decode("utf-8", "replace")[-1:]
                after = data[end : end + 4].decode("utf-8", "replace")[:1]
                if not self.word or not (before.isalnum() or after.isalnum()):
                    yield at, end
        elif self.keys:  # each line between BEGIN and END; no END: to the end of the text
            seen = False  # and start: where the open block's body starts (0: none is open)
            for marker in self.regex.finditer(data):
                if marker.group(1) == b"BEGIN":
                    start = start or marker.end()
                elif start or not seen:  # an END first: the text starts inside a key
                    yield from _lines(data, start, marker.start())
                    start = 0
                seen = True
            if start:
                yield from _lines(data, start, len(data))
        else:  # its groups where it has some, else its whole matches
            groups = range(1, self.regex.groups + 1) or (0,)
            for match in self.regex.finditer(data):
                for group in groups:
                    yield from _lines(data, *match.span(group))


def _present(rules: Sequence[_Rule], latin1: bool, data: bytes) -> Sequence[_Rule]:
    # One RE2 pass with all of them: a Set, which never falls back nor fails once compiled
    try:
        found = _compile(tuple(rule.source for rule in rules), latin1).Match(data)
    except re2.error:  # beyond RE2's memory budget (huge secrets): each on its own
        return rules
    return [rules[index] for index in found or ()]


@lru_cache(maxsize=512)
def _user_source(pattern: str) -> bytes:
    """A ``redact`` pattern as RE2 source: ``^`` and ``$`` at each line's start and end, so it
    matches alike in the bodies (excerpts, line by line) and the attachment (the whole log)."""
    return b"(?m)" + pattern.encode("utf-8", "surrogatepass")


def _compile(pattern: bytes | tuple[bytes, ...], latin1: bool = True) -> Any:
    """An RE2 pattern compiled; several (a tuple): a Set, which tells which of them match."""
    options = re2.Options()
    options.log_errors = False  # RE2 would print its complaints on stderr
    options.max_mem = 64 << 20  # room for the DFA of many rules at once
    if latin1:  # byte by byte: invalid UTF-8 is matched as it is
        options.encoding = re2.Options.Encoding.LATIN1
    if not isinstance(pattern, tuple):
        return re2.compile(pattern, options)
    patterns = re2.Set.SearchSet(options)
    for each in pattern:
        patterns.Add(each)
    patterns.Compile()
    return patterns


def _readable(data: bytes) -> bytes:
    # As a terminal shows it, line for line (with no C1, _ESC then _C0 is _DROP, 5 times faster)
    if b"\xc2" in data and _C1.search(data):
        return _DROP.sub(b"", data)
    return data if data.translate(None, _C0) == data else _ESC.sub(b"", data).translate(None, _C0)


def _where(
    lines: list[bytes], spans: list[tuple[int, int]], starts: list[int], raw: Sequence[bytes] = ()
) -> Iterator[tuple[int, int]]:
    # Where the spans of lines joined are in the text whose lines start at starts (in raw when
    # lines are its readable projection)
    offsets = list(map(add, accumulate(map(len, lines), initial=0), count()))
    kept = dict[int, list[int]]()  # where each byte of a line read is in its raw form
    for start, end in spans:
        number = bisect_right(offsets, start) - 1
        at, until = start - offsets[number], end - offsets[number]
        if raw and len(raw[number]) != len(lines[number]):
            if number not in kept:
                drops = {i for drop in _DROP.finditer(raw[number]) for i in range(*drop.span())}
                kept[number] = [i for i in range(len(raw[number])) if i not in drops]
            at, until = kept[number][at], kept[number][until - 1] + 1
        yield starts[number] + at, starts[number] + until


def _lines(data: bytes, start: int, end: int) -> Iterator[tuple[int, int]]:
    for piece in data[start:end].split(b"\n"):  # a match takes no line break
        if size := len(piece.removesuffix(b"\r")):  # nor the \r of a \r\n
            yield start, start + size
        start += len(piece) + 1


def _replace(data: bytes, spans: list[tuple[int, int]]) -> tuple[bytes, list[int]]:
    """``data`` with one [REDACTED] for each span of the union of ``spans``; and where each is."""
    pieces, marks, last, size = list[bytes](), list[int](), 0, 0
    for start, end in sorted(spans):
        # A span that cuts into a [REDACTED] there takes all of it: redacting twice is once
        at = data.find(_TOKEN, max(start - 9, 0), start + 9)
        start = at if 0 <= at < start else start  # noqa: PLW2901
        at = data.find(_TOKEN, max(end - 9, 0), end + 9)
        end = at + 10 if 0 <= at < end else end  # noqa: PLW2901
        if pieces and start <= last:  # overlaps or touches the span before: one with it
            last = max(last, end)
        elif start < end:
            marks.append(size := size + start - last)
            pieces += (data[last:start], _TOKEN)
            last, size = end, size + len(_TOKEN)
    return b"".join([*pieces, data[last:]]), marks


def _encode(text: str) -> tuple[bytes, str]:
    try:
        return text.encode("utf-8", "surrogateescape"), "surrogateescape"
    except UnicodeEncodeError:  # a surrogate that stands for no byte
        return text.encode("utf-8", "surrogatepass"), "surrogatepass"
