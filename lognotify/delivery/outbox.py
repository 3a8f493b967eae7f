"""The outbox: reports kept as ``.eml`` files, where no one but their user can read them.

The default folder is the user's own (``lognotify-outbox-<uid>`` in the temp directory). A
folder, link or file that another user put there is never written into or followed: the
report then goes to a fresh private folder made for it, and its path is printed as always.
Every folder made here is 0700 and every file 0600, whatever the umask.
"""

from __future__ import annotations

import os
import stat
import tempfile
import time
from pathlib import Path

from lognotify.text import file_safe, utc_stamp

TYPE_CHECKING = False
if TYPE_CHECKING:
    from email.message import EmailMessage


def default_folder() -> Path:
    """This user's default outbox."""
    return Path(tempfile.gettempdir()) / f"lognotify-outbox-{os.getuid()}"


def write_outbox(
    message: EmailMessage, folder: str | None = None, *, passed_over: list[str] | None = None
) -> Path:
    """Write ``message`` into the outbox, atomically; return its path.

    When the folder cannot be used (another user's, a link, not a folder, no permission), a
    new private folder is made in the temp directory instead, and why is added to
    ``passed_over``. Raises OSError when even that cannot be written.
    """
    data = message.as_bytes()
    name = f"{utc_stamp(time.time())}-{file_safe(str(message['X-Lognotify-Job'] or 'job'))[:60]}"
    chosen = Path(folder) if folder else default_folder()
    try:
        return _write(_private(chosen), name, data)
    except OSError as exc:
        if passed_over is not None:
            passed_over.append(f"the outbox {chosen} was passed over: {exc.strerror or exc}")
        fallback = Path(tempfile.mkdtemp(prefix=f"lognotify-outbox-{os.getuid()}-"))  # 0700
        return _write(fallback, name, data)


def _private(folder: Path) -> Path:
    """``folder``, made 0700 (with any missing parent) or checked to be ours and private."""
    try:
        info = os.lstat(folder)
    except FileNotFoundError:
        if not folder.parent.exists():
            _private(folder.parent)
        os.mkdir(folder, 0o700)
        os.chmod(folder, 0o700)  # mkdir's mode is masked by the umask
        info = os.lstat(folder)
    if not stat.S_ISDIR(info.st_mode):
        raise NotADirectoryError("not a folder (or a symbolic link)")
    if info.st_uid != os.getuid():
        raise PermissionError("it belongs to another user")
    if info.st_mode & 0o077:
        os.chmod(folder, 0o700)  # ours, but open to others: close it before writing a report in
    return folder


def _write(folder: Path, name: str, data: bytes) -> Path:
    path = folder / f"{name}-{os.urandom(4).hex()}.eml"
    partial = folder / f".{path.name}.partial"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(partial, flags, 0o600)  # reports hold logs
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return path
