"""Large outputs: Hyperscan points out the few lines that the error rule must look at.

The error-line tracker (``errorlines``) sees every byte a job prints. Its RE2 scanner costs
about 2 CPU seconds a gigabyte; Hyperscan, Intel's SIMD multi-pattern matcher (made for
exactly this: many patterns over a fast stream), takes about 0.35 s. It does not judge: it
reports a superset of the error lines, and the exact rule (``ErrorRule.matches`` on the
text as a report shows it) judges each of them, so the HTML highlight and the list agree.

A line is pointed out when the rule's pattern matches its raw bytes (for a line that shows
as it is, those are its shown text), when it does not show as it is (an escape code, a
control character, a byte that is not UTF-8, a CR inside it: ``errorrule.BAD``; with extra
patterns a CR anywhere), or when it is longer than a report shows (it is cut when shown).
Extra patterns are RE2's, so RE2 itself finds their candidates. A chunk with more than
``LIMIT`` reports (dense error lines, coloured output) goes to the RE2 scanner instead,
which takes runs of them at once.

Compiling the database costs ~50 ms and ~7 MiB for a while, which only a large output wins
back: it is done in the background once an output is large, and kept (``hscache``: the
user's cache folder, or the package's own when an image was built with
``python -m lognotify.fastscan``). Loaded from there (~5 ms, the import included) it is
cheaper than RE2's scanner, and used from the first chunk that needs one. Where the
``hyperscan`` package is missing or fails, the tracker keeps its RE2 scanner.
"""

from __future__ import annotations

import os
from _thread import allocate_lock

from lognotify import hscache, threads

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

    from lognotify.errorrule import ErrorRule, Search

LIMIT = 256  # reports in one chunk past which the RE2 scanner does better
_RULE, _BAD, _LONG, _CR = 0, 1, 2, 3
_databases: dict[tuple[str, ...], Any] = {}  # extra patterns -> database (None: cannot)
_lock = allocate_lock()


class Prefilter:
    """One tracker's scanner: the shared database, a scratch space of its own (Hyperscan's
    is not to be shared between threads), and RE2 for the extra patterns."""

    def __init__(self, database: Any, extra: Search | None) -> None:
        import hyperscan

        self._database = database
        self._scratch = hyperscan.Scratch(database)
        self._terminated = hyperscan.ScanTerminated
        self._extra = extra

    def lines(self, data: bytes | bytearray, pos: int, end: int) -> list[int] | None:
        """The starts of the lines of data[pos:end] (whole lines) that may look like errors,
        in order, each once; None when there are too many for this to pay."""
        found = self._scan(data, pos, end)
        if found is None:
            return None
        ends, long = found
        starts = {max(data.rfind(b"\n", pos, pos + to) + 1, pos) for to in ends}
        if long:  # some line is longer than a report shows: find each such line
            starts.update(_long_lines(data, pos, end))
        if self._extra is not None:
            starts.update(_searched(self._extra, data, pos, end))
        return sorted(starts) if len(starts) <= LIMIT else None

    def _scan(self, data: bytes | bytearray, pos: int, end: int) -> tuple[list[int], bool] | None:
        """Where the reports of data[pos:end] end, and whether a line is too long to show."""
        ends: list[int] = []
        long = []

        def report(ident: int, start: int, to: int, flags: int, context: object) -> bool:
            if ident == _LONG:
                long.append(to)
                return False
            ends.append(to)
            return len(ends) > LIMIT

        try:
            self._database.scan(
                memoryview(data)[pos:end], match_event_handler=report, scratch=self._scratch
            )
        except self._terminated:
            return None
        return ends, bool(long)


def _long_lines(data: bytes | bytearray, pos: int, end: int) -> list[int]:
    from lognotify.text import short_lines

    found = []
    while (pos := short_lines(data, pos, end)) < end:
        found.append(pos)
        pos = data.find(b"\n", pos, end) + 1 or end
    return found


def _searched(search: Search, data: bytes | bytearray, pos: int, end: int) -> list[int]:
    """The starts of the lines where RE2 finds an extra pattern's match (at most LIMIT + 1)."""
    found: list[int] = []
    while pos < end and len(found) <= LIMIT:
        at = search(data, pos, end)[0][0]
        if at < 0:
            break
        start = max(data.rfind(b"\n", pos, at) + 1, pos)
        found.append(start)
        pos = data.find(b"\n", at, end) + 1 or end
    return found


class Loading:
    """A database being loaded, in the background or not; nothing here waits for it."""

    def __init__(self, rule: ErrorRule) -> None:
        self._rule = rule
        self._done = allocate_lock()
        self._done.acquire()
        self._database: Any = None

    def start(self, background: bool = True) -> Loading:
        """Load in a thread of its own; here, with ``background`` False, or when it is
        ``cached`` (a few ms)."""
        if background and not cached(self._rule.extra_patterns):
            threads.start(self._load, "lognotify-hyperscan")
        else:
            self._load()
        return self

    @property
    def ready(self) -> bool:
        """Whether loading has ended (well or not)."""
        return not self._done.locked()

    def prefilter(self) -> Prefilter | None:
        """A new prefilter, once ``ready``; None when there is none to be had."""
        if not self.ready or self._database is None:
            return None
        return Prefilter(self._database, self._rule.extra_search())

    def _load(self) -> None:
        try:
            self._database = database(tuple(self._rule.extra_patterns))
        finally:
            self._done.release()


def load(rule: ErrorRule, *, background: bool = True) -> Loading:
    """Start loading the prefilter of ``rule``."""
    return Loading(rule).start(background)


def database(extra: Sequence[str] = ()) -> Any:
    """The compiled Hyperscan database for a rule with ``extra`` patterns (None: no
    hyperscan here), from the cache when it is there."""
    key = tuple(extra)
    with _lock:
        if key not in _databases:
            try:
                _databases[key] = _build(bool(extra))
            except Exception:  # a pattern Hyperscan refuses, no memory: RE2 does it all
                _databases[key] = None
        return _databases[key]


def patterns(extra: bool) -> list[tuple[int, str, str]]:
    """(id, pattern, flag) of the database: the rule over raw bytes, what does not show as it
    is, a line longer than a report shows (reported once a scan: its lines are then found
    apart), and with extra patterns every CR."""
    from lognotify.errorrule import BAD, raw_rule
    from lognotify.text import LINE_CHARS

    found = [
        (_RULE, raw_rule(), "MULTILINE"),
        (_BAD, BAD, "MULTILINE"),
        (_LONG, f"[^\\n]{{{LINE_CHARS + 1}}}", "SINGLEMATCH"),
    ]
    return [*found, (_CR, r"\r", "MULTILINE")] if extra else found


def cached(extra: Sequence[str] = ()) -> bool:
    """Whether the database for a rule with ``extra`` patterns is at hand (in this process, or
    in the cache folder): then loading it costs a few ms, less than compiling RE2's scanner."""
    if tuple(extra) in _databases:
        return _databases[tuple(extra)] is not None
    return any(os.path.isfile(path) for path in _cache_paths(bool(extra)))


def _build(extra: bool) -> Any:
    try:
        import hyperscan
    except ImportError:  # not installed here (no wheel for this platform): RE2 does it all
        return None
    wanted = patterns(extra)
    # The entry's first line says what it was made from and by which Hyperscan: any other is
    # compiled afresh (and replaces it).
    header = repr((getattr(hyperscan, "__version__", ""), wanted)).encode() + b"\n"
    paths = _cache_paths(extra)
    for path in paths:
        entry = hscache.read(path)
        if entry is not None and entry.startswith(header):
            try:
                return hyperscan.loadb(entry[len(header) :], hyperscan.HS_MODE_BLOCK)
            except hyperscan.error:  # made for another CPU, or damaged
                pass
    compiled = _compile(hyperscan, wanted)
    if len(paths) > 1:  # the user's folder; never the package's at run time
        hscache.write(paths[-1], header + hyperscan.dumpb(compiled))
    return compiled


def _compile(hyperscan: Any, wanted: list[tuple[int, str, str]]) -> Any:
    compiled = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
    expressions = [text.encode("utf-8", "surrogatepass") for _, text, _ in wanted]
    flags = [getattr(hyperscan, f"HS_FLAG_{flag}") for _, _, flag in wanted]
    ids = [ident for ident, _, _ in wanted]
    compiled.compile(expressions=expressions, ids=ids, elements=len(wanted), flags=flags)
    return compiled


def _cache_paths(extra: bool) -> list[str]:
    """Where the database is kept: named by a checksum of its patterns (hashlib would load
    OpenSSL's 4 MiB for it; an entry's first line settles any doubt)."""
    from zlib import crc32

    return hscache.paths(f"errorlines-{crc32(repr(patterns(extra)).encode()):08x}.hs")


def install() -> None:
    """Write the databases into the package's own folder, readable by all (run once, as root,
    when an image is built: its users then never compile them)."""
    import hyperscan

    for extra in (False, True):
        wanted = patterns(extra)
        header = repr((getattr(hyperscan, "__version__", ""), wanted)).encode() + b"\n"
        path = _cache_paths(extra)[0]
        os.makedirs(hscache.PACKAGE_FOLDER, exist_ok=True)
        with open(path, "wb") as entry:
            entry.write(header + hyperscan.dumpb(_compile(hyperscan, wanted)))
        os.chmod(path, 0o644)
        print(path)


if __name__ == "__main__":
    install()
