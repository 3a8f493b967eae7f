"""run.result: a wrapped command's RunResult from its wait status and the schedule, or from why
it never started. Pure: wait statuses are made with os.waitstatus's own encoding."""

from __future__ import annotations

import errno
import shlex
import signal

from hypothesis import given
from hypothesis import strategies as st

from lognotify.capture import Snapshot
from lognotify.outcome import Memory, RunResult
from lognotify.run.result import finished, joined, not_started, program
from lognotify.run.schedule import Schedule

ARGV = ["/usr/bin/etl", "--date", "2026-12-02"]


def _exited(code: int) -> int:
    return code << 8  # what waitpid gives for exit(code)


def _killed(signum: int) -> int:
    return signum  # what waitpid gives for a death by signum (no core)


def _schedule(timeout: float | None = None) -> Schedule:
    return Schedule(started=0.0, timeout=timeout, kill_grace=10.0, drain=0.5)


def _finished(
    status: int,
    schedule: Schedule,
    *,
    memory: Memory | None = None,
    timeout: float | None = None,
    stderr_seen: bool = False,
) -> RunResult:
    return finished(
        ARGV,
        status,
        schedule,
        started=10.0,
        ended=12.5,
        memory=memory or Memory(),
        timeout=timeout,
        stderr_seen=stderr_seen,
        output=Snapshot(),
    )


def test_an_exit_status_is_the_commands_own() -> None:
    result = _finished(_exited(3), _schedule())
    assert result.exit_code == 3
    assert result.reason.code == "exit"
    assert result.signal is None
    assert (result.started, result.ended) == (10.0, 12.5)
    assert result.command == "/usr/bin/etl --date 2026-12-02"
    assert result.program == "etl"


def test_a_death_by_signal_is_128_plus_n() -> None:
    result = _finished(_killed(signal.SIGKILL), _schedule())
    assert result.exit_code == 137
    assert result.signal == signal.SIGKILL
    assert result.reason.code == "signal"


def test_a_run_the_timeout_stopped_is_124_whatever_the_command_did() -> None:
    schedule = _schedule(timeout=30.0)
    schedule.timed_out = True
    result = _finished(_killed(signal.SIGTERM), schedule, timeout=30.0)
    assert result.exit_code == 124
    assert result.reason.code == "timeout"
    assert result.timed_out


def test_out_of_memory_comes_from_the_cgroup() -> None:
    memory = Memory(limit_bytes=64 << 20, peak_bytes=64 << 20, oom_killed=True)
    result = _finished(_killed(signal.SIGKILL), _schedule(), memory=memory)
    assert result.reason.code == "oom"
    assert "64 MiB" in result.reason.sentence


def test_a_success_that_wrote_to_stderr_is_errors() -> None:
    result = _finished(_exited(0), _schedule(), stderr_seen=True)
    assert result.exit_code == 0
    assert result.reason.code == "errors"


def test_a_command_not_found_is_127_and_one_not_executable_126() -> None:
    missing = not_started(
        ["nope"], FileNotFoundError(errno.ENOENT, "x"), started=1.0, ended=1.0, output=Snapshot()
    )
    assert (missing.exit_code, missing.reason.code) == (127, "not-found")
    denied = not_started(
        ["/etc"], PermissionError(errno.EACCES, "x"), started=1.0, ended=1.0, output=Snapshot()
    )
    assert (denied.exit_code, denied.reason.code) == (126, "not-executable")


@given(st.lists(st.text(max_size=12)))
def test_the_command_line_is_joined_as_shlex_joins_it(argv: list[str]) -> None:
    assert joined(argv) == shlex.join(argv)


def test_a_word_with_a_quote_or_a_space_is_quoted_for_a_shell() -> None:
    assert joined(["sh", "-c", "echo 'hi' $X", ""]) == "sh -c 'echo '\"'\"'hi'\"'\"' $X' ''"


def test_the_program_is_the_commands_base_name() -> None:
    assert program(["/usr/local/bin/dbt", "run"]) == "dbt"
    assert program([]) == ""
