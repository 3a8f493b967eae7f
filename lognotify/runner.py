"""Run a command as if lognotify were not there, and capture what it printed.

The command runs directly (no shell) in its own process group. Its stdout and stderr come
through pipes that one epoll loop reads as raw bytes and writes on to our own stdout and
stderr at once: no decoding, no line buffering, so ``kubectl logs`` shows exactly what the
command wrote, when it wrote it. The same bytes go into the bounded capture. Signals sent to
lognotify are passed on to the whole group; after SIGTERM or a timeout, what is still alive
``kill_grace`` seconds later gets SIGKILL. Running as PID 1, orphans are reaped as they exit,
and the command's own status is never lost to that reaping.
"""

from __future__ import annotations

import errno
import fcntl
import os
import select
import shlex
import signal
import stat
import time

from lognotify.capture import STDERR, STDOUT, Capture
from lognotify.notify import mid_line, say
from lognotify.result import RunResult

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

FORWARDED = (
    signal.SIGTERM,
    signal.SIGINT,
    signal.SIGHUP,
    signal.SIGQUIT,
    signal.SIGUSR1,
    signal.SIGUSR2,
)
TIMEOUT_EXIT = 124
NOT_EXECUTABLE_EXIT = 126
NOT_FOUND_EXIT = 127
CHUNK = 1 << 20
PIPE_SIZE = 1 << 20
# After the command exits, how long to keep reading what its leftovers still write.
DRAIN_SECONDS = 0.5
# How often to look whether the group is gone, while waiting to SIGKILL it.
GROUP_POLL = 0.05


def run_command(
    argv: Sequence[str],
    capture: Capture,
    *,
    timeout: float | None = None,
    kill_grace: float = 10.0,
    stdout_fd: int = 1,
    stderr_fd: int = 2,
    env: Mapping[str, str] | None = None,
    clock: Callable[[], float] = time.monotonic,
    is_init: bool | None = None,
    early: list[int] | None = None,
) -> RunResult:
    """Run ``argv`` to its end, passing its output through and into ``capture``.

    ``early`` is where the caller's own handlers put signals that arrived before ours were
    installed: they are taken from it (and it is emptied) and sent to the command once it
    has started, so none is lost in between.
    """
    runner = _Runner(
        capture,
        timeout=timeout,
        kill_grace=kill_grace,
        outputs={STDOUT: stdout_fd, STDERR: stderr_fd},
        clock=clock,
        is_init=os.getpid() == 1 if is_init is None else is_init,
    )
    return runner.run(list(argv), os.environ if env is None else env, early)


class _Runner:
    def __init__(
        self,
        capture: Capture,
        *,
        timeout: float | None,
        kill_grace: float,
        outputs: dict[int, int],
        clock: Callable[[], float],
        is_init: bool,
    ) -> None:
        self.capture = capture
        self.timeout = timeout
        self.kill_grace = kill_grace
        self.outputs = outputs
        self.clock = clock
        self.is_init = is_init
        for fd in outputs.values():
            _enlarge_if_pipe(fd)
        self.pid: int | None = None
        self.status: int | None = None
        self.pending: list[int] = []  # signals that arrived before the command started
        self.ignored: list[int] = []  # signals that were ignored when we were started
        self.kill_at: float | None = None
        self.timed_out = False
        self.stderr_seen = False
        self.mid_line = {STDOUT: False, STDERR: False}

    # --- signals -------------------------------------------------------------------------

    def _forward(self, signum: int, frame: object) -> None:
        if signum == signal.SIGTERM and self.kill_at is None:
            self.kill_at = self.clock() + self.kill_grace
        if self.pid is None:
            self.pending.append(signum)
        else:
            self._signal_group(signum)

    def _signal_group(self, signum: int) -> None:
        assert self.pid is not None
        try:
            os.killpg(self.pid, signum)
        except (ProcessLookupError, PermissionError):
            pass  # the group is gone already

    def _group_alive(self) -> bool:
        assert self.pid is not None
        try:
            os.killpg(self.pid, 0)
        except (ProcessLookupError, PermissionError):
            return False
        # killpg counts zombies too: a leftover that died of the signal, whose new parent (a
        # reaper that is not us) has not reaped it yet, would hold us for the whole grace.
        return _has_running_member(self.pid)

    def _install(self, wake_fd: int) -> dict[int, object]:
        saved: dict[int, object] = {}
        for signum in FORWARDED:
            previous = signal.getsignal(signum)
            saved[signum] = previous
            if previous is signal.SIG_IGN:
                # Ignored where we were started (SIGINT for a `&` job of a script): the command
                # must inherit that, so ours is installed once it has started (_forward_ignored).
                self.ignored.append(signum)
                continue
            signal.signal(signum, self._forward)
        saved[signal.SIGCHLD] = signal.signal(signal.SIGCHLD, lambda signum, frame: None)
        saved[-1] = signal.set_wakeup_fd(wake_fd, warn_on_full_buffer=False)
        return saved

    @staticmethod
    def _restore(saved: dict[int, object]) -> None:
        signal.set_wakeup_fd(saved.pop(-1))  # type: ignore[arg-type]
        for signum, handler in saved.items():
            signal.signal(signum, handler)  # type: ignore[arg-type]

    # --- the run -------------------------------------------------------------------------

    def run(
        self, argv: list[str], env: Mapping[str, str], early: list[int] | None = None
    ) -> RunResult:
        started, start_clock = time.time(), self.clock()
        command, program = shlex.join(argv), os.path.basename(argv[0]) if argv else ""
        pipes = {STDOUT: _pipe(), STDERR: _pipe()}
        wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        saved = self._install(wake_w)
        if early:  # our handlers are in place: nothing can be added to it any more
            for signum in early:
                self._forward(signum, None)
            early.clear()
        note = None
        try:
            try:
                self.pid = os.posix_spawnp(
                    argv[0],
                    argv,
                    env,
                    file_actions=[
                        (os.POSIX_SPAWN_DUP2, pipes[STDOUT][1], 1),
                        (os.POSIX_SPAWN_DUP2, pipes[STDERR][1], 2),
                    ],
                    setpgroup=0,
                    # Python ignores these two; a command must start with them at default.
                    setsigdef=(signal.SIGPIPE, signal.SIGXFSZ),
                )
            except OSError as exc:
                exit_code, note = _spawn_failure(argv[0], exc)
            for _, write_end in pipes.values():
                os.close(write_end)
            if self.pid is not None:
                for signum in self.ignored:  # it ignores them as it would; a handler of its
                    signal.signal(signum, self._forward)  # own still gets them, through us
                for signum in self.pending:
                    self._signal_group(signum)
                exit_code = self._loop({pipes[s][0]: s for s in pipes}, wake_r, start_clock)
            else:
                for read_end, _ in pipes.values():
                    os.close(read_end)
        finally:
            self._restore(saved)
            os.close(wake_r)
            os.close(wake_w)
        for stream, fd in self.outputs.items():
            if self.mid_line[stream] and fd in (1, 2):
                mid_line.add(fd)
        sig = None
        if self.status is not None and os.WIFSIGNALED(self.status):
            sig = os.WTERMSIG(self.status)
        return RunResult(
            mode="command",
            command=command,
            program=program,
            exit_code=exit_code,
            signal=sig,
            timed_out=self.timed_out,
            timeout=self.timeout,
            note=note,
            started=started,
            ended=time.time(),
            output=self.capture.snapshot(),
            error_reported=self.stderr_seen,
        )

    def _loop(self, readers: dict[int, int], wake_r: int, start_clock: float) -> int:
        clock = self.clock
        poller = select.epoll()
        for fd in readers:
            poller.register(fd, select.EPOLLIN)
        poller.register(wake_r, select.EPOLLIN)
        deadline = None if self.timeout is None else start_clock + self.timeout
        drain_until: float | None = None
        reap_due = True  # only after SIGCHLD woke us, or a wait ran out: not once per chunk
        try:
            while True:
                now = clock()
                if deadline is not None and now >= deadline and not self.timed_out:
                    self.timed_out = True
                    self.kill_at = now + self.kill_grace
                    self._signal_group(signal.SIGTERM)
                if self.kill_at is not None and now >= self.kill_at:
                    self._signal_group(signal.SIGKILL)
                    self.kill_at = None
                if reap_due and (self.status is None or self.is_init):
                    # As PID 1, keep reaping after the command is gone: a leftover killed by
                    # SIGTERM becomes our zombie, and would count as alive in its group.
                    self._reap()
                    reap_due = False
                if self.status is not None:
                    if drain_until is None:
                        drain_until = now + DRAIN_SECONDS
                    if not readers or now >= drain_until:
                        self._sweep(readers, poller)
                        if self.kill_at is None or not self._group_alive():
                            break
                events = poller.poll(self._next_wait(now, deadline, drain_until))
                if not events:
                    reap_due = True
                for fd, _ in events:
                    if fd == wake_r:
                        _empty(wake_r)
                        reap_due = True
                    elif fd in readers:
                        self._pump(fd, readers, poller)
        finally:
            poller.close()
            for fd in readers:
                os.close(fd)
        assert self.status is not None
        if self.timed_out:
            return TIMEOUT_EXIT
        code = os.waitstatus_to_exitcode(self.status)
        return 128 - code if code < 0 else code

    def _next_wait(self, now: float, deadline: float | None, drain_until: float | None) -> float:
        waits = [1.0]  # a safety net; SIGCHLD normally wakes us at once
        if deadline is not None and not self.timed_out:
            waits.append(deadline - now)
        if self.kill_at is not None:
            waits.append(self.kill_at - now)
            if self.status is not None:
                waits.append(GROUP_POLL)
        if drain_until is not None:
            waits.append(drain_until - now)
        return max(min(waits), 0.0)

    def _pump(self, fd: int, readers: dict[int, int], poller: select.epoll) -> bool:
        """Pass on one read of ``fd``; False when there was nothing to read (or it ended)."""
        stream = readers[fd]
        try:
            data = os.read(fd, CHUNK)
        except BlockingIOError:
            return False
        if not data:
            self._drop(fd, readers, poller)
            return False
        if stream == STDERR:
            self.stderr_seen = True
        self.capture.append(data, stream)
        out = self.outputs.get(stream)
        failure = None if out is None else _write_all(out, data)
        self.mid_line[stream] = not data.endswith(b"\n")
        if failure is not None:
            self.outputs.pop(stream)
            if failure.errno == errno.EPIPE:
                # Our reader went away: close the pipe, so the command meets a closed pipe
                # too, as it would have without us.
                self._drop(fd, readers, poller)
            else:  # a full disk, say: the run goes on, and its output into the report
                name = "stdout" if stream == STDOUT else "stderr"
                say(f"cannot write to {name} ({failure.strerror}); its output still goes "
                    "into the report")
        return True

    @staticmethod
    def _drop(fd: int, readers: dict[int, int], poller: select.epoll) -> None:
        poller.unregister(fd)
        os.close(fd)
        del readers[fd]

    def _sweep(self, readers: dict[int, int], poller: select.epoll) -> None:
        """Pass on what is already in the pipes, without waiting for more."""
        for fd in list(readers):
            for _ in range(64):  # a leftover still writing must not keep us here
                if fd not in readers or not self._pump(fd, readers, poller):
                    break

    def _reap(self) -> None:
        assert self.pid is not None
        if not self.is_init:
            if self.status is not None:
                return
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == self.pid:
                self.status = status
            return
        # As PID 1, orphans of the whole container are ours to reap. waitpid(-1) may return
        # our own command among them: keep its status, never drop it.
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if pid == self.pid:
                self.status = status


def _has_running_member(pgid: int) -> bool:
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
            with open(f"/proc/{name}/stat", "rb") as stat:
                fields = stat.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue  # gone meanwhile
        if len(fields) > 2 and fields[2] == group:  # state, ppid, pgrp, ...
            members += 1
            if fields[0] not in (b"Z", b"X"):
                return True
    # None seen at all while killpg found one: /proc hides it (hidepid), so it may well run.
    return members == 0


def _enlarge_if_pipe(fd: int) -> None:
    # Our own stdout is often a pipe to a slow reader (the container runtime's log pump):
    # a larger pipe means fewer blocked writes and context switches, and the same bytes.
    try:
        if stat.S_ISFIFO(os.fstat(fd).st_mode) and fcntl.fcntl(fd, fcntl.F_GETPIPE_SZ) < PIPE_SIZE:
            fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, PIPE_SIZE)
    except OSError:
        pass  # not ours to resize, or above the system's limit: the default works too


def _pipe() -> tuple[int, int]:
    read_end, write_end = os.pipe2(os.O_CLOEXEC)
    try:
        # A large pipe means fewer, larger reads: less CPU per byte passed through.
        fcntl.fcntl(read_end, fcntl.F_SETPIPE_SZ, PIPE_SIZE)
    except OSError:
        pass  # above /proc/sys/fs/pipe-max-size for an unprivileged user: keep the default
    os.set_blocking(read_end, False)
    return read_end, write_end


def _empty(fd: int) -> None:
    try:
        while os.read(fd, 512):
            pass
    except BlockingIOError:
        pass


def _write_all(fd: int, data: bytes) -> OSError | None:
    """Write all of ``data``; the error when it cannot be (EPIPE: the reader is gone)."""
    view = memoryview(data)
    while view:
        try:
            written = os.write(fd, view)
        except BlockingIOError:  # our own stdout may be non-blocking: wait until it drains
            select.select([], [fd], [])
            continue
        except InterruptedError:
            continue
        except OSError as exc:
            return exc
        view = view[written:]
    return None


def _spawn_failure(command: str, exc: OSError) -> tuple[int, str]:
    if isinstance(exc, FileNotFoundError) or exc.errno == errno.ENOENT:
        return NOT_FOUND_EXIT, f"command not found: {command}"
    reason = {
        errno.EACCES: "permission denied",
        errno.ENOEXEC: "exec format error",
        errno.EISDIR: "is a directory",
    }.get(exc.errno or 0, exc.strerror or str(exc))
    return NOT_EXECUTABLE_EXIT, f"cannot execute {command}: {reason}"
