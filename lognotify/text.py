"""Text as a report shows it: readable, bounded, and safe in a header or a file name. Pure.

Its patterns are compiled on first use: this module is on the path of ``lognotify -- true``,
which never shows a line.
"""

from __future__ import annotations

import os
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    import re

LINE_CHARS = 2_000
_PATTERNS = {
    "ansi": r"\x1b(?:\[[0-9;?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[@-Z\\-_])",
    "control": r"[\x00-\x08\x0b-\x1f\x7f\ud800-\udfff]",
    # Everything a header must not carry: C0 and C1 controls, DEL, and the Unicode line and
    # paragraph separators; bidirectional overrides too, which can make a subject lie.
    "header": r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]+",
    "filename": r"[^A-Za-z0-9._-]+",
}
_compiled: dict[str, re.Pattern[str]] = {}


def _pattern(name: str) -> re.Pattern[str]:
    found = _compiled.get(name)
    if found is None:
        import re

        found = _compiled[name] = re.compile(_PATTERNS[name])
    return found


def readable_line(line: str) -> str:
    """What a terminal would show of one line: escapes dropped, a progress bar at its last
    state, other control characters as ``\\xNN``, undecodable bytes as U+FFFD, and at most
    LINE_CHARS characters."""
    if len(line) <= LINE_CHARS and line.isprintable():
        return line  # no escape, CR, control character or undecodable byte: shown as it is
    line = _pattern("ansi").sub("", line)
    if "\r" in line:
        line = line.rstrip("\r").rsplit("\r", 1)[-1]
    line = _pattern("control").sub(_visible, line)
    if len(line) > LINE_CHARS:
        line = f"{line[:LINE_CHARS]}... [{len(line) - LINE_CHARS:,} more characters]"
    return line


def _visible(match: re.Match[str]) -> str:
    char = match.group()
    if "\ud800" <= char <= "\udfff":  # an undecodable byte, kept by surrogateescape
        return "\ufffd"
    return f"\\x{ord(char):02x}"


def readable_text(value: str) -> str:
    """``value`` with undecodable bytes (surrogates, as in a non-UTF-8 argv) shown as ``\\xe9``."""
    if value.isascii():
        return value
    try:
        raw = value.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a surrogate that stands for no byte
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    return raw.decode("utf-8", "backslashreplace")


def neutralise(value: str) -> str:
    """One line for a header: every control character (line breaks, NUL, ESC, DEL, C1) and
    every bidirectional override becomes a space, and runs of space become one."""
    return " ".join(_pattern("header").sub(" ", value).split())


def bounded(text: str, limit: int) -> str:
    """``text``, or its start and end with a marker between them when longer than ``limit``."""
    if len(text) <= limit:
        return text
    half = limit // 2
    return f"{text[:half]}\n[... {len(text) - limit:,} characters omitted ...]\n{text[-half:]}"


def omitted_marker(omitted_bytes: int, omitted_lines: int) -> str:
    """The line that stands where output was left out."""
    lines = "1 line" if omitted_lines == 1 else f"{omitted_lines:,} lines"
    return f"[... {omitted_bytes:,} bytes ({lines}) omitted ...]"


def iso(timestamp: float) -> str:
    """``2026-11-25T03:04:05Z``."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(timestamp))


def utc_stamp(timestamp: float) -> str:
    """``20261125T030405Z``: a UTC time for file names."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(timestamp))


def file_safe(text: str) -> str:
    """``text`` usable in a file name: each run of other characters becomes ``_``."""
    return _pattern("filename").sub("_", text)


def short_lines(data: bytes | bytearray, pos: int, end: int, longest: int = LINE_CHARS) -> int:
    """Where the first line of data[pos:end] longer than ``longest`` bytes starts, or end
    (just past the buffer's last newline, so a window may run past it)."""
    find, window = data.rfind, longest + 1
    while pos < end:
        if (newline := find(b"\n", pos, pos + window)) < 0:
            return pos
        pos = newline + 1
    return end


def shown(raw: bytes | bytearray, dropped: int = 0) -> str:
    """A line's text as a report shows it (``text.readable_line``); ``dropped`` more bytes of
    it, not kept, are counted in the ``... [N more characters]`` at its end."""
    text = readable_line(bytes(raw).decode("utf-8", "surrogateescape"))
    if not dropped:
        return text
    if len(text) > LINE_CHARS:  # already cut: add what its marker counts
        dropped += int(text[LINE_CHARS:].split("[", 1)[1].split(" ", 1)[0].replace(",", ""))
    return f"{text[:LINE_CHARS]}... [{dropped:,} more characters]"


def host_name() -> str:
    """This host's name as the kernel gives it (no lookup: a resolver can be slow or absent)."""
    return os.uname().nodename or "localhost"
