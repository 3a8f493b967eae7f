"""What the tests share: the real program and its mail, reports made in-process, job scripts,
and waiting on a line, a pipe or a process (never on a clock)."""

from __future__ import annotations

import email
import email.policy
import os
import select
import shutil
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from email.message import EmailMessage
from pathlib import Path
from typing import Any

PYTHON = sys.executable


# --- the real program ---------------------------------------------------------------------


def lognotify_argv() -> list[str]:
    """The installed console script, as users run it (``python -m lognotify`` as a fallback)."""
    script = Path(sys.executable).with_name("lognotify")
    if script.exists():
        return [str(script)]
    found = shutil.which("lognotify")
    return [found] if found else [sys.executable, "-m", "lognotify"]


def clean_env(**extra: str) -> dict[str, str]:
    """The test's environment without any LOGNOTIFY_* or secret-looking variable, plus ``extra``."""
    # COVERAGE_PROCESS_CONFIG: the program under test measures its own coverage too
    keep = {"PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "COVERAGE_PROCESS_CONFIG"}
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("LOGNOTIFY_") and key in keep
    }
    env.update(extra)
    return env


def run(
    args: list[str], env: dict[str, str], timeout: float = 60, **kwargs: Any
) -> subprocess.CompletedProcess[bytes]:
    """Run ``lognotify ARGS`` to its end, capturing stdout and stderr as bytes."""
    return subprocess.run(
        [*lognotify_argv(), *args],
        check=False,
        env=env,
        capture_output=True,
        timeout=timeout,
        **kwargs,
    )


def start(args: list[str], env: Mapping[str, str], **kwargs: Any) -> subprocess.Popen[bytes]:
    """Start ``lognotify ARGS`` (the caller waits for it)."""
    return subprocess.Popen([*lognotify_argv(), *args], env=dict(env), **kwargs)


def closed_port() -> int:
    """A port on 127.0.0.1 where nothing listens (connections to it are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- waiting on something, not on the clock -------------------------------------------------


def read_until(stream: Any, expected: bytes | str, timeout: float = 10) -> bytes:
    """Read the pipe ``stream`` (a file or a descriptor) until ``expected`` shows; return all
    that was read. Reads the descriptor itself, so nothing waits unseen in a buffer."""
    want = expected.encode() if isinstance(expected, str) else expected
    fd = stream if isinstance(stream, int) else stream.fileno()
    seen = b""
    deadline = time.monotonic() + timeout
    while want not in seen:
        left = deadline - time.monotonic()
        assert left > 0, f"never saw {want!r} within {timeout}s; got {seen!r}"
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            chunk = os.read(fd, 65536)
            assert chunk, f"end of file before {want!r}; got {seen!r}"
            seen += chunk
    return seen


def gone(pid: int, timeout: float = 5) -> bool:
    """True once ``pid`` has exited (a zombie counts as gone), waiting on its pidfd."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        ready, _, _ = select.select([fd], [], [], timeout)
        return bool(ready)
    finally:
        os.close(fd)


# --- reading the mail -----------------------------------------------------------------------


def outbox_messages(folder: Path) -> list[EmailMessage]:
    """Every .eml in ``folder``, parsed, oldest first (none when it does not exist)."""
    if not folder.exists():
        return []
    paths = sorted(folder.glob("*.eml"), key=lambda path: path.stat().st_mtime)
    return [parse(path.read_bytes()) for path in paths]


def parse(raw: bytes) -> EmailMessage:
    """``raw`` as a mail client reads it."""
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def text_body(message: EmailMessage) -> str:
    """The text part as a reader sees it (a message taken off the wire has CRLF line ends)."""
    part = message.get_body(("plain",))
    assert part is not None
    return str(part.get_content()).replace("\r\n", "\n")


def html_body(message: EmailMessage) -> str:
    """The HTML part, its line ends as written."""
    part = message.get_body(("html",))
    assert part is not None
    return str(part.get_content()).replace("\r\n", "\n")


def attachment(message: EmailMessage) -> tuple[str, bytes] | None:
    """(filename, decompressed content) of the gzipped log, or None."""
    import gzip

    for part in message.iter_attachments():
        return str(part.get_filename()), gzip.decompress(part.get_content())
    return None


def attached_log(message: EmailMessage) -> str:
    """The decompressed attachment as text (there must be one, named ``*.log.gz``)."""
    found = attachment(message)
    assert found is not None, "no attachment"
    name, log = found
    assert name.endswith(".log.gz"), name
    return log.decode("utf-8", "replace")


def the_mail(server: Any) -> EmailMessage:
    """The one message a finished run sent to ``server``."""
    messages = server.messages
    assert len(messages) == 1, f"expected one mail, got {len(messages)}"
    return messages[0].message  # type: ignore[no-any-return]


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


# --- reports made in-process, for the tests of the report's stages ----------------------------

STARTED, ENDED = 1_790_000_000.0, 1_790_000_062.5  # 2026-09-21T14:13:20Z, 1m 2s later
REASON_FACTS = (
    "signal",
    "stopped_by",
    "timeout",
    "timed_out",
    "killed_after",
    "spawn_error",
    "memory",
    "error_reported",
)


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
    **facts: Any,
) -> Any:
    """A RunResult as the runner would make it: ``facts`` are command_reason's (signal, ...)
    or RunResult's own fields (exception, traceback, note, memory)."""
    from lognotify.capture import Capture
    from lognotify.outcome import RunResult, command_reason, library_reason

    capture = Capture(max_bytes)
    for data, stream in streams or [(output, 1)]:
        capture.append(data, stream)
    fields = {k: facts.pop(k) for k in ("exception", "traceback", "note") if k in facts}
    unknown = set(facts) - set(REASON_FACTS)
    assert not unknown, f"unknown facts: {unknown}"
    if mode == "library":
        reason = library_reason(
            exit_code=exit_code,
            exception=fields.get("exception"),
            stopped_by=facts.get("stopped_by"),
            error_reported=facts.get("error_reported", False),
        )
    else:
        reason = command_reason(exit_code=exit_code, **facts)
    extra = {k: v for k, v in facts.items() if k in RunResult._fields}
    return RunResult(
        mode=mode,  # type: ignore[arg-type]
        command=command,
        program=program,
        exit_code=exit_code,
        reason=reason,
        started=started,
        ended=ended,
        output=capture.snapshot(),
        **fields,
        **extra,
    )


class View:
    """A report made in-process: its subject, bodies, attachment (decompressed) and message."""

    def __init__(self, made: Any) -> None:
        import gzip

        self.made = made
        self.message: EmailMessage = made.message
        self.report = made.report
        self.subject = str(self.message["Subject"])
        self.text = text_body(self.message)
        self.html = html_body(self.message)
        self.job = self.report.job
        self.template_errors: tuple[str, ...] = made.rendered.errors
        parts = list(self.message.iter_attachments())
        self.log = gzip.decompress(parts[0].get_content()) if parts else b""


def render(result: Any, settings: Any, **options: Any) -> View:
    """``make_report`` of ``result`` with ``settings``, as a View."""
    from lognotify.report import make_report

    return View(make_report(result, settings, **options))


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
            self.stack.append((tag, set((dict(attrs).get("class") or "").split())))

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


def report_message(settings: Any, output: bytes = b"boom\n", **facts: Any) -> EmailMessage:
    """The message reporting a failed ``sync.sh`` (exit 3) that printed ``output``."""
    from lognotify.report import make_report

    result = result_of(output, max_bytes=settings.max_bytes, **facts)
    return make_report(result, settings, hostname="worker-1").message


def smtp_settings(server: Any, *, security: str = "none", **overrides: Any) -> Any:
    """Settings to mail ``server`` (two recipients, job nightly-etl), as load_settings makes
    them from keywords; the developer's environment stays out."""
    from lognotify.settings import load_settings

    given: dict[str, Any] = {
        "to": "ops@example.com,oncall@example.com",
        "sender": "lognotify@example.com",
        "job_name": "nightly-etl",
        "smtp_host": server.host,
        "smtp_port": server.port,
        "smtp_security": security,
        "smtp_timeout": 5,
        "delivery_timeout": 20,
    }
    given.update(overrides)
    return load_settings(given, {})


def smtp_send(settings: Any, sleep: Any, output: bytes = b"boom\n", **options: Any) -> Any:
    """``smtp.send`` of the report of a failed run: (attempts, refused, message)."""
    from lognotify.delivery.smtp import send

    message = report_message(settings, output)
    attempts, refused = send(
        message,
        settings.smtp,
        sender=settings.sender,
        recipients=settings.to,
        sleep=sleep,
        **options,
    )
    return attempts, refused, message


def smtp_refusal(settings: Any, sleep: Any, **options: Any) -> str:
    """The reason ``smtp.send`` gives when the report cannot be sent."""
    import pytest

    from lognotify.errors import DeliveryError

    with pytest.raises(DeliveryError) as caught:
        smtp_send(settings, sleep, **options)
    return str(caught.value)


class Sleeps:
    """An injected ``sleep``: records how long it was asked to wait, and waits not at all."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


# --- library jobs: small Python scripts run in a real process -------------------------------


def mail_to(server: Any, sender: str | None = "lognotify@example.com") -> dict[str, str]:
    """The variables that send reports to ``server`` on 127.0.0.1 (plain SMTP), to
    ops@example.com, from ``sender`` (None: no From set, the default is used)."""
    env = {
        "LOGNOTIFY_SMTP_HOST": server.host,
        "LOGNOTIFY_SMTP_PORT": str(server.port),
        "LOGNOTIFY_SMTP_SECURITY": "none",
        "LOGNOTIFY_TO": "ops@example.com",
    }
    if sender is not None:
        env["LOGNOTIFY_FROM"] = sender
    return env


def library_env(tmp_path: Path, server: Any = None, **settings: str) -> dict[str, str]:
    """The environment of a job: no inherited LOGNOTIFY_*, mail to ``server`` or nowhere;
    ``settings`` become ``LOGNOTIFY_<NAME>``."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("LOGNOTIFY_")}
    env["TMPDIR"] = str(tmp_path)  # a default outbox, if ever written, stays in the test's dir
    env.pop("PYTHONUNBUFFERED", None)  # stdout is a pipe: the handler itself must flush
    if server is not None:
        env.update(mail_to(server))
    env.update({f"LOGNOTIFY_{key.upper()}": value for key, value in settings.items()})
    return env


def write_job(tmp_path: Path, body: str, name: str = "nightly_etl.py") -> Path:
    """A job script: imports, a logger called ``etl``, then ``body``."""
    script = tmp_path / name
    script.write_text(
        "import logging, os, signal, sys, time, warnings\n"
        "from pathlib import Path\n"
        "from lognotify import capture_and_notify\n"
        "log = logging.getLogger('etl')\n" + textwrap.dedent(body)
    )
    return script


def run_job(
    script: Path, env: Mapping[str, str], timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    """Run a job script to its end; stdout and stderr as text."""
    return subprocess.run(
        [sys.executable, str(script)],
        check=False,
        env=dict(env),
        cwd=script.parent,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@contextmanager
def started_job(script: Path, env: Mapping[str, str]) -> Iterator[subprocess.Popen[str]]:
    """A running job with pipes on stdin, stdout and stderr; killed if the test fails."""
    proc = subprocess.Popen(
        [sys.executable, str(script)],
        env=dict(env),
        cwd=script.parent,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()
