"""Where Hyperscan's compiled databases are kept, and how they are read and written.

Entries are read from the package's own ``__pycache__`` (written when an image is built, by
``python -m lognotify.fastscan``), then from the user's cache folder
(``$XDG_CACHE_HOME/lognotify``, else ``~/.cache/lognotify``), the only one written at run
time: folders 0700 and files 0600, whatever the umask. A database is read only from a folder,
and a file, that no one but root or the user can write.
"""

from __future__ import annotations

import os

PACKAGE_FOLDER = os.path.join(os.path.dirname(__file__), "__pycache__")


def paths(name: str) -> list[str]:
    """Where an entry called ``name`` is read, in order; the last one is the user's."""
    found = [os.path.join(PACKAGE_FOLDER, name)]
    home = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    if os.path.isabs(home):
        found.append(os.path.join(home, "lognotify", name))
    return found


def _trusted(info: os.stat_result) -> bool:
    return info.st_uid in (0, os.getuid()) and not info.st_mode & 0o022


def read(path: str) -> bytes | None:
    """The entry at ``path``, when it and its folder are no one else's to write."""
    try:
        if not _trusted(os.lstat(os.path.dirname(path))) or os.path.islink(os.path.dirname(path)):
            return None
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not _trusted(info) or info.st_size > 16 << 20:
            return None
        entry = os.read(fd, info.st_size)  # at its size: no larger buffer to shrink
        return entry if len(entry) == info.st_size else None
    except OSError:
        return None
    finally:
        os.close(fd)


def write(path: str, blob: bytes) -> None:
    """Write the entry whole (readers see all of it or none); a cache that cannot be
    written is simply not used."""
    folder = os.path.dirname(path)
    partial = f"{path}.{os.getpid()}.partial"
    try:
        _private_folder(folder)
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "wb") as entry:
            entry.write(blob)
        os.replace(partial, path)
    except OSError:
        try:
            os.unlink(partial)
        except OSError:
            pass


def _private_folder(folder: str) -> None:
    """``folder`` and each missing folder above it made 0700, whatever the umask."""
    missing = []
    while not os.path.isdir(folder):
        missing.append(folder)
        parent = os.path.dirname(folder)
        if parent == folder:
            break
        folder = parent
    for name in reversed(missing):
        os.mkdir(name, 0o700)
        os.chmod(name, 0o700)
