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
