"""Running the real lognotify program, and reading what it wrote, for the tests."""

from __future__ import annotations

import email
import email.policy
import os
import shutil
import subprocess
import sys
from email.message import EmailMessage
from pathlib import Path

PYTHON = sys.executable


def lognotify_argv() -> list[str]:
    """The installed console script, as users run it (``python -m lognotify`` as a fallback)."""
    script = Path(sys.executable).with_name("lognotify")
    if script.exists():
        return [str(script)]
    found = shutil.which("lognotify")
    return [found] if found else [sys.executable, "-m", "lognotify"]


def clean_env(**extra: str) -> dict[str, str]:
    """The test's environment without any LOGNOTIFY_* or secret-looking variable, plus ``extra``."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("LOGNOTIFY_") and key in {"PATH", "HOME", "LANG", "LC_ALL", "TMPDIR"}
    }
    env.update(extra)
    return env


def run(
    args: list[str], env: dict[str, str], timeout: float = 60, **kwargs: object
) -> subprocess.CompletedProcess[bytes]:
    """Run ``lognotify ARGS`` to its end, capturing stdout and stderr as bytes."""
    return subprocess.run(  # type: ignore[call-overload, no-any-return]
        [*lognotify_argv(), *args],
        env=env,
        capture_output=True,
        timeout=timeout,
        **kwargs,
    )


def outbox_messages(folder: Path) -> list[EmailMessage]:
    """Every .eml in ``folder``, parsed, oldest first."""
    paths = sorted(folder.glob("*.eml"), key=lambda path: path.stat().st_mtime)
    return [parse(path.read_bytes()) for path in paths]


def parse(raw: bytes) -> EmailMessage:
    return email.message_from_bytes(raw, policy=email.policy.default)  # type: ignore[return-value]


def text_body(message: EmailMessage) -> str:
    part = message.get_body(("plain",))
    assert part is not None
    return part.get_content()  # type: ignore[no-any-return]


def html_body(message: EmailMessage) -> str:
    part = message.get_body(("html",))
    assert part is not None
    return part.get_content()  # type: ignore[no-any-return]


def attachment(message: EmailMessage) -> tuple[str, bytes] | None:
    """(filename, decompressed content) of the gzipped log, or None."""
    import gzip

    for part in message.iter_attachments():
        return part.get_filename(), gzip.decompress(part.get_content())
    return None


# --- reports made in-process, for the tests of the report's stages ----------------------------

STARTED, ENDED = 1_790_000_000.0, 1_790_000_062.5  # 2026-09-21T14:13:20Z, 1m 2s later


def result_of(
    output: bytes = b"",
    *,
    exit_code: int = 3,
    streams: list[tuple[bytes, int]] | None = None,
    max_bytes: int = 1 << 20,
    mode: str = "command",
    command: str = "sync.sh --full",
    program: str = "sync.sh",
    started: float = STARTED,
    ended: float = ENDED,
    **facts: object,
) -> object:
    """A RunResult as the runner would make it: ``facts`` are command_reason's (signal, ...)
    or RunResult's own fields (exception, traceback, note, memory)."""
    from lognotify.capture import Capture
    from lognotify.outcome import RunResult, command_reason, library_reason

    capture = Capture(max_bytes)
    for data, stream in streams or [(output, 1)]:
        capture.append(data, stream)
    fields = {k: facts.pop(k) for k in ("exception", "traceback", "note") if k in facts}
    if mode == "library":
        reason = library_reason(exit_code=exit_code, exception=fields.get("exception"))  # type: ignore[arg-type]
    else:
        reason = command_reason(exit_code=exit_code, **facts)  # type: ignore[arg-type]
    extra = {k: v for k, v in facts.items() if k in ("signal", "timed_out", "timeout", "memory")}
    return RunResult(mode=mode, command=command, program=program, exit_code=exit_code,  # type: ignore[arg-type]
                     reason=reason, started=started, ended=ended, output=capture.snapshot(),
                     **fields, **extra)


class View:
    """A report made in-process: its subject, bodies, attachment (decompressed) and message."""

    def __init__(self, made: object) -> None:
        import gzip

        self.made = made
        self.message: EmailMessage = made.message  # type: ignore[attr-defined]
        self.report = made.report  # type: ignore[attr-defined]
        self.subject = str(self.message["Subject"])
        self.text = text_body(self.message)
        self.html = html_body(self.message)
        self.job = self.report.job
        self.template_errors = made.rendered.errors  # type: ignore[attr-defined]
        parts = list(self.message.iter_attachments())
        self.log = gzip.decompress(parts[0].get_content()) if parts else b""


def render(result: object, settings: object, **options: object) -> View:
    """``make_report`` of ``result`` with ``settings``, as a View."""
    from lognotify.report import make_report

    return View(make_report(result, settings, **options))  # type: ignore[arg-type]


def line_classes(html: str, text: str, section: str = "output") -> set[str]:
    """The classes of the element that shows ``text`` in the HTML part's ``section`` (a
    container whose class holds that word), its own and its ancestors' up to the section."""
    from html.parser import HTMLParser

    found: list[set[str]] = []

    class Finder(HTMLParser):
        def __init__(self) -> None:
            super().__init__(convert_charrefs=True)
            self.stack: list[tuple[str, set[str]]] = []

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            if tag in ("br", "meta", "img", "hr", "wbr"):
                return
            classes = set(dict(attrs).get("class", "") .split()) if dict(attrs).get("class") else set()
            self.stack.append((tag, classes))

        def handle_endtag(self, tag: str) -> None:
            while self.stack:
                if self.stack.pop()[0] == tag:
                    break

        def handle_data(self, data: str) -> None:
            if text not in data:
                return
            inside = [classes for _, classes in self.stack]
            if any(section in classes for classes in inside):
                start = max(i for i, classes in enumerate(inside) if section in classes)
                found.append(set().union(*inside[start + 1 :]))

    Finder().feed(html)
    assert found, f"{text!r} is not shown in the {section} section"
    return found[0]


REPORT_BEGINS, REPORT_ENDS = "lognotify: report follows\n", "lognotify: end of report\n"


def own_lines(stderr: str) -> list[str]:
    """lognotify's own lines on stderr; a report printed there (no server took it) not counted."""
    if REPORT_BEGINS in stderr:
        before, _, rest = stderr.partition(REPORT_BEGINS)
        stderr = before + rest.partition(REPORT_ENDS)[2]
    return [line for line in stderr.splitlines() if line.startswith("lognotify:")]


def printed_report(stderr: str) -> str | None:
    """The report's text printed on stderr because no server took it, if any."""
    if REPORT_BEGINS not in stderr:
        return None
    return stderr.partition(REPORT_BEGINS)[2].partition(REPORT_ENDS)[0]
