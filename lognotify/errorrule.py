"""The rule that says whether a line looks like an error (the report's highlight too).

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

The tracker (``errorlines``) scans whole chunks with ``ErrorRule.scanner``; ``raw_rule`` and
``BAD`` are what Hyperscan's prefilter (``fastscan``) is built from.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    import re
    from collections.abc import Callable, Sequence
    from typing import Any

    Search = Callable[[Any, int, int], list[tuple[int, int]]]  # [(start, end)]; -1s: none

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

    @property
    def scanning(self) -> bool:
        """Whether ``scanner`` has been compiled."""
        return self._scanner is not None

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


DEFAULT = ErrorRule()  # the built-in rule alone


def looks_like_error(text: str) -> bool:
    """Whether ``text`` (one line as shown, escape codes dropped) looks like an error."""
    return DEFAULT.matches(text)


_ESCAPES: list[re.Pattern[bytes]] = []


def escapes() -> re.Pattern[bytes]:
    """``text.readable_line``'s escape codes, as bytes, and never across a line's end."""
    if not _ESCAPES:
        import re

        _ESCAPES.append(re.compile(_ESC.encode()))
    return _ESCAPES[0]
