"""The real program, end to end: the command's output passes through byte for byte as it
arrives, and the report says what ran, where, and what it printed."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from helpers import (
    PYTHON,
    attachment,
    html_body,
    line_classes,
    lognotify_argv,
    outbox_messages,
    parse,
    read_until,
    run,
    start,
    text_body,
)

pytestmark = pytest.mark.timeout(90)


# --- passthrough ---------------------------------------------------------------------------

_BINARY_JOB = (
    "import os\n"
    "os.write(1, bytes(range(256)) + b'\\xff\\xfe invalid \\xc3\\x28 utf-8\\x00nul')\n"
    "os.write(2, b'to stderr \\x80\\x81 no newline')\n"
    "os.write(1, b'\\r50%\\r100%')\n"
)


def test_output_passes_through_byte_for_byte_and_streams_stay_apart(env: dict[str, str]) -> None:
    bare = subprocess.run([PYTHON, "-c", _BINARY_JOB], capture_output=True, env=env, check=False)
    wrapped = run(["--", PYTHON, "-c", _BINARY_JOB], env)
    assert wrapped.returncode == 0
    assert wrapped.stdout == bare.stdout
    assert wrapped.stdout.endswith(b"\r50%\r100%")
    assert wrapped.stderr == bare.stderr


def test_a_partial_line_is_forwarded_without_waiting_for_its_newline(env: dict[str, str]) -> None:
    job = (
        "import os, sys\n"
        "os.write(1, b'progress: 10%')\n"
        "sys.stdin.readline()\n"  # the job goes on when the test has seen the partial line
        "os.write(1, b' done\\n')\n"
    )
    proc = start(["--", PYTHON, "-c", job], env, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert read_until(proc.stdout, b"progress: 10%") == b"progress: 10%"
    out, _ = proc.communicate(b"go on\n", timeout=10)  # only now does the job go on
    assert proc.returncode == 0
    assert out == b" done\n"


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
        check=False,
    )
    assert done.stdout == b"y\nstatus=0\n"


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
        env=env,
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 3, done.stderr
    assert b"Traceback" not in done.stderr
    if stream != "stdout":
        assert done.stdout == b"to-stdout\n"
    (message,) = outbox_messages(outbox)
    assert message["X-Lognotify-Exit-Code"] == "3"
    assert "to-stdout" in text_body(message)
    assert "to-stderr" in text_body(message)


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
            env=env,
            stdout=full,
            stderr=subprocess.PIPE,
            timeout=30,
            check=False,
        )
    assert done.returncode == 3, done.stderr
    assert b"lognotify: cannot write to stdout (No space left on device)" in done.stderr
    assert b"Traceback" not in done.stderr
    (message,) = outbox_messages(outbox)
    assert "first" in text_body(message)
    assert "last" in text_body(message)


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
    assert "FIRST-LINE" in body
    assert "LAST-LINE" in body
    assert "omitted" in body
    found = attachment(message)
    assert found is not None
    log = found[1]
    assert log.startswith(b"FIRST-LINE\n")
    assert log.endswith(b"LAST-LINE\n")
    assert b"omitted" in log
    assert len(message.as_bytes()) < 2 * 1024 * 1024


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
    assert (
        message["Subject"]
        == "[lognotify] FAILED nightly-etl (exit 3) on nightly-etl-29001230-x7k2p"
    )
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
    for row in ("Started:", "Ended:", "Duration:", "Host:"):
        assert row in text
    assert "2 !: ERROR: db down" in text  # its number, the error mark, stderr's mark
    assert line_classes(html_body(message), "ERROR: db down") == {"error", "stderr"}


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
    assert message["X-Lognotify-Reason"] == "errors"
    assert run(["--notify-on", "error", "--", "true"], env).returncode == 0
    assert len(outbox_messages(outbox)) == 1


@pytest.mark.parametrize(
    ("notify_on", "status", "mails"),
    [("always", 0, 1), ("always", 1, 1), ("never", 1, 0), ("failure", 0, 0)],
)
def test_notify_on_decides_which_runs_are_reported(
    notify_on: str, status: int, mails: int, env: dict[str, str], outbox: Path
) -> None:
    env["LOGNOTIFY_NOTIFY_ON"] = notify_on
    assert run(["--", "sh", "-c", f"exit {status}"], env).returncode == status
    assert len(outbox_messages(outbox)) == mails


def test_dry_run_prints_the_report_after_the_output_and_sends_nothing(
    env: dict[str, str], outbox: Path
) -> None:
    done = run(["--dry-run", "--", "sh", "-c", "echo hello; exit 5"], env)
    assert done.returncode == 5
    assert done.stdout.startswith(b"hello\n")
    # What a person reads now (issue 10, point 20): the headers, the text body, then one line
    # for the HTML part and one for the attachment; --dry-run=mime gives the message as sent.
    shown = done.stdout[len(b"hello\n") :].decode()
    assert shown.startswith("Subject: [lognotify] FAILED sh (exit 5) on ")
    assert "\nX-Lognotify-Exit-Code: 5\n" in shown
    assert "\nFAILED sh: exited with status 5\n" in shown
    assert "1  | hello" in shown
    assert "[HTML part: " in shown
    assert "[attachment: sh-" in shown
    assert "base64" not in shown
    assert outbox_messages(outbox) == []


def test_dry_run_mime_prints_the_message_exactly_as_it_would_be_sent(
    env: dict[str, str], outbox: Path
) -> None:
    done = run(["--dry-run=mime", "--", "sh", "-c", "echo hello; exit 5"], env)
    assert done.returncode == 5
    message = parse(done.stdout[len(b"hello\n") :])
    assert message["X-Lognotify-Exit-Code"] == "5"
    assert "hello" in text_body(message)
    assert outbox_messages(outbox) == []


def test_test_email_without_an_smtp_host_fails_and_keeps_the_sample(
    env: dict[str, str], outbox: Path
) -> None:
    done = run(["--test-email"], env)
    assert done.returncode == 1
    assert b"no SMTP host set" in done.stderr
    (message,) = outbox_messages(outbox)
    assert message["X-Lognotify-Status"] == "test"
    assert message["X-Lognotify-Reason"] == "test"
