"""The output as a report shows it: the excerpt's lines readable, redacted and marked where
they look like errors, the tracked error lines, and the log to attach. Pure."""

from __future__ import annotations

from lognotify.excerpt import Excerpt, Line, kept
from lognotify.record import Record
from lognotify.text import omitted_marker, readable_line

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

    from lognotify.capture import Snapshot
    from lognotify.errorrule import ErrorRule
    from lognotify.redact import Redactor


class ShownLine(Record):
    """A line of output as a report shows it; ``error``: it looks like an error."""

    text: str
    stream: str
    number: int
    error: bool


class Output(Record):
    """The output as the bodies show it: its first and last lines, and what lies between."""

    head_lines: tuple[ShownLine, ...]
    tail_lines: tuple[ShownLine, ...]
    omitted: str  # the marker line, or empty
    omitted_bytes: int
    omitted_lines: int
    total_bytes: int
    total_lines: int
    kept_bytes: int  # how much of the output the attachment holds
    empty: bool


class Log(Record):
    """The redacted output to attach: ``head``, ``omitted_bytes`` left out, then ``tail``."""

    head: bytes = b""
    tail: bytes = b""
    omitted_bytes: int = 0
    omitted_lines: int = 0
    total_bytes: int = 0

    @property
    def empty(self) -> bool:
        """Nothing to attach."""
        return not self.head and not self.tail


def output(part: Excerpt, redactor: Redactor, rule: ErrorRule | None) -> Output:
    """The excerpt as the bodies show it: readable, redacted, error lines marked by ``rule``."""
    return Output(
        head_lines=_lines(part.head, redactor, rule),
        tail_lines=_lines(part.tail, redactor, rule),
        omitted=omitted_marker(part.omitted_bytes, part.omitted_lines)
        if part.omitted_bytes
        else "",
        omitted_bytes=part.omitted_bytes,
        omitted_lines=part.omitted_lines,
        total_bytes=part.total_bytes,
        total_lines=part.total_lines,
        kept_bytes=part.total_bytes,  # until the attachment says how much it holds
        empty=part.total_bytes == 0,
    )


def _lines(
    lines: Sequence[Line], redactor: Redactor, rule: ErrorRule | None
) -> tuple[ShownLine, ...]:
    from lognotify.errorrule import looks_like_error

    if not lines:
        return ()
    matches = rule.matches if rule is not None else looks_like_error
    raw = b"\n".join(line.raw for line in lines)
    # Redacted as one text, so that a secret spanning lines (a key block) goes whole; the
    # redactor keeps the number of lines, so line i is still line i.
    texts = redactor.text(raw.decode("utf-8", "surrogateescape")).split("\n")
    shown = []
    for line, text in zip(lines, texts, strict=False):
        readable = readable_line(text)  # the redactor saw the text as a terminal shows it too
        stream = "stderr" if line.stream == 2 else "stdout"
        shown.append(
            ShownLine(text=readable, stream=stream, number=line.number, error=matches(readable))
        )
    return tuple(shown)


def error_lines(output: Snapshot, redactor: Redactor) -> tuple[tuple[ShownLine, ...], int]:
    """The error lines the capture tracked, redacted, and how many there were."""
    shown = tuple(
        ShownLine(text=redactor.text(line.text), stream=line.stream, number=line.number, error=True)
        for line in output.error_lines
    )
    return shown, output.error_lines_total


def log(output: Snapshot, redactor: Redactor) -> Log:
    """The output to attach: what the capture kept, redacted (a secret cut in two included)."""
    part = kept(output)
    head, tail = redactor.bytes(part.head), redactor.bytes(part.tail)
    if part.omitted_bytes:  # a secret may be cut in two where the output was left out
        before, after = redactor.cut_edges(
            head.decode("utf-8", "surrogateescape"), tail.decode("utf-8", "surrogateescape")
        )
        head, tail = (
            before.encode("utf-8", "surrogateescape"),
            after.encode("utf-8", "surrogateescape"),
        )
    return Log(
        head=head,
        tail=tail,
        omitted_bytes=part.omitted_bytes,
        omitted_lines=part.omitted_lines,
        total_bytes=part.total_bytes,
    )
