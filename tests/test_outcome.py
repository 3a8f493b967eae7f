"""Why a run ended: the reason's code (X-Lognotify-Reason) and its words, decided once."""

from __future__ import annotations

import signal

import pytest

from lognotify.outcome import Memory, command_reason, format_seconds, library_reason, signal_name

MiB = 1 << 20


def test_a_non_zero_status_of_its_own_is_exit() -> None:
    reason = command_reason(exit_code=3)
    assert (reason.code, reason.sentence, reason.short) == (
        "exit",
        "exited with status 3",
        "exit 3",
    )


def test_success_and_success_with_errors() -> None:
    assert command_reason(exit_code=0).code == "success"
    reason = command_reason(exit_code=0, error_reported=True)
    assert reason.code == "errors"
    assert "stderr" in reason.sentence


def test_a_signal_that_did_not_come_through_lognotify_is_signal() -> None:
    reason = command_reason(exit_code=139, signal=signal.SIGSEGV)
    assert (reason.code, reason.short) == ("signal", "SIGSEGV")
    assert reason.sentence.startswith("killed by SIGSEGV (segmentation fault")


@pytest.mark.parametrize(
    ("signum", "who"),
    [
        (signal.SIGTERM, "pod deleted, deadline or eviction"),
        (signal.SIGINT, "Ctrl-C"),
        (signal.SIGHUP, "session closed"),
        (signal.SIGQUIT, "quit"),
    ],
)
def test_a_stop_from_outside_is_terminated_whatever_the_status(signum: int, who: str) -> None:
    trapped = command_reason(exit_code=0, stopped_by=signum)
    assert trapped.code == "terminated"
    assert who in trapped.sentence
    assert trapped.sentence.endswith("it then exited with status 0")
    killed = command_reason(exit_code=128 + signum, signal=signum, stopped_by=signum)
    assert killed.code == "terminated"
    assert killed.short == signal_name(signum)


def test_sigkill_after_the_grace_is_said_in_words_and_the_reason_stays() -> None:
    stopped = command_reason(
        exit_code=137, signal=signal.SIGKILL, stopped_by=signal.SIGTERM, killed_after=10
    )
    assert stopped.code == "terminated"
    assert "still running 10 s after SIGTERM; killed with SIGKILL" in stopped.sentence
    timed = command_reason(
        exit_code=124, signal=signal.SIGKILL, timed_out=True, timeout=30, killed_after=5
    )
    assert timed.code == "timeout"
    assert (
        timed.sentence
        == "stopped by --timeout after 30 s; still running 5 s after SIGTERM; killed with SIGKILL"
    )


def test_out_of_memory_needs_sigkill_and_the_counter_and_says_limit_and_peak() -> None:
    memory = Memory(limit_bytes=512 * MiB, peak_bytes=511 * MiB, oom_killed=True)
    reason = command_reason(exit_code=137, signal=signal.SIGKILL, memory=memory)
    assert (reason.code, reason.short) == ("oom", "out of memory")
    assert reason.sentence == "ran out of memory (limit 512 MiB, peak 511 MiB)"
    # SIGKILL without the counter rising: not memory
    assert command_reason(exit_code=137, signal=signal.SIGKILL, memory=Memory()).code == "signal"
    # our own SIGKILL after the grace is never taken for the OOM killer's
    ours = command_reason(
        exit_code=137,
        signal=signal.SIGKILL,
        stopped_by=signal.SIGTERM,
        killed_after=10,
        memory=memory,
    )
    assert ours.code == "terminated"
    unknown = command_reason(exit_code=137, signal=signal.SIGKILL, memory=Memory(oom_killed=True))
    assert unknown.sentence == "ran out of memory (killed by the kernel's OOM killer)"


def test_a_command_that_could_not_start() -> None:
    assert (
        command_reason(exit_code=127, spawn_error="not-found").short
        == "exit 127, command not found"
    )
    assert command_reason(exit_code=126, spawn_error="not-executable").code == "not-executable"


def test_library_reasons() -> None:
    assert library_reason(exit_code=1, exception="ValueError: boom").short == "ValueError"
    assert library_reason(exit_code=4).code == "exit"
    stopped = library_reason(exit_code=143, stopped_by=signal.SIGTERM)
    assert stopped.code == "terminated"
    assert "SIGTERM" in stopped.sentence
    assert library_reason(exit_code=0, error_reported=True).code == "errors"


def test_durations_read_short_and_exact() -> None:
    assert [format_seconds(s) for s in (0.5, 1.25, 62, 3605)] == [
        "0.5s",
        "1.25s",
        "1m 2s",
        "1h 0m 5s",
    ]
    assert signal_name(64).startswith("SIG") or signal_name(64) == "signal 64"
