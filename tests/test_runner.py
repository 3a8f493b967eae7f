"""run_command() in-process: a real command, its output passed on to the descriptors given and
into the capture, and a RunResult that says how and why it ended.

The decisions (deadlines, signals, drain) are tested on their own in test_schedule.py; the
real program end to end in test_cli_exits.py and test_cli_output.py.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator

import pytest

from lognotify.capture import STDERR, STDOUT, Capture
from lognotify.run.runner import Ran, run_command

pytestmark = pytest.mark.timeout(60)


class Outputs:
    """Two pipes standing in for our stdout and stderr; what reached each, once closed."""

    def __init__(self) -> None:
        self.out_r, self.out_w = os.pipe()
        self.err_r, self.err_w = os.pipe()

    @property
    def fds(self) -> tuple[int, int]:
        return self.out_w, self.err_w

    def read(self) -> tuple[bytes, bytes]:
        os.close(self.out_w)
        os.close(self.err_w)
        return _drain(self.out_r), _drain(self.err_r)


def _drain(fd: int) -> bytes:
    data = b""
    while chunk := os.read(fd, 65536):
        data += chunk
    os.close(fd)
    return data


@pytest.fixture
def outputs() -> Iterator[Outputs]:
    pipes = Outputs()
    yield pipes
    for fd in (pipes.out_r, pipes.out_w, pipes.err_r, pipes.err_w):
        try:
            os.close(fd)
        except OSError:
            pass


def sh(script: str, outputs: Outputs, capture: Capture | None = None, **options: object) -> Ran:
    return run_command(["sh", "-c", script], capture or Capture(), outputs=outputs.fds, **options)  # type: ignore[arg-type]


def test_the_output_is_passed_on_byte_for_byte_and_captured_with_its_streams(
    outputs: Outputs,
) -> None:
    capture = Capture()
    ran = sh(
        "printf 'out 1\\n'; printf 'err 1\\n' >&2; printf 'out \\377\\n'; exit 3", outputs, capture
    )
    out, err = outputs.read()
    assert (out, err) == (b"out 1\nout \xff\n", b"err 1\n")
    result = ran.result
    assert (result.exit_code, result.reason.code, result.signal) == (3, "exit", None)
    assert result.command.startswith("sh -c 'printf ")  # shell-quoted, to run it again
    assert result.program == "sh"
    assert result.mode == "command"
    assert result.error_reported  # it wrote to stderr
    snapshot = result.output
    assert sorted(snapshot.data.splitlines()) == [b"err 1", b"out 1", b"out \xff"]
    assert snapshot.total_lines == 3
    assert {stream for _, stream in snapshot.head_marks} == {STDOUT, STDERR}
    assert result.started <= result.ended


@pytest.mark.parametrize(
    ("script", "stream"),
    [("printf 'no newline'; echo err >&2", 0), ("echo whole; printf 'half' >&2", 1)],
)
def test_where_the_output_ended_mid_line_is_said(
    script: str, stream: int, outputs: Outputs
) -> None:
    ran = sh(script, outputs)
    outputs.read()
    assert ran.mid_line == frozenset({outputs.fds[stream]})


def test_without_passthrough_nothing_is_passed_on_and_all_is_captured(outputs: Outputs) -> None:
    capture = Capture()
    ran = sh("echo out; echo err >&2", outputs, capture, passthrough=False)
    assert outputs.read() == (b"", b"")
    assert sorted(ran.result.output.data.splitlines()) == [b"err", b"out"]
    assert ran.mid_line == frozenset()


def test_a_success_that_wrote_to_stderr_reports_errors(outputs: Outputs) -> None:
    assert sh("echo warning >&2", outputs).result.reason.code == "errors"
    outputs.read()
    quiet = Outputs()
    assert sh("echo fine", quiet).result.reason.code == "success"
    quiet.read()


def test_a_command_killed_by_a_signal_is_128_plus_n_and_reason_signal(outputs: Outputs) -> None:
    result = sh("kill -KILL $$", outputs).result
    outputs.read()
    assert (result.exit_code, result.signal, result.reason.code) == (137, 9, "signal")
    assert result.reason.sentence == "killed by SIGKILL (killed)"


def test_the_timeout_stops_the_command_with_124(outputs: Outputs) -> None:
    result = sh("echo started; exec sleep 30", outputs, timeout=0.3).result
    out, _ = outputs.read()
    assert out == b"started\n"
    assert (result.exit_code, result.timed_out, result.timeout) == (124, True, 0.3)
    assert result.reason.code == "timeout"
    assert result.reason.sentence == "stopped by --timeout after 0.3 s"


def test_what_outlives_the_grace_after_the_timeout_gets_sigkill_and_the_report_says_so(
    outputs: Outputs,
) -> None:
    result = sh("trap '' TERM; exec sleep 30", outputs, timeout=0.2, kill_grace=0.3).result
    outputs.read()
    assert (result.exit_code, result.signal) == (124, signal.SIGKILL)
    assert result.reason.code == "timeout"  # stays timeout; the words say SIGKILL
    assert result.reason.sentence == (
        "stopped by --timeout after 0.2 s; still running 0.3 s after SIGTERM; killed with SIGKILL"
    )


def test_the_deadline_is_read_from_the_injected_clock(outputs: Outputs) -> None:
    # The clock jumps an hour ahead after the start: the 10 s timeout is due at once.
    readings = iter([0.0])
    result = run_command(
        ["sleep", "30"],
        Capture(),
        timeout=10,
        outputs=outputs.fds,
        clock=lambda: next(readings, 3600.0),
    ).result
    outputs.read()
    assert (result.exit_code, result.reason.code) == (124, "timeout")


def test_sigterm_sent_to_us_is_passed_on_and_the_run_was_terminated(outputs: Outputs) -> None:
    before = signal.getsignal(signal.SIGTERM)
    # The command itself sends SIGTERM to its parent (this process): as a pod deletion would.
    result = sh("kill -TERM $PPID; exec sleep 30", outputs).result
    outputs.read()
    assert (result.exit_code, result.signal) == (143, signal.SIGTERM)
    assert result.reason.code == "terminated"
    assert result.reason.short == "SIGTERM"
    assert signal.getsignal(signal.SIGTERM) is before  # put back as it was


def test_a_command_that_traps_sigterm_and_exits_0_was_still_terminated(outputs: Outputs) -> None:
    result = sh("trap 'exit 0' TERM; kill -TERM $PPID; sleep 30 & wait", outputs).result
    outputs.read()
    assert result.exit_code == 0
    assert result.reason.code == "terminated"  # it did not finish its work
    assert result.failed
    assert result.reason.sentence.endswith("; it then exited with status 0")


def test_signals_held_before_the_runner_started_reach_the_command(outputs: Outputs) -> None:
    early = [int(signal.SIGTERM)]
    result = run_command(["sleep", "30"], Capture(), early=early, outputs=outputs.fds).result
    outputs.read()
    assert result.exit_code == 128 + signal.SIGTERM
    assert result.signal == signal.SIGTERM
    assert early == []  # taken from the list: nothing can be added to it any more


@pytest.mark.parametrize(
    ("argv", "status", "code", "note"),
    [
        (
            ["no-such-command-anywhere"],
            127,
            "not-found",
            "command not found: no-such-command-anywhere",
        ),
        (["/etc"], 126, "not-executable", "cannot execute /etc: permission denied"),
    ],
)
def test_a_command_that_cannot_start_is_127_or_126_with_why(
    argv: list[str], status: int, code: str, note: str, outputs: Outputs
) -> None:
    ran = run_command(argv, Capture(), outputs=outputs.fds)
    outputs.read()
    assert (ran.result.exit_code, ran.result.reason.code, ran.result.note) == (status, code, note)
    assert ran.mid_line == frozenset()


def test_the_environment_given_is_the_commands_exactly(outputs: Outputs) -> None:
    env = {b"PATH": os.environb[b"PATH"], b"ODD": b"caf\xe9", b"EMPTY": b""}
    run_command(["env"], Capture(), env=env, outputs=outputs.fds)
    out, _ = outputs.read()
    assert sorted(out.splitlines()) == [b"EMPTY=", b"ODD=caf\xe9", b"PATH=" + env[b"PATH"]]


def test_an_output_that_cannot_be_written_is_said_once_and_still_captured() -> None:
    said: list[str] = []
    err_r, err_w = os.pipe()
    with open("/dev/full", "wb") as full:
        ran = run_command(
            ["sh", "-c", "echo first; echo second; exit 2"],
            Capture(),
            outputs=(full.fileno(), err_w),
            say=said.append,
        )
    os.close(err_w)
    _drain(err_r)
    assert said == [
        "cannot write to stdout (No space left on device); its output still goes into the report"
    ]
    assert ran.result.output.data == b"first\nsecond\n"
    assert ran.result.exit_code == 2
