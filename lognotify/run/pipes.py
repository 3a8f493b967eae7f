"""The wrapper's pipes, and what /proc says of the command's process group."""

from __future__ import annotations

import fcntl
import os
import stat

PIPE_SIZE = 1 << 20


def enlarge_if_pipe(fd: int) -> None:
    """Make ``fd`` a pipe of PIPE_SIZE when it is a smaller pipe."""
    # Our own stdout is often a pipe to a slow reader (the container runtime's log pump):
    # a larger pipe means fewer blocked writes and context switches, and the same bytes.
    try:
        if stat.S_ISFIFO(os.fstat(fd).st_mode) and fcntl.fcntl(fd, fcntl.F_GETPIPE_SZ) < PIPE_SIZE:
            fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, PIPE_SIZE)
    except OSError:
        pass  # not ours to resize, or above the system's limit: the default works too


def pipe() -> tuple[int, int]:
    """A close-on-exec pipe of PIPE_SIZE where the system allows: (read end, write end)."""
    read_end, write_end = os.pipe2(os.O_CLOEXEC)
    try:
        # A large pipe means fewer, larger reads: less CPU per byte passed through.
        fcntl.fcntl(read_end, fcntl.F_SETPIPE_SZ, PIPE_SIZE)
    except OSError:
        pass  # above /proc/sys/fs/pipe-max-size for an unprivileged user: keep the default
    return read_end, write_end


def empty(fd: int) -> None:
    """Read a non-blocking ``fd`` until nothing is left in it."""
    try:
        while os.read(fd, 512):
            pass
    except BlockingIOError:
        pass


def has_running_member(pgid: int) -> bool:
    """Whether process group ``pgid`` has a member that is not a zombie (as /proc shows it)."""
    try:
        names = os.listdir("/proc")
    except OSError:
        return True  # no /proc to look in: assume it runs
    members, group = 0, str(pgid).encode()
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as info:
                fields = info.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue  # gone meanwhile
        if len(fields) > 2 and fields[2] == group:  # state, ppid, pgrp, ...
            members += 1
            if fields[0] not in (b"Z", b"X"):
                return True
    # None seen at all while killpg found one: /proc hides it (hidepid), so it may well run.
    return members == 0
