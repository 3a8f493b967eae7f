"""The real program, end to end: its exit status is the command's own, signals reach the
command's whole group, SIGKILL follows the grace, and as PID 1 it reaps without losing the
command's status."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import time
from pathlib import Path

import pytest
from helpers import PYTHON, gone, lognotify_argv, outbox_messages, read_until, run, start, text_body

pytestmark = pytest.mark.timeout(90)


@pytest.mark.parametrize("status", [0, 1, 2, 3, 42, 255])
def test_exit_status_is_the_commands_own(status: int, env: dict[str, str], outbox: Path) -> None:
    done = run(["--", "sh", "-c", f"echo working; exit {status}"], env)
    assert done.returncode == status
    assert done.stdout == b"working\n"
    messages = outbox_messages(outbox)
    if status == 0:
        assert messages == []
    else:
        (message,) = messages
        assert message["X-Lognotify-Exit-Code"] == str(status)
        assert message["X-Lognotify-Status"] == "failure"
        assert message["X-Lognotify-Reason"] == "exit"
        assert f"(exit {status})" in message["Subject"]


@pytest.mark.parametrize("name", ["TERM", "INT", "HUP", "KILL"])
def test_killed_by_signal_exits_128_plus_n(name: str, env: dict[str, str], outbox: Path) -> None:
    number = getattr(signal, f"SIG{name}")
    done = run(["--", PYTHON, "-c", f"import os, signal; os.kill(os.getpid(), {int(number)})"], env)
    assert done.returncode == 128 + number
    (message,) = outbox_messages(outbox)
    assert message["X-Lognotify-Exit-Code"] == str(128 + number)
    # it killed itself: not through lognotify, so "signal", not "terminated" (contract additions)
    assert message["X-Lognotify-Reason"] == "signal"
    assert f"SIG{name}" in message["Subject"]
    assert f"SIG{name}" in text_body(message)


def test_command_not_found_exits_127_and_still_reports(env: dict[str, str], outbox: Path) -> None:
    done = run(["--", "no-such-command-anywhere", "--flag"], env)
    assert done.returncode == 127
    assert b"lognotify: command not found: no-such-command-anywhere" in done.stderr
    (message,) = outbox_messages(outbox)
    assert message["X-Lognotify-Exit-Code"] == "127"
    assert message["X-Lognotify-Reason"] == "not-found"
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
    assert message["X-Lognotify-Reason"] == "not-executable"


def test_timeout_stops_the_command_and_exits_124(env: dict[str, str], outbox: Path) -> None:
    began = time.monotonic()
    done = run(["--timeout", "1", "--", "sh", "-c", "echo started; sleep 30"], env)
    assert done.returncode == 124
    assert time.monotonic() - began < 10
    (message,) = outbox_messages(outbox)
    assert message["X-Lognotify-Exit-Code"] == "124"
    assert message["X-Lognotify-Reason"] == "timeout"
    assert "timed out after 1s" in message["Subject"]
    assert "stopped by --timeout after 1 s" in text_body(message)


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


def test_python_dash_m_is_the_same_program(env: dict[str, str], outbox: Path) -> None:
    done = subprocess.run(
        [PYTHON, "-m", "lognotify", "--", "sh", "-c", "echo x; exit 4"],
        env=env,
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 4
    assert done.stdout == b"x\n"
    assert len(outbox_messages(outbox)) == 1


# --- signals -------------------------------------------------------------------------------


def test_sigterm_reaches_the_command_and_its_grandchildren(
    tmp_path: Path, env: dict[str, str], outbox: Path
) -> None:
    pidfile = tmp_path / "sleep.pid"
    job = f"sleep 1000 & echo $! > {pidfile}; echo ready; wait"
    proc = start(["--", "sh", "-c", job], env, stdout=subprocess.PIPE)
    read_until(proc.stdout, b"ready")
    grandchild = int(pidfile.read_text())
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 143
    assert gone(grandchild), "the background sleep survived SIGTERM"
    (message,) = outbox_messages(outbox)
    assert message["X-Lognotify-Reason"] == "terminated"
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
    read_until(proc.stdout, b"ready")
    proc.send_signal(number)
    assert proc.wait(timeout=10) == 7
    assert f"got {number}".encode() in proc.stdout.read()  # type: ignore[union-attr]


@pytest.mark.parametrize("delay", [0.0, 0.002, 0.01, 0.03, 0.06, 0.1])
def test_sigterm_as_lognotify_starts_stops_the_command_too(
    delay: float, env: dict[str, str]
) -> None:
    # Whenever the signal lands (before our handlers, before the command exists, while it
    # runs), the run ends by SIGTERM: it is never held back and forgotten while the job runs
    # on. The pause is not there to order anything: it is where in start-up the signal lands.
    proc = start(["--", "sh", "-c", "sleep 5; echo finished"], env, stdout=subprocess.PIPE)
    time.sleep(delay)
    began = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=15)
    # Dead of it before Python had started (-15), or the command was (143).
    assert proc.returncode in (-signal.SIGTERM, 128 + signal.SIGTERM)
    assert b"finished" not in out
    assert time.monotonic() - began < 4


def test_a_signal_ignored_where_we_started_stays_ignored_but_reaches_a_handler(
    env: dict[str, str],
) -> None:
    # A script's `&` job starts with SIGINT ignored: the command inherits that, as it would
    # without us, and a handler it installs itself still gets a SIGINT sent to lognotify.
    job = (
        "import os, signal, time\n"
        "ignored = signal.getsignal(2) is signal.SIG_IGN\n"
        "print('inherited', 'ignored' if ignored else 'default', flush=True)\n"
        "signal.signal(2, lambda *a: os._exit(7))\n"
        "print('ready', flush=True)\n"
        "time.sleep(30)\n"
    )
    argv = shlex.join([*lognotify_argv(), "--", PYTHON, "-c", job])
    proc = subprocess.Popen(
        ["sh", "-c", f"trap '' INT; exec {argv}"], env=env, stdout=subprocess.PIPE
    )
    seen = read_until(proc.stdout, b"ready")
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=10) == 7
    assert b"inherited ignored" in seen
    proc.stdout.close()  # type: ignore[union-attr]


def test_a_command_ignoring_sigterm_is_killed_after_the_grace(
    env: dict[str, str], outbox: Path
) -> None:
    job = "trap '' TERM; echo ready; sleep 30"
    proc = start(["--kill-grace", "1", "--", "sh", "-c", job], env, stdout=subprocess.PIPE)
    read_until(proc.stdout, b"ready")
    began = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=15) == 128 + signal.SIGKILL
    assert 0.9 < time.monotonic() - began < 8
    (message,) = outbox_messages(outbox)
    assert message["X-Lognotify-Reason"] == "terminated"  # stays terminated, says SIGKILL
    assert "still running 1 s after SIGTERM; killed with SIGKILL" in text_body(message)


def test_a_leftover_ignoring_sigterm_is_killed_after_the_grace(
    tmp_path: Path, env: dict[str, str]
) -> None:
    pidfile = tmp_path / "leftover.pid"
    job = f"(trap '' TERM; exec sleep 60) & echo $! > {pidfile}; echo ready; wait"
    proc = start(["--kill-grace", "1", "--", "sh", "-c", job], env, stdout=subprocess.PIPE)
    read_until(proc.stdout, b"ready")
    leftover = int(pidfile.read_text())
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=15) == 143  # the shell itself died of SIGTERM
    assert gone(leftover), "what ignored SIGTERM was not killed after the grace"


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
        [
            PYTHON,
            "-c",
            NON_REAPING_SUBREAPER,
            *lognotify_argv(),
            "--notify-on",
            "never",
            "--timeout",
            "1",
            "--kill-grace",
            "10",
            "--",
            "sh",
            "-c",
            f"touch {tmp_path / 'started'}; sleep 30",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    status, seconds = done.stdout.split()
    assert int(status) == 124, done.stderr
    assert float(seconds) < 5, "lognotify waited out the kill grace for a zombie"


# --- PID 1 ---------------------------------------------------------------------------------

# Each child leaves an orphan behind and exits; the job then waits until every orphan has
# exited (on its pidfd) and has been reaped by PID 1 (gone from /proc), or 10 s have passed.
_ORPHANS_JOB = """\
import os, select, sys, time
orphans = []
for delay in ("0.1", "0.2", "0.3"):
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:
        orphan = os.fork()
        if orphan == 0:
            os.execvp("sleep", ["sleep", delay])
        os.write(write_end, str(orphan).encode())
        os._exit(0)
    os.close(write_end)
    orphans.append(int(os.read(read_end, 32)))
    os.waitpid(child, 0)              # the job reaps its own child; the orphan is PID 1's
deadline = time.monotonic() + 10
for pid in orphans:
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        continue
    select.select([fd], [], [], 10)   # it has exited: a zombie, unless PID 1 reaps it
    while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
        select.select([], [], [], 0.01)
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
        ["unshare", "--pid", "--fork", "--mount-proc", "true"], capture_output=True, check=False
    )
    return probe.returncode == 0


needs_pid_namespace = pytest.mark.skipif(
    not _can_unshare(), reason="needs root and unshare --pid (a PID namespace)"
)
UNSHARE = ["unshare", "--pid", "--fork", "--mount-proc"]


@needs_pid_namespace
def test_as_pid_1_orphans_are_reaped_and_the_status_is_kept(
    env: dict[str, str], outbox: Path
) -> None:
    done = subprocess.run(
        [*UNSHARE, *lognotify_argv(), "--", PYTHON, "-c", _ORPHANS_JOB],
        env=env,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 7, done.stderr
    lines = done.stdout.decode().splitlines()
    assert "zombies 0" in lines
    assert "lognotify" in lines[0], lines[0]  # PID 1 is lognotify itself
    (message,) = outbox_messages(outbox)
    assert message["X-Lognotify-Exit-Code"] == "7"


@needs_pid_namespace
def test_as_pid_1_a_quick_failure_is_never_mistaken_for_success(env: dict[str, str]) -> None:
    # The command and an orphan exit at once: a naive waitpid(-1) reaper could take the
    # command's status for an orphan's and report success.
    job = "(sleep 0 &); (sleep 0 &); exit 3"
    for _ in range(10):
        done = subprocess.run(
            [*UNSHARE, *lognotify_argv(), "--", "sh", "-c", job],
            env=env,
            capture_output=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 3


@needs_pid_namespace
def test_as_pid_1_sigterm_ends_at_once_when_nothing_is_left(
    env: dict[str, str], tmp_path: Path
) -> None:
    # sh dies of SIGTERM at once; its leftover exits half a second later and becomes PID 1's
    # zombie: that must not count as "still alive" and make lognotify wait out the grace.
    # The leftover says on a fifo when its handler is in place; only then is "ready" printed.
    fifo = tmp_path / "armed"
    os.mkfifo(fifo)
    leftover = (
        "import signal, sys, time; "
        "signal.signal(signal.SIGTERM, lambda *a: (time.sleep(0.5), sys.exit(0))); "
        f"open({str(fifo)!r}, 'w').write('armed'); "
        "time.sleep(300)"
    )
    job = f'{PYTHON} -c "{leftover}" & read armed < {fifo}; echo ready; wait'
    proc = subprocess.Popen(
        [*UNSHARE, *lognotify_argv(), "--kill-grace", "20", "--", "sh", "-c", job],
        env=env,
        stdout=subprocess.PIPE,
    )
    read_until(proc.stdout, b"ready")
    children = subprocess.run(
        ["pgrep", "-P", str(proc.pid)], capture_output=True, text=True, check=False
    )
    lognotify_pid = int(children.stdout.split()[0])
    began = time.monotonic()
    os.kill(lognotify_pid, signal.SIGTERM)
    assert proc.wait(timeout=30) == 143
    assert time.monotonic() - began < 5
