"""The report: a RunResult rendered through Jinja2 templates into subject, text, HTML and log.

Every template variable is documented in the README ("Writing your own templates"). The
built-in templates live in ``lognotify/templates``; each file present in ``template_dir``
replaces its built-in twin, and one that fails to render falls back to it, the report saying
which and why. Secrets are redacted before rendering and once more after.
"""

from __future__ import annotations

import bisect
import os
import re
import time
from pathlib import Path

import jinja2

from lognotify import __version__
from lognotify._frozen import Frozen
from lognotify.capture import STDERR, Snapshot
from lognotify.kubernetes import KubernetesInfo
from lognotify.redact import Redactor, secret_values
from lognotify.result import RunResult, format_seconds, signal_name

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from lognotify.settings import Settings

BUILTIN_TEMPLATES = Path(__file__).with_name("templates")
TEMPLATE_NAMES = ("subject.txt.j2", "body.txt.j2", "body.html.j2")

# How much of the capture the mail bodies show; the attachment has all of it.
HEAD_LINES, HEAD_CHARS = 100, 16_000
TAIL_LINES, TAIL_CHARS = 300, 48_000
LINE_CHARS = 2_000
TRACEBACK_CHARS = 32_000
# Where output was left out, the partial lines on both sides go too (up to this many bytes
# each), so that no secret is shown cut, where no rule would recognise it.
CUT_EDGE = 4096
_SPACE = b" \t\r\n\v\f"
SUBJECT_CHARS = 250
# An exception message or a command line can be megabytes (a bulk insert's parameters, a
# generated argument list); each place that shows one keeps this much of its start and end.
LINE_CHARS = 2_000
COMMAND_CHARS = 8_000

ERROR_LINE = re.compile(
    r"\b(ERROR|CRITICAL|FATAL|Fatal|Error|Exception|Traceback|panic|PANIC|FAILED|failed)\b"
    r"|\b(?:error|fatal|panic|critical)\b\s*[:\]]"  # error: x, fatal: x, [error] x
    r"|\blevel=\W?(?:error|fatal|panic|crit)"  # logfmt
    r"|[a-z](?:Error|Exception):"  # ValueError: x, psycopg2.OperationalError: x
    r"|\bERR!|\bSegmentation fault\b"
)
_ANSI = re.compile(r"\x1b(?:\[[0-9;?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[@-Z\\-_])")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\ud800-\udfff]")
_LINE_BREAKS = re.compile(r"[\r\n\v\f\x1c-\x1e\x85\u2028\u2029]+")
_FILENAME_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class Line(Frozen):
    """One line of output as a report shows it."""

    __slots__ = ("text", "stream", "error")
    text: str
    stream: str
    error: bool

    def __init__(self, *, text: str, stream: str, error: bool) -> None:
        self._init(text=text, stream=stream, error=error)


class Output(Frozen):
    """The excerpt of the output shown in the mail bodies."""

    __slots__ = (
        "head_lines",
        "tail_lines",
        "omitted_bytes",
        "omitted_lines",
        "omitted",
        "total_bytes",
        "kept_bytes",
        "empty",
    )
    head_lines: tuple[Line, ...]
    tail_lines: tuple[Line, ...]
    omitted_bytes: int
    omitted_lines: int
    omitted: str
    total_bytes: int
    kept_bytes: int
    empty: bool

    def __init__(self, **fields: object) -> None:
        self._init(**fields)


class Report(Frozen):
    """A rendered report: what the mail says, and the captured log to attach.

    ``log`` is the redacted capture (head, a marker, tail), not yet compressed; it is
    attached as ``log_name`` when not empty.
    """

    __slots__ = (
        "subject",
        "text",
        "html",
        "log",
        "log_name",
        "job",
        "status",
        "exit_code",
        "template_errors",
    )
    subject: str
    text: str
    html: str
    log: bytes
    log_name: str
    job: str
    status: str
    exit_code: int
    template_errors: tuple[str, ...]

    def __init__(self, **fields: object) -> None:
        self._init(**fields)


def job_name(settings: Settings, result: RunResult, kubernetes: KubernetesInfo) -> str:
    """The job name: set explicitly, else the CronJob's name, else the program's."""
    return settings.job_name or kubernetes.cronjob or result.program or "job"


def render(
    result: RunResult,
    settings: Settings,
    *,
    status: str | None = None,
    environ: Mapping[str, str] | None = None,
    hostname: str | None = None,
) -> Report:
    """Render the report for ``result``; ``status`` defaults to failure or success."""
    environ = os.environ if environ is None else environ
    kubernetes = KubernetesInfo.from_env(environ)
    redactor = Redactor(
        secret_values(environ), settings.redact, always=[settings.smtp.password or ""]
    )
    status = status or ("failure" if result.failed else "success")

    def clean(value: str | None, limit: int = LINE_CHARS) -> str:
        # Whatever reaches the report from outside: readable, redacted, and bounded.
        return _bounded(redactor.text(readable_text(value or "")), limit)

    job = neutralise(clean(job_name(settings, result, kubernetes)))
    host = neutralise(clean(hostname or os.uname().nodename))
    pod = {
        field: neutralise(clean(value)) or None
        for field, value in (
            ("pod", kubernetes.pod),
            ("namespace", kubernetes.namespace),
            ("node", kubernetes.node),
            ("job", kubernetes.job),
            ("cronjob", kubernetes.cronjob),
        )
    }
    output = _cut_at_lines(result.output)
    head, tail = _redacted_capture(output, redactor)
    log = _log_bytes(head, tail, output)
    log_name = f"{file_safe(job)[:80]}-{utc_stamp(result.started)}.log.gz"
    context = {
        "job": job,
        "status": status,
        "status_word": _status_word(status, result),
        "failed": result.failed,
        "exit_code": result.exit_code,
        "signal": signal_name(result.signal) if result.signal is not None else None,
        "timed_out": result.timed_out,
        "timeout": result.timeout,
        "exception": clean(result.exception) or None,
        "traceback": clean(result.traceback, TRACEBACK_CHARS) or None,
        "note": clean(result.note) or None,
        "reason": clean(result.reason),
        "short_reason": clean(result.short_reason),
        "mode": result.mode,
        "command": clean(result.command, COMMAND_CHARS),
        "started_at": _iso(result.started),
        "ended_at": _iso(result.ended),
        "duration": format_seconds(max(result.ended - result.started, 0.0)),
        "duration_seconds": round(max(result.ended - result.started, 0.0), 3),
        "host": host,
        "where": pod["pod"] or host,
        "kubernetes": pod,
        "kubectl": [clean(line) for line in kubernetes.kubectl_commands()],
        "output": _redacted_again(_excerpt(head, tail, output), redactor),
        "error_reported": result.error_reported,
        "notify_on": settings.notify_on,
        "attachment_name": log_name if log else None,
        "template_errors": [],
        "version": __version__,
    }
    subject, text, html, errors = _render_all(context, settings)
    if not subject.strip():  # a custom subject that renders to nothing: still a useful one
        subject = _builtin_environment(html=False).get_template("subject.txt.j2").render(context)
    # Every value from outside was redacted above, before rendering: redacting the rendered
    # bodies again would also hit the templates' own words and markup (a secret that is
    # "span" or "failure"). The subject is plain text; it is checked once more.
    return Report(
        subject=neutralise(redactor.text(readable_text(subject)))[:SUBJECT_CHARS],
        text=readable_text(text),
        html=readable_text(html),
        log=log,
        log_name=log_name,
        job=job,
        status=status,
        exit_code=result.exit_code,
        template_errors=tuple(errors),
    )


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
    """One line: every line break (CR, LF and their Unicode kin) becomes a space."""
    return " ".join(_LINE_BREAKS.sub(" ", value).split())


# --- rendering -----------------------------------------------------------------------------


def _environment(
    loader: jinja2.BaseLoader, *, html: bool, cache: jinja2.BytecodeCache | None = None
) -> jinja2.Environment:
    return jinja2.Environment(
        loader=loader,
        autoescape=html,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        bytecode_cache=cache,
    )


def _builtin_environment(*, html: bool, folders: Sequence[Path] | None = None) -> jinja2.Environment:
    loader = jinja2.FileSystemLoader(str(BUILTIN_TEMPLATES))
    return _environment(loader, html=html, cache=_BuiltinCache(folders))


class _BuiltinCache(jinja2.BytecodeCache):
    """The built-in templates, compiled, kept between runs: compiling them costs a fifth of a
    report's time, and a job that fails every minute pays it every minute.

    Kept beside the templates when that is writable (as Python keeps ``__pycache__``; the
    image compiles them there when it is built, so its read-only root has them ready), else
    in the user's cache directory. Jinja checks each entry against its version and the
    template's source; a cache that cannot be read or written is simply not used.
    """

    def __init__(self, folders: Sequence[Path] | None = None) -> None:
        if folders is None:
            home = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
            folders = [BUILTIN_TEMPLATES / "__pycache__", Path(home) / "lognotify"]
        self.folders = list(folders)

    def _places(self, bucket: jinja2.bccache.Bucket) -> list[Path]:
        return [folder / f"{bucket.key}.jinja" for folder in self.folders]

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        for place in self._places(bucket):
            if not _trusted(place.parent):
                continue
            try:
                with open(place, "rb") as cached:
                    bucket.load_bytecode(cached)
            except Exception:  # missing, unreadable or damaged: compiled afresh
                bucket.reset()
            if bucket.code is not None:
                return

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        for place in self._places(bucket):
            partial = place.with_name(f".{place.name}.{os.getpid()}.partial")
            try:
                place.parent.mkdir(parents=True, exist_ok=True)
                if not _trusted(place.parent):
                    continue
                with open(partial, "wb") as cached:
                    bucket.write_bytecode(cached)
                os.replace(partial, place)  # readers see a whole entry or none
                return
            except OSError:
                try:
                    partial.unlink(missing_ok=True)
                except OSError:
                    pass


def _trusted(folder: Path) -> bool:
    # An entry is code that will run: only from a folder that no one but root or we can write.
    try:
        info = folder.stat()
    except OSError:
        return False
    return info.st_uid in (0, os.getuid()) and not info.st_mode & 0o022


def _render_all(context: dict[str, object], settings: Settings) -> tuple[str, str, str, list[str]]:
    custom = jinja2.FileSystemLoader(settings.template_dir) if settings.template_dir else None
    sources: dict[str, jinja2.Environment | str] = {}
    for name in TEMPLATE_NAMES:
        if custom is not None and (Path(str(settings.template_dir)) / name).is_file():
            sources[name] = _environment(custom, html=name.endswith(".html.j2"))
    if settings.subject is not None:
        sources["subject.txt.j2"] = settings.subject

    errors: list[str] = []
    rendered: dict[str, str] = {}
    # First pass finds which custom templates fail; the second renders with that known, so
    # the report can say so whichever template ends up showing it.
    for attempt in (1, 2):
        context["template_errors"] = list(errors)
        for name in TEMPLATE_NAMES:
            source = sources.get(name)
            html = name.endswith(".html.j2")
            if source is not None:
                try:
                    if isinstance(source, str):
                        template = _environment(jinja2.BaseLoader(), html=False).from_string(source)
                    else:
                        template = source.get_template(name)
                    rendered[name] = template.render(context)
                    continue
                except Exception as exc:  # any failure of a custom template falls back
                    if attempt == 1:
                        label = "subject (LOGNOTIFY_SUBJECT)" if isinstance(source, str) else name
                        errors.append(f"{label}: {type(exc).__name__}: {neutralise(str(exc))}")
            rendered[name] = _builtin_environment(html=html).get_template(name).render(context)
        if not errors:
            break
    return rendered["subject.txt.j2"], rendered["body.txt.j2"], rendered["body.html.j2"], errors


# --- the output ----------------------------------------------------------------------------


def _cut_at_lines(output: Snapshot) -> Snapshot:
    """The capture with the lines cut where output was left out moved into the omitted part.

    The capture keeps its head and tail to the byte, so a secret can straddle the gap: a URL
    whose scheme fell out, a pattern's match without its first characters, that no rule
    matches any more. The partial line on each side of the gap goes (at most CUT_EDGE bytes of
    it, when a line is longer), and the omitted counts grow by what went.
    """
    if not output.omitted_bytes:
        return output
    head, tail = output.head, output.tail
    keep_head = len(head)
    if head and not head.endswith(b"\n"):
        newline = head.rfind(b"\n")
        # a whole line before it stays; a head that is one line keeps its whole words
        keep_head = newline + 1 if newline >= 0 else _last_space(head) + 1
        keep_head = max(keep_head, len(head) - CUT_EDGE)
    newline = tail.find(b"\n")
    if 0 <= newline < len(tail) - 1:  # a whole line after it stays
        drop_tail = newline + 1
    else:  # the tail is one line: its first word may be a secret's end
        edge = tail[:CUT_EDGE]  # no further: what goes is bounded by CUT_EDGE below anyway
        drop_tail = next((at + 1 for at, byte in enumerate(edge) if byte in _SPACE), len(tail))
    drop_tail = min(drop_tail, CUT_EDGE)
    dropped = head[keep_head:] + tail[:drop_tail]
    tail_marks: dict[int, int] = {}
    for offset, stream in output.tail_marks:  # later marks at the same offset win
        tail_marks[max(offset - drop_tail, 0)] = stream
    return Snapshot(
        head=head[:keep_head],
        tail=tail[drop_tail:],
        head_marks=tuple((at, stream) for at, stream in output.head_marks if at < keep_head),
        tail_marks=tuple(tail_marks.items()),
        omitted_bytes=output.omitted_bytes + len(dropped),
        omitted_lines=output.omitted_lines + dropped.count(b"\n"),
        total_bytes=output.total_bytes,
    )


def _last_space(data: bytes) -> int:
    return max(data.rfind(bytes([byte])) for byte in _SPACE)


def _redacted_capture(output: Snapshot, redactor: Redactor) -> tuple[str, str]:
    """Head and tail as text (undecodable bytes kept as surrogates), secrets redacted."""
    head = redactor.text(output.head.decode("utf-8", "surrogateescape"))
    tail = redactor.text(output.tail.decode("utf-8", "surrogateescape"))
    if output.omitted_bytes:
        head, tail = redactor.cut_edges(head, tail)
    elif head and tail:
        # nothing omitted: head and tail are one text, and a secret may straddle them
        joined = redactor.text(head + tail)
        return joined, ""
    return head, tail


def omitted_marker(omitted_bytes: int, omitted_lines: int) -> str:
    """The line that stands where output was left out."""
    lines = "1 line" if omitted_lines == 1 else f"{omitted_lines:,} lines"
    return f"[... {omitted_bytes:,} bytes ({lines}) omitted ...]"


def _log_bytes(head: str, tail: str, output: Snapshot) -> bytes:
    if not head and not tail:
        return b""
    parts = [head.encode("utf-8", "surrogateescape")]
    if output.omitted_bytes:
        newline = "" if not head or head.endswith("\n") else "\n"
        marker = omitted_marker(output.omitted_bytes, output.omitted_lines)
        parts.append(f"{newline}{marker}\n".encode())
    parts.append(tail.encode("utf-8", "surrogateescape"))
    return b"".join(parts)


def _excerpt(head: str, tail: str, output: Snapshot) -> Output:
    """The first and last lines of the output; only those are split, cleaned and tagged.

    A capture can hold a million short lines: the bodies show a few hundred, and the
    rest is only counted.
    """
    if output.omitted_bytes:
        first, used = _first_lines(head, output.head, output.head_marks)
        last, kept = _last_lines(tail, output.tail, output.tail_marks)
        skipped = [head[used:], tail[: len(tail) - kept]]
    else:  # head and tail were joined into one text: show its start and its end
        shift = len(output.head)
        marks = output.head_marks + tuple((at + shift, stream) for at, stream in output.tail_marks)
        first, used = _first_lines(head, output.data, marks)
        rest = head[used:]
        last, kept = _last_lines(rest, output.data, marks)
        skipped = [rest[: len(rest) - kept]]
    omitted_bytes = output.omitted_bytes + sum(
        len(part.encode("utf-8", "surrogateescape")) for part in skipped
    )
    omitted_lines = output.omitted_lines + sum(part.count("\n") for part in skipped)
    return Output(
        head_lines=tuple(first),
        tail_lines=tuple(last),
        omitted_bytes=omitted_bytes,
        omitted_lines=omitted_lines,
        omitted=omitted_marker(omitted_bytes, omitted_lines) if omitted_bytes else "",
        total_bytes=output.total_bytes,
        kept_bytes=output.total_bytes - output.omitted_bytes,
        empty=output.total_bytes == 0,
    )


def _redacted_again(output: Output, redactor: Redactor) -> Output:
    """The lines shown, redacted once more: made readable, they lost their escape codes,
    and a secret written with a colour change in its middle is whole again."""

    def again(lines: tuple[Line, ...]) -> tuple[Line, ...]:
        return tuple(
            Line(text=redactor.text(line.text), stream=line.stream, error=line.error)
            for line in lines
        )

    fields = {name: getattr(output, name) for name in Output.__slots__}
    fields.update(head_lines=again(output.head_lines), tail_lines=again(output.tail_lines))
    return Output(**fields)


def _first_lines(
    text: str, raw: bytes, marks: Sequence[tuple[int, int]]
) -> tuple[list[Line], int]:
    """Up to HEAD_LINES lines (HEAD_CHARS characters) from the start; and the characters used."""
    pieces = text.split("\n", HEAD_LINES)
    if len(pieces) > HEAD_LINES:
        pieces.pop()  # the rest of the text, beyond the lines shown
    elif pieces[-1] == "":
        pieces.pop()  # the empty piece after the final newline is not a line
    pieces = _within(pieces, HEAD_CHARS)
    used = min(sum(len(piece) + 1 for piece in pieces), len(text))
    offsets, at = [], 0
    for piece in raw.split(b"\n", len(pieces))[: len(pieces)]:
        offsets.append(at)
        at += len(piece) + 1
    return _tagged(pieces, offsets, marks, _same_lines(text, raw)), used


def _last_lines(
    text: str, raw: bytes, marks: Sequence[tuple[int, int]]
) -> tuple[list[Line], int]:
    """Up to TAIL_LINES lines (TAIL_CHARS characters) from the end; and the characters kept."""
    if not text:
        return [], 0
    ending = 1 if text.endswith("\n") else 0
    pieces = text[: len(text) - ending].rsplit("\n", TAIL_LINES)[-TAIL_LINES:]
    pieces = _within(pieces[::-1], TAIL_CHARS)[::-1]
    kept = min(sum(len(piece) + 1 for piece in pieces) - 1 + ending, len(text))
    body = raw[:-1] if raw.endswith(b"\n") else raw
    offsets, at = [], len(body)
    for piece in reversed(body.rsplit(b"\n", len(pieces))[-len(pieces) :]):
        at -= len(piece)
        offsets.append(at)
        at -= 1
    return _tagged(pieces, offsets[::-1], marks, _same_lines(text, raw)), kept


def _within(pieces: list[str], chars: int) -> list[str]:
    taken: list[str] = []
    for piece in pieces:
        chars -= len(piece) + 1
        if chars < 0 and taken:
            break
        taken.append(piece)
    return taken


def _same_lines(text: str, raw: bytes) -> bool:
    # Redaction keeps the number of lines, so line i of the text is line i of the raw bytes;
    # a custom pattern spanning lines breaks that, and then streams are not told apart.
    return text.count("\n") == raw.count(b"\n")


def _tagged(
    pieces: Sequence[str], offsets: Sequence[int], marks: Sequence[tuple[int, int]], known: bool
) -> list[Line]:
    starts = [at for at, _ in marks]
    lines = []
    for piece, offset in zip(pieces, offsets):
        index = bisect.bisect_right(starts, offset) - 1
        stream = marks[index][1] if known and index >= 0 else 1
        readable = _readable(piece)
        lines.append(
            Line(
                text=readable,
                stream="stderr" if stream == STDERR else "stdout",
                error=stream == STDERR or bool(ERROR_LINE.search(readable)),
            )
        )
    return lines


def _readable(line: str) -> str:
    """What a terminal would show: escapes dropped, a progress bar at its last state."""
    line = _ANSI.sub("", line)
    if "\r" in line:
        line = line.rstrip("\r")
        line = line.rsplit("\r", 1)[-1]
    line = _CONTROL.sub(_visible, line)
    if len(line) > LINE_CHARS:
        line = f"{line[:LINE_CHARS]}... [{len(line) - LINE_CHARS:,} more characters]"
    return line


def _visible(match: re.Match[str]) -> str:
    char = match.group()
    if "\ud800" <= char <= "\udfff":  # an undecodable byte, kept by surrogateescape
        return "\ufffd"
    return f"\\x{ord(char):02x}"


def _bounded(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    half = limit // 2
    return f"{text[:half]}\n[... {len(text) - limit:,} characters omitted ...]\n{text[-half:]}"


def _iso(timestamp: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(timestamp))


def utc_stamp(timestamp: float) -> str:
    """``20261125T030405Z``: a UTC time for file names."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(timestamp))


def file_safe(text: str) -> str:
    """``text`` usable in a file name: each run of other characters becomes ``_``."""
    return _FILENAME_UNSAFE.sub("_", text)


def _status_word(status: str, result: RunResult) -> str:
    if status == "test":
        return "TEST"
    if status == "failure":
        return "FAILED"
    return "ERRORS" if result.error_reported else "OK"
