"""Starting the command: directly (no shell), in its own process group, with our environment.

The command gets the environment lognotify was started with, byte for byte, with one
exception: ``LOGNOTIFY_SMTP_PASSWORD`` (the job has no business with lognotify's credential).
Python itself adds ``LC_CTYPE=C.UTF-8`` to its environment when it starts without a usable
locale (PEP 538's coercion): that variable, which lognotify was not given, is taken out
again, since it changes what a program like grep does.
"""

from __future__ import annotations

import errno
import os
import signal

from lognotify import exits

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

WITHHELD = b"LOGNOTIFY_SMTP_PASSWORD"
_COERCED = (b"C.UTF-8", b"C.utf8", b"UTF-8")


def child_environment(
    environ: Mapping[bytes, bytes] | None = None, *, original: bytes | None = None
) -> dict[bytes, bytes]:
    """The command's environment: ``environ`` (default ``os.environb``) without the SMTP
    password, and without an ``LC_CTYPE`` that Python's locale coercion added (``original``:
    the environment block the process was started with, default ``/proc/self/environ``)."""
    env = dict(os.environb if environ is None else environ)
    env.pop(WITHHELD, None)
    if env.get(b"LC_CTYPE") in _COERCED:
        given = _startup_environment() if original is None else original
        if given is not None and not any(
            entry.startswith(b"LC_CTYPE=") for entry in given.split(b"\0")
        ):
            del env[b"LC_CTYPE"]
    return env


def _startup_environment() -> bytes | None:
    # The kernel's copy of the block this process was started with: what setenv() changed
    # since (Python's coercion) is not in it.
    try:
        with open("/proc/self/environ", "rb") as block:
            return block.read()
    except OSError:
        return None


def spawn(argv: Sequence[str], env: Mapping[bytes, bytes], stdout: int, stderr: int) -> int:
    """Start ``argv`` with ``stdout`` and ``stderr`` as its descriptors 1 and 2, in a new
    process group; its pid. Raises OSError when it cannot be started."""
    return os.posix_spawnp(
        argv[0],
        list(argv),
        env,
        file_actions=[(os.POSIX_SPAWN_DUP2, stdout, 1), (os.POSIX_SPAWN_DUP2, stderr, 2)],
        setpgroup=0,
        # Python ignores these two; a command must start with them at their default.
        setsigdef=(signal.SIGPIPE, signal.SIGXFSZ),
    )


def spawn_failure(command: str, exc: OSError) -> tuple[int, str, str]:
    """For a command that could not be started: the exit status, the reason's code and the
    words (``127, "not-found", "command not found: foo"``)."""
    if isinstance(exc, FileNotFoundError) or exc.errno == errno.ENOENT:
        return exits.NOT_FOUND, "not-found", f"command not found: {command}"
    reason = {
        errno.EACCES: "permission denied",
        errno.ENOEXEC: "exec format error",
        errno.EISDIR: "is a directory",
    }.get(exc.errno or 0, exc.strerror or str(exc))
    return exits.NOT_EXECUTABLE, "not-executable", f"cannot execute {command}: {reason}"
