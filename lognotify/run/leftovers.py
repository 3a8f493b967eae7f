"""What a command leaves running in the background keeps writing where it wrote.

Without lognotify, a process the command started in the background (``sh -c 'slow & exit 1'``)
writes to the same stdout after the command has ended, for as long as it runs. lognotify
ends with the command, so that its exit status and report are not held up by what the
command left behind; a small forwarding process, forked for the purpose, takes over the pipes
the leftovers still hold and passes on what they write until they are done, so that they
neither die of SIGPIPE nor write into the void. As a container's PID 1 there is no such
afterlife: the container ends with lognotify, as it would have with the command, and the
pipes are simply closed.
"""

from __future__ import annotations

import os
import select
import signal

from lognotify.run.pump import CHUNK, write_all

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping


def hand_over(pipes: Mapping[int, int | None], *, forward: bool) -> None:
    """Pass on what is written to each pipe (read end -> our output, or None: drop it) from a
    forked process, until every writer is gone; the read ends are closed here."""
    if forward:
        try:
            pid = os.fork()
        except OSError:
            pid = -1  # no process to spare: the leftovers meet closed pipes
        if pid == 0:
            _forward(pipes)  # never returns
    for read_end in pipes:
        os.close(read_end)


def _forward(pipes: Mapping[int, int | None]) -> None:
    status = 0
    try:
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT):
            signal.signal(signum, signal.SIG_DFL)
        keep = {0, 1, 2} | set(pipes) | {out for out in pipes.values() if out is not None}
        for name in os.listdir("/proc/self/fd"):  # nothing of lognotify's but these pipes
            if int(name) not in keep:
                try:
                    os.close(int(name))
                except OSError:
                    pass
        open_pipes = dict(pipes)
        while open_pipes:
            ready, _, _ = select.select(list(open_pipes), [], [])
            for fd in ready:
                try:
                    data = os.read(fd, CHUNK)
                except BlockingIOError:
                    continue
                out = open_pipes[fd]
                if not data or (out is not None and write_all(out, data) is not None):
                    os.close(fd)  # its end, or our reader is gone: the writer meets a closed pipe
                    del open_pipes[fd]
    except BaseException:
        status = 1
    finally:
        os._exit(status)
