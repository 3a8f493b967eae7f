"""The built-in templates, compiled once and kept: compiling them costs 30-50 ms a report.

Entries are read from the package's ``templates/__pycache__`` (the image compiles them there
when it is built: ``python -m lognotify.report.compile``) and from the user's cache folder
(``$XDG_CACHE_HOME/lognotify``, else ``~/.cache/lognotify``), and written only to the latter:
never inside an installed package at run time (pip does not own what is written there, and a
stale folder left behind after a reinstall would shadow the package). An entry is code that
will run: it is read only from a folder that no one but root or the user can write. Every
folder made here is 0700, whatever the umask.
"""

from __future__ import annotations

import os
from pathlib import Path

import jinja2

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

PACKAGE = Path(__file__).with_name("templates") / "__pycache__"


def user_folder() -> Path:
    """Where this user's entries are kept."""
    home = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(home) / "lognotify"


class TemplateCache(jinja2.BytecodeCache):
    """Jinja's bytecode cache over ``read`` folders, written to ``write``; Jinja checks each
    entry against its version and the template's source. A cache that cannot be read or
    written is simply not used."""

    def __init__(self, read: Sequence[Path] | None = None, write: Path | None = None) -> None:
        self.write = user_folder() if write is None and read is None else write
        self.read = [PACKAGE, self.write] if read is None else list(read)

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        for folder in self.read:
            if folder is None or not trusted(folder):
                continue
            try:
                with open(folder / f"{bucket.key}.jinja", "rb") as cached:
                    bucket.load_bytecode(cached)
            except Exception:  # missing, unreadable or damaged: compiled afresh
                bucket.reset()
            if bucket.code is not None:
                return

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        if self.write is None:
            return
        place = self.write / f"{bucket.key}.jinja"
        partial = place.with_name(f".{place.name}.{os.getpid()}.partial")
        try:
            private_folder(self.write)
            if not trusted(self.write):
                return
            fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            with os.fdopen(fd, "wb") as cached:
                bucket.write_bytecode(cached)
            os.replace(partial, place)  # readers see a whole entry or none
        except OSError:
            try:
                partial.unlink(missing_ok=True)
            except OSError:
                pass


def trusted(folder: Path) -> bool:
    """Whether only root or this user can write ``folder`` (and it is no symbolic link)."""
    try:
        info = folder.lstat()
    except OSError:
        return False
    mine = info.st_uid in (0, os.getuid())
    return mine and not info.st_mode & 0o022 and not os.path.islink(folder)


def private_folder(folder: Path) -> None:
    """Make ``folder`` and each missing parent 0700, whatever the umask."""
    missing = []
    for parent in [folder, *folder.parents]:
        if parent.exists():
            break
        missing.append(parent)
    for path in reversed(missing):
        try:
            os.mkdir(path, 0o700)
        except FileExistsError:
            continue
        os.chmod(path, 0o700)  # mkdir's mode is masked by the umask; this is not
