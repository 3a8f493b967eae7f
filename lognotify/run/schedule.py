"""The runner's decisions, apart from its I/O: what happens at each deadline, signal and end.

Pure: the runner tells the schedule what happened and when (a signal arrived, the command
exited, a stream ended, time passed) and does what it answers: signals to send to the
command's process group, and when to look again. Tests drive it with scripted histories.

The rules:

* every signal lognotify is sent is passed on to the group; the first one that means "stop"
  (SIGTERM, SIGINT, SIGHUP, SIGQUIT) is the run's cause, unless --timeout came first;
* at the timeout, the group gets SIGTERM;
* after SIGTERM (received, or sent for the timeout), whatever is still alive ``kill_grace``
  seconds later gets SIGKILL, the command's leftovers included;
* once the command has exited, what its leftovers still write is passed on for at most
  ``drain`` seconds, then the run is over.
"""

from __future__ import annotations

import signal

from lognotify.run.signals import STOPPING

# How often to look whether the group is gone, while its SIGKILL is pending.
GROUP_POLL = 0.05
# A safety net: look at least this often (SIGCHLD normally wakes the runner at once).
IDLE = 1.0


class Schedule:
    """What to do next in one run; every method takes ``now`` from the runner's clock."""

    def __init__(
        self, *, started: float, timeout: float | None, kill_grace: float, drain: float
    ) -> None:
        self.deadline = None if timeout is None else started + timeout
        self.kill_grace = kill_grace
        self.drain = drain
        self.timed_out = False
        self.stopped_by: int | None = None  # the outside signal that stopped the run
        self.killed_after: float | None = None  # SIGKILL sent to the command, this long after TERM
        self.exited_at: float | None = None
        self.streams_open = 2
        self._term_at: float | None = None
        self._kill_at: float | None = None

    def on_signal(self, signum: int, now: float) -> list[int]:
        """A signal arrived from outside: what to send to the group."""
        if signum in STOPPING and self.stopped_by is None and not self.timed_out:
            self.stopped_by = signum
        if signum == signal.SIGTERM:
            self._arm_kill(now)
        return [signum]

    def on_exit(self, now: float) -> None:
        """The command itself has exited (its leftovers may still run)."""
        if self.exited_at is None:
            self.exited_at = now

    def on_eof(self) -> None:
        """One of the two streams has ended (every writer closed it)."""
        self.streams_open = max(self.streams_open - 1, 0)

    def on_tick(self, now: float, group_alive: bool) -> list[int]:
        """Time passed: the signals now due."""
        due: list[int] = []
        running = self.exited_at is None
        if self.deadline is not None and now >= self.deadline and running and not self.timed_out:
            if self.stopped_by is None:
                self.timed_out = True
            self._arm_kill(now)
            due.append(signal.SIGTERM)
        if self._kill_at is not None and now >= self._kill_at:
            self._kill_at = None
            if running:
                self.killed_after = self.kill_grace
                due.append(signal.SIGKILL)
            elif group_alive:
                due.append(signal.SIGKILL)  # the command ended; its leftovers did not
        return due

    @property
    def wants_group(self) -> bool:
        """Whether ``on_tick`` and ``finished`` need to know if the group is still alive."""
        return self.exited_at is not None and self._kill_at is not None

    def finished(self, now: float, group_alive: bool) -> bool:
        """Whether the run is over: the command exited, its output was passed on (or the
        drain ran out), and nothing is waiting for its SIGKILL."""
        if self.exited_at is None:
            return False
        drained = not self.streams_open or now >= self.exited_at + self.drain
        return drained and (self._kill_at is None or not group_alive)

    def next_wake(self, now: float) -> float:
        """Seconds until something is due."""
        due = [now + IDLE]
        if self.deadline is not None and self.exited_at is None and not self.timed_out:
            due.append(self.deadline)
        if self._kill_at is not None:
            due.append(self._kill_at)
            if self.exited_at is not None:
                due.append(now + GROUP_POLL)
        if self.exited_at is not None and self.streams_open:
            due.append(self.exited_at + self.drain)
        return max(min(due) - now, 0.0)

    def _arm_kill(self, now: float) -> None:
        if self._kill_at is None and self.killed_after is None:
            self._term_at = now
            self._kill_at = now + self.kill_grace
