"""Run a command as if lognotify were not there, and capture what it printed.

The command runs directly (no shell) in its own process group. Its stdout and stderr come
through two pipes, each moved by a pump of its own (``run.pump``) to our own stdout and
stderr at once, as raw bytes: no decoding, no line buffering, so ``kubectl logs`` shows
exactly what the command wrote, when it wrote it; the same bytes go into the capture. The
main thread only waits: for signals (passed on to the group), for the command's exit (as
PID 1, for every orphan's too), for the pumps' ends and for the deadlines that
``run.schedule`` decides.
"""

from __future__ import annotations

import os
import select
import time

from lognotify.capture import STDERR, STDOUT
from lognotify.kubernetes import cgroup
from lognotify.outcome import Memory, RunResult
from lognotify.record import Record
from lognotify.run import pipes, result, signals
from lognotify.run.pump import Pump, pair
from lognotify.run.schedule import Schedule
from lognotify.run.spawn import child_environment, spawn

TYPE_CHECKING = False
if TYPE_CHECKING:
    import signal
    from collections.abc import Callable, Iterable, Mapping, Sequence

    from lognotify.capture import Capture

else:  # the C module: signal itself imports enum, ~2 ms at start-up
    import _signal as signal

# After the command exits, how long what its leftovers still write goes into the report.
DRAIN_SECONDS = 0.5


class Ran(Record):
    """A run's result, and the descriptors (1, 2) where its passed-on output ended mid-line."""

    result: RunResult
    mid_line: frozenset[int]


def run_command(
    argv: Sequence[str],
    capture: Capture,
    *,
    timeout: float | None = None,
    kill_grace: float = 10.0,
    passthrough: bool = True,
    outputs: tuple[int, int] = (1, 2),
    env: Mapping[bytes, bytes] | None = None,
    clock: Callable[[], float] = time.monotonic,
    is_init: bool | None = None,
    early: list[int] | None = None,
    say: Callable[[str], None] | None = None,
) -> Ran:
    """Run ``argv`` to its end, passing its output on (``passthrough``) and into ``capture``.

    ``early`` holds signals that arrived before ours were installed: they are taken from it
    (it is emptied) and passed on once the command has started, so none is lost in between.
    ``say`` is told, once per stream, of an output that cannot be written any more.
    """
    runner = _Runner(
        capture,
        clock=clock,
        say=say,
        timeout=timeout,
        is_init=os.getpid() == 1 if is_init is None else is_init,
    )
    schedule = Schedule(
        started=clock(), timeout=timeout, kill_grace=kill_grace, drain=DRAIN_SECONDS
    )
    outs = {STDOUT: outputs[0], STDERR: outputs[1]} if passthrough else {}
    for fd in outs.values():
        pipes.enlarge_if_pipe(fd)
    environment = child_environment() if env is None else dict(env)
    return runner.run(list(argv), environment, schedule, outs, early or [])


class _Runner:
    def __init__(
        self,
        capture: Capture,
        *,
        clock: Callable[[], float],
        is_init: bool,
        say: Callable[[str], None] | None,
        timeout: float | None,
    ) -> None:
        self.capture = capture
        self.timeout = timeout
        self.stderr_seen = False
        self.clock = clock
        self.is_init = is_init
        self.say = say
        self.pid: int | None = None
        self.status: int | None = None
        self.arrived: list[int] = []
        self.ended: list[int] = []  # the streams whose pumps have ended
        wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self.wake_r, self.wake_w = wake_r, wake_w

    def _on_signal(self, signum: int, frame: object) -> None:
        self.arrived.append(signum)

    def _wake(self) -> None:
        try:
            os.write(self.wake_w, b"\0")
        except OSError:
            pass  # full: the loop is awake already

    def run(
        self,
        argv: list[str],
        env: dict[bytes, bytes],
        schedule: Schedule,
        outs: dict[int, int],
        early: list[int],
    ) -> Ran:
        started = time.time()
        where = cgroup.find_memory_cgroup()
        before = cgroup.read_state(where)
        saved = signals.install(signals.FORWARDED, self._on_signal)
        previous_chld = signal.signal(signal.SIGCHLD, lambda signum, frame: None)
        previous_wakeup = signal.set_wakeup_fd(self.wake_w, warn_on_full_buffer=False)
        self.arrived += early
        early.clear()  # our handlers are in place: nothing can be added to it any more
        try:
            pumps = self._start(argv, env, outs, saved.ignored)
            if isinstance(pumps, OSError):
                snapshot = self.capture.snapshot()
                failed = result.not_started(
                    argv, pumps, started=started, ended=time.time(), output=snapshot
                )
                return Ran(result=failed, mid_line=frozenset())
            ended = self._loop(schedule, pumps)
            self._settle(pumps)
        finally:
            saved.restore()
            signal.signal(signal.SIGCHLD, previous_chld)
            signal.set_wakeup_fd(previous_wakeup)
            os.close(self.wake_r)
            os.close(self.wake_w)
        mid_line = frozenset(
            outs[stream] for stream, pump in pumps.items() if pump.mid_line and stream in outs
        )
        assert self.status is not None
        done = result.finished(
            argv,
            self.status,
            schedule,
            started=started,
            ended=ended,
            memory=_memory(where, before),
            timeout=self.timeout,
            stderr_seen=self.stderr_seen,
            output=self.capture.snapshot(),
        )
        return Ran(result=done, mid_line=mid_line)

    def _start(
        self,
        argv: list[str],
        env: dict[bytes, bytes],
        outs: dict[int, int],
        ignored: Iterable[int],
    ) -> dict[int, Pump] | OSError:
        """The command started, and a pump for each of its streams; or why it could not be."""
        ends = {STDOUT: pipes.pipe(), STDERR: pipes.pipe()}
        try:
            self.pid = spawn(argv, env, ends[STDOUT][1], ends[STDERR][1])
        except OSError as exc:
            for read_end, write_end in ends.values():
                os.close(read_end)
                os.close(write_end)
            return exc
        for _, write_end in ends.values():
            os.close(write_end)
        for signum in ignored:  # it ignores them, as it would have; a handler of its own
            signal.signal(signum, self._on_signal)  # still gets them, through us
        pumps = {
            stream: self._pump(fds[0], outs.get(stream), stream) for stream, fds in ends.items()
        }
        pair(pumps[STDOUT], pumps[STDERR])  # the capture keeps their order of writing
        for pump in pumps.values():
            pump.start()
        return pumps

    def _pump(self, source: int, out: int | None, stream: int) -> Pump:
        capture = self.capture

        def write_failed(error: OSError) -> None:
            if self.say is not None:
                name = "stdout" if stream == STDOUT else "stderr"
                self.say(
                    f"cannot write to {name} ({error.strerror}); its output still goes "
                    "into the report"
                )

        def sink(data: bytes) -> None:
            if stream == STDERR:
                self.stderr_seen = True
            capture.append(data, stream)

        def ended() -> None:
            # Counted here, not by Pump.running: that turns false only after this call, and
            # the loop, woken by it, could look before and then sleep for the whole drain.
            self.ended.append(stream)  # list.append: atomic, whichever thread
            self._wake()

        return Pump(source, out, sink, on_end=ended, on_write_error=write_failed)

    def _loop(self, schedule: Schedule, pumps: dict[int, Pump]) -> float:
        """Until the schedule says the run is over; the wall-clock time the command ended."""
        ended = time.time()
        ends_seen = 0
        while True:
            now = self.clock()
            for signum in self._take_signals():
                self._send_all(schedule.on_signal(signum, now))
            if self._reap() and schedule.exited_at is None:
                schedule.on_exit(now)
                ended = time.time()
            for _ in range(len(self.ended) - ends_seen):
                schedule.on_eof()
                ends_seen += 1
            alive = self._group_alive() if schedule.wants_group else False
            self._send_all(schedule.on_tick(now, alive))
            if schedule.finished(now, alive):
                return ended
            select.select([self.wake_r], [], [], schedule.next_wake(now))
            pipes.empty(self.wake_r)

    def _take_signals(self) -> list[int]:
        arrived, self.arrived = self.arrived, []
        return arrived

    def _send_all(self, signums: list[int]) -> None:
        assert self.pid is not None
        for signum in signums:
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
        return pipes.has_running_member(self.pid)

    def _reap(self) -> bool:
        """Whether the command has exited (its status kept in ``self.status``)."""
        assert self.pid is not None
        while self.status is None or self.is_init:
            try:
                # As PID 1, orphans of the whole container are ours to reap; waitpid(-1)
                # may return our own command among them: keep its status, never drop it.
                pid, status = os.waitpid(-1 if self.is_init else self.pid, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            if pid == self.pid:
                self.status = status
        return self.status is not None

    def _settle(self, pumps: dict[int, Pump]) -> None:
        """Take what is already in the pipes; hand what leftovers still hold to a forwarder."""
        for pump in pumps.values():
            pump.stop()
        for pump in pumps.values():
            pump.join()
        left = {pump.source_left_open: pump.out for pump in pumps.values()}
        left.pop(None, None)
        if left:
            from lognotify.run import leftovers  # only when something outlived the command

            leftovers.hand_over(left, forward=not self.is_init)  # type: ignore[arg-type]


def _memory(where: cgroup.MemoryCgroup | None, before: cgroup.MemoryState) -> Memory:
    """What the memory cgroup says of the run: its limit, its peak and whether it ran out."""
    after = cgroup.read_state(where)
    # Without a limit the cgroup is a host's or a session's, not the job's: its peak is some
    # other processes' and would only mislead.
    peak = after.peak_bytes if after.limit_bytes is not None else None
    return Memory(
        limit_bytes=after.limit_bytes, peak_bytes=peak, oom_killed=cgroup.oom_killed(before, after)
    )
