"""Signals: handlers installed and put back in one place; raising handlers wait for critical
code."""

from __future__ import annotations

import signal
import threading

import pytest

from lognotify.run import signals


def test_install_then_restore_puts_back_what_was_there_and_keeps_ignored_ones() -> None:
    def mine(signum: int, frame: object) -> None:
        pass

    before = signal.signal(signal.SIGUSR1, signal.SIG_IGN)
    try:
        saved = signals.install((signal.SIGUSR1, signal.SIGUSR2), mine)
        assert saved.ignored == [signal.SIGUSR1]
        assert signal.getsignal(signal.SIGUSR1) is signal.SIG_IGN  # ignored stays ignored
        assert signal.getsignal(signal.SIGUSR2) is mine
        saved.restore()
        assert signal.getsignal(signal.SIGUSR2) is signal.SIG_DFL
        saved.restore()  # twice is harmless
    finally:
        signal.signal(signal.SIGUSR1, before)


def test_an_action_deferred_in_a_critical_section_runs_when_it_ends() -> None:
    ran: list[str] = []
    with signals.critical:
        assert signals.deferred(lambda: ran.append("late"))
        ran.append("inside")
    assert ran == ["inside", "late"]
    assert not signals.deferred(lambda: ran.append("now"))
    assert ran[-1] == "now"


def test_a_raising_handler_never_cuts_a_critical_section_short() -> None:
    lock = threading.Lock()

    def raising(signum: int, frame: object) -> None:
        def stop() -> None:
            raise SystemExit(143)

        signals.deferred(stop)

    saved = signals.install((signal.SIGUSR1,), raising)
    try:
        held = []

        def critical_work() -> None:
            with signals.critical, lock:
                signal.raise_signal(signal.SIGUSR1)  # the handler runs here, in the middle
                held.append(lock.locked())  # still here: the SystemExit waited

        with pytest.raises(SystemExit):
            critical_work()
        assert held == [True]
        assert not lock.locked()  # released before the SystemExit came
    finally:
        saved.restore()


def test_critical_sections_of_other_threads_do_not_defer_the_main_threads_actions() -> None:
    entered, leave = threading.Event(), threading.Event()

    def worker() -> None:
        with signals.critical:
            entered.set()
            leave.wait()

    thread = threading.Thread(target=worker)
    thread.start()
    entered.wait()
    try:
        ran: list[int] = []
        assert not signals.deferred(lambda: ran.append(1))
        assert ran == [1]
    finally:
        leave.set()
        thread.join()


def test_signal_names() -> None:
    assert signals.name(signal.SIGTERM) == "SIGTERM"
    assert signals.name(250) == "signal 250"
