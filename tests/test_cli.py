"""Wrapper mode end to end: the real program, real child processes, real signals."""

from __future__ import annotations

import os
import select
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import (
    line_classes,
    PYTHON,
    attachment,
    clean_env,
    html_body,
    lognotify_argv,
    outbox_messages,
    run,
    text_body,
)

from lognotify.capture import Capture
from lognotify.run.runner import run_command


def start(args: list[str], env: dict[str, str], **kwargs: object) -> subprocess.Popen[bytes]:
    return subprocess.Popen(  # type: ignore[call-overload, no-any-return]
        [*lognotify_argv(), *args], env=env, **kwargs
    )


def wait_for_line(stream: object, expected: bytes, timeout: float = 10) -> bytes:
    """Read ``stream`` until ``expected`` shows up; fail after ``timeout`` seconds."""
    fd = stream.fileno()  # type: ignore[attr-defined]
    seen = b""
    deadline = time.monotonic() + timeout
    while expected not in seen:
        left = deadline - time.monotonic()
        assert left > 0, f"never saw {expected!r}; got {seen!r}"
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            chunk = os.read(fd, 65536)
            assert chunk, f"EOF before {expected!r}; got {seen!r}"
            seen += chunk
    return seen


def gone(pid: int, timeout: float = 5) -> bool:
    """True once ``pid`` no longer runs (a zombie counts as gone)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return True
        if state in ("Z", "X"):
            return True
        time.sleep(0.02)
    return False


# --- exit status ---------------------------------------------------------------------------


@pytest.mark.parametrize("status", [0, 1, 2, 3, 42, 255])
def test_exit_status_is_the_commands_own(status: int, env: dict[str, str], outbox: Path) -> None:
    done = run(["--", "sh", "-c", f"echo working; exit {status}"], env)
    assert done.returncode == status
    assert done.stdout == b"working\n"
    messages = outbox_messages(outbox) if outbox.exists() else []
    if status == 0:
        assert messages == []
    else:
        (message,) = messages
        assert message["X-Lognotify-Exit-Code"] == str(status)
        assert message["X-Lognotify-Status"] == "failure"
        assert f"(exit {status})" in message["Subject"]


@pytest.mark.parametrize("name", ["TERM", "INT", "HUP", "KILL"])
def test_killed_by_signal_exits_128_plus_n(name: str, env: dict[str, str], outbox: Path) -> None:
    number = getattr(signal, f"SIG{name}")
    done = run(["--", PYTHON, "-c", f"import os, signal; os.kill(os.getpid(), {int(number)})"], env)
    assert done.returncode == 128 + number
    (message,) = outbox_messages(outbox)
    assert message["X-Lognotify-Exit-Code"] == str(128 + number)
    assert f"SIG{name}" in message["Subject"]
    assert f"SIG{name}" in text_body(message)


def test_command_not_found_exits_127_and_still_reports(env: dict[str, str], outbox: Path) -> None:
    done = run(["--", "no-such-command-anywhere", "--flag"], env)
    assert done.returncode == 127
    assert b"lognotify: command not found: no-such-command-anywhere" in done.stderr
    (message,) = outbox_messages(outbox)
    assert message["X-Lognotify-Exit-Code"] == "127"
    assert "command not found" in text_body(message)


def test_file_that_is_not_executable_exits_126(
    tmp_path: Path, env: dict[str, str], outbox: Path
) -> None:
    script = tmp_path / "job.sh"
    script.write_text("#!/bin/sh\necho never\n")
    script.chmod(0o644)
    done = run(["--", str(script)], env)
    assert done.returncode == 126
    assert done.stdout == b""
    assert b"permission denied" in done.stderr
    (message,) = outbox_messages(outbox)
    assert message["X-Lognotify-Exit-Code"] == "126"


def test_timeout_stops_the_command_and_exits_124(env: dict[str, str], outbox: Path) -> None:
    began = time.monotonic()
    done = run(["--timeout", "1", "--", "sh", "-c", "echo started; sleep 30"], env)
    assert done.returncode == 124
    assert time.monotonic() - began < 10
    (message,) = outbox_messages(outbox)
    assert message["X-Lognotify-Exit-Code"] == "124"
    assert "timed out after 1s" in message["Subject"]
    assert "timeout" in text_body(message)


def test_command_is_executed_directly_not_through_a_shell(env: dict[str, str]) -> None:
    done = run(["--", "echo", "$HOME", "*", "a;b"], env)
    assert done.stdout == b"$HOME * a;b\n"


@pytest.mark.parametrize(
    "args",
    [
        ["--notify-on", "never", "--", "echo", "--", "hi"],
        ["--notify-on", "never", "echo", "--", "hi"],  # no `--` of ours: that one is echo's
        ["echo", "--", "hi"],
    ],
    ids=["after-ours", "options-without-ours", "no-options"],
)
def test_a_double_dash_in_the_command_is_the_commands_own(
    args: list[str], env: dict[str, str]
) -> None:
    done = run(args, env)
    assert (done.returncode, done.stdout) == (0, b"-- hi\n")


def test_configuration_error_exits_2_before_starting_anything(
    tmp_path: Path, env: dict[str, str]
) -> None:
    marker = tmp_path / "started"
    env["LOGNOTIFY_SMTP_PORT"] = "not-a-port"
    done = run(["--", "touch", str(marker)], env)
    assert done.returncode == 2
    assert not marker.exists()
    lines = done.stderr.decode().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("lognotify: LOGNOTIFY_SMTP_PORT")


# --- signals -------------------------------------------------------------------------------


def test_sigterm_reaches_the_command_and_its_grandchildren(
    tmp_path: Path, env: dict[str, str], outbox: Path
) -> None:
    pidfile = tmp_path / "sleep.pid"
    job = f"sleep 1000 & echo $! > {pidfile}; echo ready; wait"
    proc = start(["--", "sh", "-c", job], env, stdout=subprocess.PIPE)
    wait_for_line(proc.stdout, b"ready")
    grandchild = int(pidfile.read_text())
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 143
    assert gone(grandchild), "the background sleep survived SIGTERM"
    (message,) = outbox_messages(outbox)
    assert "SIGTERM" in text_body(message)


@pytest.mark.parametrize("name", ["INT", "HUP", "QUIT", "USR1", "USR2"])
def test_other_signals_are_passed_on_to_the_command(name: str, env: dict[str, str]) -> None:
    number = int(getattr(signal, f"SIG{name}"))
    job = (
        "import os, signal, time\n"
        f"signal.signal({number}, lambda *a: (os.write(1, b'got {number}'), os._exit(7)))\n"
        "os.write(1, b'ready')\n"
        "time.sleep(30)\n"
    )
    proc = start(["--", PYTHON, "-c", job], env, stdout=subprocess.PIPE)
    wait_for_line(proc.stdout, b"ready")
    proc.send_signal(number)
    assert proc.wait(timeout=10) == 7
    assert f"got {number}".encode() in proc.stdout.read()  # type: ignore[union-attr]


@pytest.mark.parametrize("delay", [0.0, 0.002, 0.01, 0.03, 0.06, 0.1])
def test_sigterm_as_lognotify_starts_stops_the_command_too(delay: float, env: dict[str, str]) -> None:
    # Whenever the signal lands (before our handlers, before the command exists, while it
    # runs), the run ends by SIGTERM: it is never held back and forgotten while the job runs on.
    proc = start(["--", "sh", "-c", "sleep 5; echo finished"], env, stdout=subprocess.PIPE)
    time.sleep(delay)
    began = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=15)
    # Dead of it before Python had started (-15), or the command was (143).
    assert proc.returncode in (-signal.SIGTERM, 128 + signal.SIGTERM)
    assert b"finished" not in out
    assert time.monotonic() - began < 4


def test_signals_held_before_the_runner_started_reach_the_command() -> None:
    early = [int(signal.SIGTERM)]
    result = run_command(["sleep", "30"], Capture(), early=early).result
    assert result.exit_code == 128 + signal.SIGTERM and result.signal == signal.SIGTERM
    assert early == []


def test_a_signal_ignored_where_we_started_stays_ignored_but_reaches_a_handler(
    env: dict[str, str],
) -> None:
    # A script's `&` job starts with SIGINT ignored: the command inherits that, as it would
    # without us, and a handler it installs itself still gets a SIGINT sent to lognotify.
    job = (
        "import os, signal, time\n"
        "print('inherited', 'ignored' if signal.getsignal(2) is signal.SIG_IGN else 'default', flush=True)\n"
        "signal.signal(2, lambda *a: os._exit(7))\n"
        "print('ready', flush=True)\n"
        "time.sleep(30)\n"
    )
    argv = shlex.join([*lognotify_argv(), "--", PYTHON, "-c", job])
    proc = subprocess.Popen(["sh", "-c", f"trap '' INT; exec {argv}"], env=env, stdout=subprocess.PIPE)
    seen = wait_for_line(proc.stdout, b"ready")
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=10) == 7
    assert b"inherited ignored" in seen
    proc.stdout.close()  # type: ignore[union-attr]


def test_a_command_ignoring_sigterm_is_killed_after_the_grace(env: dict[str, str]) -> None:
    job = "trap '' TERM; echo ready; sleep 30"
    proc = start(["--kill-grace", "1", "--", "sh", "-c", job], env, stdout=subprocess.PIPE)
    wait_for_line(proc.stdout, b"ready")
    began = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=15) == 128 + signal.SIGKILL
    assert 0.9 < time.monotonic() - began < 8


def test_a_leftover_ignoring_sigterm_is_killed_after_the_grace(
    tmp_path: Path, env: dict[str, str]
) -> None:
    pidfile = tmp_path / "leftover.pid"
    job = f"(trap '' TERM; exec sleep 60) & echo $! > {pidfile}; echo ready; wait"
    proc = start(["--kill-grace", "1", "--", "sh", "-c", job], env, stdout=subprocess.PIPE)
    wait_for_line(proc.stdout, b"ready")
    leftover = int(pidfile.read_text())
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=15) == 143  # the shell itself died of SIGTERM
    assert gone(leftover), "what ignored SIGTERM was not killed after the grace"


# --- closed or failing standard streams --------------------------------------------------------


@pytest.mark.parametrize(
    ("redirect", "stream"),
    [(">&-", "stdout"), ("2>&-", "stderr"), ("<&-", "stdin")],
)
def test_a_closed_standard_stream_changes_neither_the_status_nor_the_report(
    redirect: str, stream: str, env: dict[str, str], outbox: Path
) -> None:
    argv = " ".join(f"'{word}'" for word in lognotify_argv())
    job = "echo to-stdout; echo to-stderr >&2; exit 3"
    done = subprocess.run(
        ["sh", "-c", f"exec {argv} -- sh -c '{job}' {redirect}"],
        env=env, capture_output=True, timeout=30,
    )
    assert done.returncode == 3, done.stderr
    assert b"Traceback" not in done.stderr
    if stream != "stdout":
        assert done.stdout == b"to-stdout\n"
    (message,) = outbox_messages(outbox)
    assert message["X-Lognotify-Exit-Code"] == "3"
    assert "to-stdout" in text_body(message) and "to-stderr" in text_body(message)


def test_our_own_lines_never_glue_onto_a_last_line_without_newline(env: dict[str, str]) -> None:
    job = "printf 'partial err' >&2; printf 'partial out'; exit 1"
    done = run(["--", "sh", "-c", job], env)
    assert done.returncode == 1
    assert done.stdout == b"partial out"
    assert done.stderr.startswith(b"partial err\nlognotify: ")
    dry = run(["--dry-run", "--", "sh", "-c", job], env)
    assert dry.stdout.startswith(b"partial out\nSubject: [lognotify] FAILED sh (exit 1)")


def test_a_full_stdout_leaves_the_command_running_and_its_output_in_the_report(
    env: dict[str, str], outbox: Path
) -> None:
    with open("/dev/full", "wb") as full:
        done = subprocess.run(
            [*lognotify_argv(), "--", "sh", "-c", "echo first; sleep 0.2; echo last; exit 3"],
            env=env, stdout=full, stderr=subprocess.PIPE, timeout=30,
        )
    assert done.returncode == 3, done.stderr
    assert b"lognotify: cannot write to stdout (No space left on device)" in done.stderr
    assert b"Traceback" not in done.stderr
    (message,) = outbox_messages(outbox)
    assert "first" in text_body(message) and "last" in text_body(message)


# --- passthrough ---------------------------------------------------------------------------

_BINARY_JOB = (
    "import os\n"
    "os.write(1, bytes(range(256)) + b'\\xff\\xfe invalid \\xc3\\x28 utf-8\\x00nul')\n"
    "os.write(2, b'to stderr \\x80\\x81 no newline')\n"
    "os.write(1, b'\\r50%\\r100%')\n"
)


def test_output_passes_through_byte_for_byte_and_streams_stay_apart(
    env: dict[str, str],
) -> None:
    bare = subprocess.run([PYTHON, "-c", _BINARY_JOB], capture_output=True, env=env)
    wrapped = run(["--", PYTHON, "-c", _BINARY_JOB], env)
    assert wrapped.returncode == 0
    assert wrapped.stdout == bare.stdout
    assert wrapped.stdout.endswith(b"\r50%\r100%")
    assert wrapped.stderr == bare.stderr


def test_a_partial_line_is_forwarded_without_waiting_for_its_newline(
    tmp_path: Path, env: dict[str, str]
) -> None:
    go_on = tmp_path / "go-on"
    job = (
        "import os, time\n"
        "os.write(1, b'progress: 10%')\n"
        f"while not os.path.exists({str(go_on)!r}): time.sleep(0.02)\n"
        "os.write(1, b' done\\n')\n"
    )
    proc = start(["--", PYTHON, "-c", job], env, stdout=subprocess.PIPE)
    try:
        assert wait_for_line(proc.stdout, b"progress: 10%", timeout=10) == b"progress: 10%"
    finally:
        go_on.touch()
    assert proc.wait(timeout=10) == 0
    assert proc.stdout.read() == b" done\n"  # type: ignore[union-attr]


def test_stdin_is_passed_to_the_command(env: dict[str, str]) -> None:
    done = run(["--", "cat"], env, input=b"from stdin\x00\xff")
    assert done.stdout == b"from stdin\x00\xff"


def test_a_closed_reader_gives_the_command_a_broken_pipe(env: dict[str, str]) -> None:
    lognotify = " ".join(f"'{word}'" for word in lognotify_argv())
    done = subprocess.run(
        ["sh", "-c", f"{lognotify} -- yes | head -n 1; echo status=$?"],
        capture_output=True,
        env=env,
        timeout=30,
    )
    assert done.stdout == b"y\nstatus=0\n"


# Spawns lognotify and reports its peak RSS. Measured from a small process on purpose: at
# exec, Linux counts the parent's memory into the child's ru_maxrss, and pytest is large.
_PEAK_RSS = """\
import os, sys
pid = os.posix_spawn(sys.argv[1], sys.argv[1:], os.environ)
_, status, usage = os.wait4(pid, 0)
sys.stderr.write(f"peak-rss-kib {usage.ru_maxrss} status {os.waitstatus_to_exitcode(status)}\\n")
"""


@pytest.mark.slow
def test_a_gigabyte_passes_through_in_bounded_memory(env: dict[str, str], outbox: Path) -> None:
    job = (
        "echo FIRST-LINE; yes 'INFO etl: processed record 12345 of batch 42' | head -c 1000000000;"
        " echo; echo LAST-LINE; exit 1"
    )
    proc = subprocess.Popen(
        [PYTHON, "-c", _PEAK_RSS, *lognotify_argv(), "--", "sh", "-c", job],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    total = 0
    while chunk := proc.stdout.read1(1 << 20):  # type: ignore[union-attr]
        total += len(chunk)
    stderr = proc.stderr.read().decode()  # type: ignore[union-attr]
    assert proc.wait(timeout=60) == 0
    assert total == len(b"FIRST-LINE\n") + 1_000_000_000 + len(b"\nLAST-LINE\n")
    peak_kib, status = (int(word) for word in stderr.split("peak-rss-kib ")[1].split(" status "))
    assert status == 1
    # 1 GB through it, and the report made: the benchmark holds the passthrough alone to 32 MiB
    assert peak_kib / 1024 < 48, f"peak RSS {peak_kib / 1024:.1f} MiB"
    (message,) = outbox_messages(outbox)
    body = text_body(message)
    assert "FIRST-LINE" in body and "LAST-LINE" in body
    assert "omitted" in body
    name, log = attachment(message)  # type: ignore[misc]
    assert log.startswith(b"FIRST-LINE\n") and log.endswith(b"LAST-LINE\n")
    assert b"omitted" in log
    assert len(message.as_bytes()) < 2 * 1024 * 1024


# --- PID 1 ---------------------------------------------------------------------------------

_ORPHANS_JOB = """\
import os, sys, time
for delay in ("0.1", "0.2", "0.3"):
    child = os.fork()
    if child == 0:                # a child that leaves an orphan behind and exits
        if os.fork() == 0:
            os.execvp("sleep", ["sleep", delay])
        os._exit(0)
    os.waitpid(child, 0)          # the job reaps its own child; the orphan is PID 1's
time.sleep(1.5)                   # the orphans have exited: zombies, unless PID 1 reaps them
zombies = []
for pid in os.listdir("/proc"):
    if pid.isdigit():
        try:
            stat = open(f"/proc/{pid}/stat").read()
        except OSError:
            continue
        if stat.rsplit(")", 1)[1].split()[0] == "Z":
            zombies.append(pid)
print("pid1-is", open("/proc/1/cmdline").read().replace("\\0", " "))
print("zombies", len(zombies), flush=True)
sys.exit(7)
"""


def _can_unshare() -> bool:
    if os.geteuid() != 0:
        return False
    probe = subprocess.run(
        ["unshare", "--pid", "--fork", "--mount-proc", "true"], capture_output=True
    )
    return probe.returncode == 0


@pytest.mark.skipif(not _can_unshare(), reason="needs root and unshare --pid (a PID namespace)")
def test_as_pid_1_orphans_are_reaped_and_the_status_is_kept(
    env: dict[str, str], outbox: Path
) -> None:
    done = subprocess.run(
        ["unshare", "--pid", "--fork", "--mount-proc", *lognotify_argv(), "--", PYTHON, "-c", _ORPHANS_JOB],
        env=env,
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == 7, done.stderr
    lines = done.stdout.decode().splitlines()
    assert "zombies 0" in lines
    assert "lognotify" in lines[0], lines[0]  # PID 1 is lognotify itself
    (message,) = outbox_messages(outbox)
    assert message["X-Lognotify-Exit-Code"] == "7"


@pytest.mark.skipif(not _can_unshare(), reason="needs root and unshare --pid (a PID namespace)")
def test_as_pid_1_a_quick_failure_is_never_mistaken_for_success(env: dict[str, str]) -> None:
    # The command and an orphan exit at once: a naive waitpid(-1) reaper could take the
    # command's status for an orphan's and report success.
    job = "(sleep 0 &); (sleep 0 &); exit 3"
    for _ in range(10):
        done = subprocess.run(
            ["unshare", "--pid", "--fork", "--mount-proc", *lognotify_argv(), "--", "sh", "-c", job],
            env=env,
            capture_output=True,
            timeout=60,
        )
        assert done.returncode == 3


# --- the report of a command ---------------------------------------------------------------


def test_report_describes_the_command_and_where_it_ran(env: dict[str, str], outbox: Path) -> None:
    env.update(
        LOGNOTIFY_POD_NAME="nightly-etl-29001230-x7k2p",
        LOGNOTIFY_POD_NAMESPACE="batch",
        LOGNOTIFY_NODE_NAME="node-3",
        LOGNOTIFY_K8S_JOB_NAME="nightly-etl-29001230",
    )
    done = run(["--", "sh", "-c", "echo loading; echo 'ERROR: db down' >&2; exit 3"], env)
    assert done.returncode == 3
    (message,) = outbox_messages(outbox)
    assert message["Subject"] == "[lognotify] FAILED nightly-etl (exit 3) on nightly-etl-29001230-x7k2p"
    assert message["X-Lognotify-Job"] == "nightly-etl"
    for body in (text_body(message), html_body(message)):
        for expected in (
            "nightly-etl-29001230-x7k2p",
            "batch",
            "node-3",
            "nightly-etl-29001230",
            "kubectl logs -n batch nightly-etl-29001230-x7k2p",
            "kubectl describe job -n batch nightly-etl-29001230",
            "sh -c",
            "loading",
            "ERROR: db down",
        ):
            assert expected in body, expected
    text = text_body(message)
    assert "Started:" in text and "Ended:" in text and "Duration:" in text and "Host:" in text
    assert {"error", "stderr"} <= line_classes(html_body(message), "ERROR: db down")


def test_job_name_defaults_to_the_commands_basename(env: dict[str, str], outbox: Path) -> None:
    run(["--", "/bin/sh", "-c", "exit 1"], env)
    (message,) = outbox_messages(outbox)
    assert message["X-Lognotify-Job"] == "sh"


def test_notify_on_error_reports_a_success_that_wrote_to_stderr(
    env: dict[str, str], outbox: Path
) -> None:
    done = run(["--notify-on", "error", "--", "sh", "-c", "echo warning >&2"], env)
    assert done.returncode == 0
    (message,) = outbox_messages(outbox)
    assert message["X-Lognotify-Status"] == "success"
    assert message["X-Lognotify-Exit-Code"] == "0"
    assert run(["--notify-on", "error", "--", "true"], env).returncode == 0
    assert len(outbox_messages(outbox)) == 1


@pytest.mark.parametrize(("notify_on", "status", "mails"), [
    ("always", 0, 1), ("always", 1, 1), ("never", 1, 0), ("failure", 0, 0),
])
def test_notify_on(notify_on: str, status: int, mails: int, env: dict[str, str], outbox: Path) -> None:
    env["LOGNOTIFY_NOTIFY_ON"] = notify_on
    assert run(["--", "sh", "-c", f"exit {status}"], env).returncode == status
    assert len(outbox_messages(outbox) if outbox.exists() else []) == mails


def test_dry_run_prints_the_report_after_the_output_and_sends_nothing(
    env: dict[str, str], outbox: Path
) -> None:
    done = run(["--dry-run", "--", "sh", "-c", "echo hello; exit 5"], env)
    assert done.returncode == 5
    assert done.stdout.startswith(b"hello\n")
    from helpers import parse

    message = parse(done.stdout[len(b"hello\n") :])
    assert message["X-Lognotify-Exit-Code"] == "5"
    assert "hello" in text_body(message)
    assert not outbox.exists() or not list(outbox.iterdir())


def test_version_and_help(env: dict[str, str]) -> None:
    version = run(["--version"], env)
    assert version.returncode == 0 and version.stdout.startswith(b"lognotify ")
    helped = run(["--help"], env)
    assert helped.returncode == 0
    for flag in ("--to", "--smtp-password-file", "--kill-grace", "--test-email", "--dry-run", "examples:"):
        assert flag.encode() in helped.stdout


def test_test_email_without_an_smtp_host_fails_and_keeps_the_sample(
    env: dict[str, str], outbox: Path
) -> None:
    done = run(["--test-email"], env)
    assert done.returncode == 1
    assert b"no SMTP host set" in done.stderr
    (message,) = outbox_messages(outbox)
    assert message["X-Lognotify-Status"] == "test"


def test_no_command_is_a_usage_error(env: dict[str, str]) -> None:
    done = run([], env)
    assert done.returncode == 2
    assert done.stderr.startswith(b"lognotify: no command given")


def test_python_dash_m_is_the_same_program(env: dict[str, str], outbox: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "lognotify", "--", "sh", "-c", "echo x; exit 4"],
        env=env,
        capture_output=True,
        timeout=30,
    )
    assert done.returncode == 4 and done.stdout == b"x\n"
    assert len(outbox_messages(outbox)) == 1


@pytest.mark.skipif(not _can_unshare(), reason="needs root and unshare --pid (a PID namespace)")
def test_as_pid_1_sigterm_ends_at_once_when_nothing_is_left(env: dict[str, str]) -> None:
    # sh dies of SIGTERM at once; its leftover exits half a second later and becomes PID 1's
    # zombie: that must not count as "still alive" and make lognotify wait out the grace.
    leftover = (
        "import signal, sys, time; "
        "signal.signal(signal.SIGTERM, lambda *a: (time.sleep(0.5), sys.exit(0))); "
        "time.sleep(300)"
    )
    proc = subprocess.Popen(
        ["unshare", "--pid", "--fork", "--mount-proc", *lognotify_argv(), "--kill-grace", "20",
         "--", "sh", "-c", f"{PYTHON} -c '{leftover}' & sleep 0.5; echo ready; wait"],
        env=env,
        stdout=subprocess.PIPE,
    )
    wait_for_line(proc.stdout, b"ready")
    lognotify_pid = int(
        subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True).stdout.split()[0]
    )
    began = time.monotonic()
    os.kill(lognotify_pid, signal.SIGTERM)
    assert proc.wait(timeout=30) == 143
    assert time.monotonic() - began < 5


NON_REAPING_SUBREAPER = """
import ctypes, os, sys, time
ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER: orphans below become ours
began = time.monotonic()
pid = os.posix_spawn(sys.argv[1], sys.argv[1:], os.environ)
_, status = os.waitpid(pid, 0)  # ... and are never reaped: they stay zombies
print(os.waitstatus_to_exitcode(status), time.monotonic() - began)
"""


def test_zombies_left_to_another_reaper_do_not_hold_lognotify_for_the_grace(
    env: dict[str, str], tmp_path: Path
) -> None:
    # sh and its sleep both die of the timeout's SIGTERM; the sleep, orphaned, becomes a zombie
    # of a parent that never reaps it, and killpg() still finds it in the command's group.
    done = subprocess.run(
        [PYTHON, "-c", NON_REAPING_SUBREAPER, *lognotify_argv(), "--notify-on", "never",
         "--timeout", "1", "--kill-grace", "10",
         "--", "sh", "-c", f"touch {tmp_path / 'started'}; sleep 30"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    status, seconds = done.stdout.split()
    assert int(status) == 124, done.stderr
    assert float(seconds) < 5, "lognotify waited out the kill grace for a zombie"
