"""The runner's decisions, driven by scripted histories of what happened and when."""

from __future__ import annotations

import signal

from lognotify.run.schedule import GROUP_POLL, IDLE, Schedule

TERM, KILL, INT, HUP, USR1 = (
    signal.SIGTERM,
    signal.SIGKILL,
    signal.SIGINT,
    signal.SIGHUP,
    signal.SIGUSR1,
)


def schedule(timeout: float | None = None, kill_grace: float = 10.0) -> Schedule:
    return Schedule(started=100.0, timeout=timeout, kill_grace=kill_grace, drain=0.5)


def test_a_run_that_exits_and_closes_its_streams_is_over_at_once() -> None:
    plan = schedule()
    assert plan.on_tick(101.0, group_alive=True) == []
    plan.on_exit(101.0)
    assert not plan.finished(101.0, group_alive=False)  # its output may still be in the pipes
    plan.on_eof()
    plan.on_eof()
    assert plan.finished(101.0, group_alive=False)
    assert (plan.stopped_by, plan.timed_out, plan.killed_after) == (None, False, None)


def test_every_signal_is_passed_on_and_the_first_stopping_one_is_the_cause() -> None:
    plan = schedule()
    assert plan.on_signal(USR1, 101.0) == [USR1]
    assert plan.stopped_by is None  # SIGUSR1 does not mean stop
    assert plan.on_signal(HUP, 102.0) == [HUP]
    assert plan.on_signal(TERM, 103.0) == [TERM]
    assert plan.stopped_by == HUP


def test_sigterm_is_followed_by_sigkill_after_the_grace_while_the_command_runs() -> None:
    plan = schedule(kill_grace=10.0)
    plan.on_signal(TERM, 101.0)
    assert plan.next_wake(101.0) == IDLE  # the kill is 10 s away; the safety net first
    assert plan.on_tick(110.9, group_alive=True) == []
    assert plan.on_tick(111.0, group_alive=True) == [KILL]
    assert plan.killed_after == 10.0
    plan.on_exit(111.1)
    plan.on_eof()
    plan.on_eof()
    assert plan.finished(111.1, group_alive=False)


def test_sigint_alone_never_arms_sigkill() -> None:
    plan = schedule(kill_grace=1.0)
    plan.on_signal(INT, 101.0)
    assert plan.on_tick(500.0, group_alive=True) == []
    assert plan.stopped_by == INT


def test_the_timeout_sends_sigterm_then_sigkill_and_is_the_cause() -> None:
    plan = schedule(timeout=30.0, kill_grace=5.0)
    assert plan.next_wake(100.0) == 1.0 == IDLE  # the safety net comes first
    assert plan.next_wake(129.5) == 0.5
    assert plan.on_tick(130.0, group_alive=True) == [TERM]
    assert plan.timed_out
    assert plan.on_tick(134.0, group_alive=True) == []
    assert plan.on_tick(135.0, group_alive=True) == [KILL]
    assert plan.killed_after == 5.0
    # a SIGTERM from outside during the grace does not make it "terminated"
    plan.on_signal(TERM, 135.5)
    assert plan.stopped_by is None


def test_a_stop_from_outside_before_the_timeout_stays_the_cause() -> None:
    plan = schedule(timeout=30.0, kill_grace=60.0)
    plan.on_signal(TERM, 110.0)
    assert plan.on_tick(130.0, group_alive=True) == [TERM]  # the timeout's SIGTERM still goes
    assert (plan.stopped_by, plan.timed_out) == (TERM, False)


def test_no_timeout_once_the_command_has_exited() -> None:
    plan = schedule(timeout=30.0)
    plan.on_exit(120.0)
    assert plan.on_tick(131.0, group_alive=True) == []
    assert not plan.timed_out


def test_leftovers_still_writing_are_given_the_drain_and_no_more() -> None:
    plan = schedule()
    plan.on_exit(101.0)
    assert plan.next_wake(101.0) == 0.5
    assert not plan.finished(101.4, group_alive=True)
    assert plan.finished(101.5, group_alive=True)  # a leftover holding the pipes: over anyway


def test_after_sigterm_leftovers_that_outlive_the_grace_get_sigkill_then_the_run_ends() -> None:
    plan = schedule(kill_grace=2.0)
    plan.on_signal(TERM, 101.0)
    plan.on_exit(101.2)  # the command obeyed; a leftover in its group did not
    plan.on_eof()
    plan.on_eof()
    assert plan.wants_group
    assert not plan.finished(101.2, group_alive=True)
    assert abs(plan.next_wake(101.2) - GROUP_POLL) < 1e-9
    assert plan.on_tick(103.0, group_alive=True) == [KILL]
    assert plan.killed_after is None  # the command itself was not killed
    assert plan.finished(103.0, group_alive=True)


def test_a_group_gone_before_the_grace_ends_the_wait_at_once() -> None:
    plan = schedule(kill_grace=10.0)
    plan.on_signal(TERM, 101.0)
    plan.on_exit(101.2)
    plan.on_eof()
    plan.on_eof()
    assert plan.finished(101.3, group_alive=False)
    assert plan.on_tick(111.0, group_alive=False) == []  # no SIGKILL for a group that is gone
