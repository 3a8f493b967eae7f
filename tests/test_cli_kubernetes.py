"""Kubernetes truth from inside the pod, end to end: why a run ended (out of memory, stopped
from outside, timeout), which attempt of how many, and the termination message."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import pytest
from cgroups import memory_cgroup
from helpers import clean_env, lognotify_argv, mail_to, outbox_messages, own_lines, run, text_body

MiB = 1 << 20
# Touches every page, so that the memory really is used: the kernel's OOM killer ends it.
HOG = (
    "b = bytearray(256 * 1024 * 1024)\nfor i in range(0, len(b), 4096): b[i] = 1\nprint('survived')"
)


def test_a_job_the_kernel_kills_for_memory_is_reported_as_out_of_memory(
    env: dict[str, str], outbox: Path
) -> None:
    with memory_cgroup(64 * MiB) as cgroup:
        argv = cgroup.argv([*lognotify_argv(), "--job-name", "etl", "--", "python3", "-c", HOG])
        done = subprocess.run(argv, env=env, capture_output=True, timeout=120, check=False)
    assert done.returncode == 137
    assert b"survived" not in done.stdout
    (message,) = outbox_messages(outbox)
    assert message["X-Lognotify-Reason"] == "oom"
    assert message["X-Lognotify-Exit-Code"] == "137"
    assert str(message["Subject"]).startswith("[lognotify] FAILED etl (out of memory) on ")
    text = text_body(message)
    assert "ran out of memory (limit 64 MiB, peak " in text
    # not mistaken for a job that ignored SIGTERM and was killed after the grace
    assert "kill_grace" not in text
    assert "after SIGTERM" not in text


def test_sigkill_from_someone_else_without_the_oom_counter_is_a_signal(
    env: dict[str, str], outbox: Path
) -> None:
    with memory_cgroup(512 * MiB) as cgroup:
        argv = cgroup.argv([*lognotify_argv(), "--", "sh", "-c", "kill -KILL $$"])
        done = subprocess.run(argv, env=env, capture_output=True, timeout=60, check=False)
    assert done.returncode == 137
    (message,) = outbox_messages(outbox)
    assert message["X-Lognotify-Reason"] == "signal"
    assert "(SIGKILL)" in str(message["Subject"])


def wait_for_line(proc: subprocess.Popen[bytes], line: bytes) -> None:
    assert proc.stdout is not None
    for got in proc.stdout:
        if got.rstrip(b"\n") == line:
            return
    raise AssertionError(f"{line!r} never came")


@pytest.mark.parametrize(
    "job", ["echo ready; sleep 30", "trap 'exit 0' TERM; echo ready; sleep 30 & wait"]
)
def test_sigterm_from_outside_is_terminated_whatever_the_status(
    env: dict[str, str], outbox: Path, job: str
) -> None:
    proc = subprocess.Popen(
        [*lognotify_argv(), "--job-name", "etl", "--", "sh", "-c", job],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    wait_for_line(proc, b"ready")
    proc.send_signal(signal.SIGTERM)
    _, _err = proc.communicate(timeout=30)
    (message,) = outbox_messages(outbox)
    assert message["X-Lognotify-Reason"] == "terminated"
    assert message["X-Lognotify-Status"] == "failure"  # even the trap that exits 0 did not finish
    assert "stopped from outside by SIGTERM (pod deleted, deadline or eviction)" in text_body(
        message
    )
    assert proc.returncode in (143, 0)  # the command's own status, either way
    assert message["X-Lognotify-Exit-Code"] == str(proc.returncode)


def test_a_command_that_outlives_the_grace_is_killed_and_the_report_says_so(
    env: dict[str, str], outbox: Path
) -> None:
    proc = subprocess.Popen(
        [
            *lognotify_argv(),
            "--kill-grace",
            "1",
            "--",
            "sh",
            "-c",
            "trap '' TERM; echo ready; while :; do sleep 1; done",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    wait_for_line(proc, b"ready")
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=30)
    assert proc.returncode == 137
    (message,) = outbox_messages(outbox)
    assert message["X-Lognotify-Reason"] == "terminated"
    assert "still running 1 s after SIGTERM; killed with SIGKILL" in text_body(message)


def test_the_timeout_is_its_own_reason(env: dict[str, str], outbox: Path) -> None:
    done = run(["--timeout", "0.5", "--", "sleep", "30"], env)
    assert done.returncode == 124
    (message,) = outbox_messages(outbox)
    assert message["X-Lognotify-Reason"] == "timeout"
    assert "stopped by --timeout after 0.5 s" in text_body(message)


@pytest.mark.parametrize(
    ("command", "reason"),
    [
        (["no-such-command-here"], "not-found"),
        (["/etc/hostname"], "not-executable"),
        (["sh", "-c", "exit 3"], "exit"),
        (["sh", "-c", "kill -SEGV $$"], "signal"),
    ],
)
def test_every_failure_carries_its_reason_header(
    env: dict[str, str], outbox: Path, command: list[str], reason: str
) -> None:
    run(["--", *command], env)
    (message,) = outbox_messages(outbox)
    assert message["X-Lognotify-Reason"] == reason


def test_success_and_errors_carry_their_reasons(env: dict[str, str], outbox: Path) -> None:
    run(["--notify-on", "always", "--", "true"], env)
    run(["--notify-on", "error", "--", "sh", "-c", "echo warning >&2"], env)
    reasons = sorted(str(message["X-Lognotify-Reason"]) for message in outbox_messages(outbox))
    assert reasons == ["errors", "success"]


def k8s(env: dict[str, str], failures: str, backoff: str = "2", **extra: str) -> dict[str, str]:
    return {
        **env,
        "LOGNOTIFY_K8S_FAILURES": failures,
        "LOGNOTIFY_K8S_BACKOFF_LIMIT": backoff,
        "LOGNOTIFY_K8S_JOB_NAME": "nightly-etl-29001230",
        **extra,
    }


def test_a_failed_attempt_kubernetes_will_retry_sends_nothing_and_says_so(
    env: dict[str, str], outbox: Path, tmp_path: Path
) -> None:
    log = tmp_path / "termination-log"
    log.write_text("")
    done = run(["--termination-log", str(log), "--", "sh", "-c", "exit 3"], k8s(env, "0"))
    assert done.returncode == 3
    assert not outbox.exists() or outbox_messages(outbox) == []
    (line,) = own_lines(done.stderr.decode())
    assert "Kubernetes will retry (attempt 1 of 3)" in line
    want = "lognotify: FAILED nightly-etl (exit 3); no report: "
    want += "Kubernetes will retry (attempt 1 of 3)"
    assert log.read_text() == want


def test_the_last_attempt_mails_and_says_which_it_was(env: dict[str, str], outbox: Path) -> None:
    run(["--", "sh", "-c", "exit 3"], k8s(env, "2"))
    (message,) = outbox_messages(outbox)
    assert message["X-Lognotify-Attempt"] == "3/3"
    assert "attempt 3 of 3" in text_body(message)


def test_under_every_each_attempt_mails_and_a_retried_one_says_will_retry(
    env: dict[str, str], outbox: Path
) -> None:
    run(["--notify-attempts", "every", "--", "sh", "-c", "exit 3"], k8s(env, "1"))
    (message,) = outbox_messages(outbox)
    assert message["X-Lognotify-Attempt"] == "2/3"
    assert "will retry" in str(message["Subject"])


def test_an_exit_status_the_policy_fails_the_job_on_is_final(
    env: dict[str, str], outbox: Path
) -> None:
    run(["--", "sh", "-c", "exit 2"], k8s(env, "0", LOGNOTIFY_K8S_FINAL_EXIT_CODES="2,124"))
    (message,) = outbox_messages(outbox)
    assert message["X-Lognotify-Attempt"] == "1/3"


def test_only_the_failures_known_gives_the_number_alone_and_only_the_limit_nothing(
    env: dict[str, str], outbox: Path
) -> None:
    run(["--job-name", "a", "--", "false"], {**env, "LOGNOTIFY_K8S_FAILURES": "1"})
    run(
        ["--job-name", "b", "--", "false"],
        {**env, "LOGNOTIFY_K8S_FAILURES": "", "LOGNOTIFY_K8S_BACKOFF_LIMIT": "2"},
    )
    by_job = {str(m["X-Lognotify-Job"]): m for m in outbox_messages(outbox)}
    assert by_job["a"]["X-Lognotify-Attempt"] == "2"
    assert by_job["b"]["X-Lognotify-Attempt"] is None


@pytest.mark.parametrize("value", ["x", "-1", "1.5", "²"])
def test_a_malformed_attempt_number_is_a_configuration_error(
    env: dict[str, str], tmp_path: Path, value: str
) -> None:
    marker = tmp_path / "ran"
    done = run(["--", "touch", str(marker)], {**env, "LOGNOTIFY_K8S_FAILURES": value})
    assert done.returncode == 2
    assert not marker.exists()
    assert "LOGNOTIFY_K8S_FAILURES" in done.stderr.decode()


def test_the_termination_message_names_the_report_sent(tmp_path: Path) -> None:
    from smtp_servers import Sink

    log = tmp_path / "termination-log"
    log.write_text("old")
    with Sink() as sink:
        env = clean_env(
            **mail_to(sink),
            LOGNOTIFY_TERMINATION_LOG=str(log),
        )
        done = run(["--job-name", "etl", "--", "sh", "-c", "exit 3"], env)
        (delivery,) = sink.messages
    assert done.returncode == 3
    assert (
        log.read_text()
        == f"lognotify: FAILED etl (exit 3); report sent {delivery.message['Message-ID']}"
    )


def test_the_termination_message_says_where_a_saved_report_is_and_is_redacted(
    env: dict[str, str], outbox: Path, tmp_path: Path
) -> None:
    log = tmp_path / "termination-log"
    log.write_text("")
    done = run(
        ["--job-name", "etl-hunter2secret", "--", "false"],
        {**env, "LOGNOTIFY_TERMINATION_LOG": str(log), "DB_PASSWORD": "hunter2secret"},
    )
    (saved,) = outbox.glob("*.eml")
    assert done.returncode == 1
    assert log.read_text() == f"lognotify: FAILED etl-[REDACTED] (exit 1); report saved {saved}"


def test_no_termination_message_for_a_success_or_where_the_file_is_missing(
    env: dict[str, str], tmp_path: Path
) -> None:
    log = tmp_path / "termination-log"
    log.write_text("before")
    run(["--termination-log", str(log), "--", "true"], env)
    assert log.read_text() == "before"
    missing = tmp_path / "missing"
    done = run(["--termination-log", str(missing), "--", "false"], env)
    assert done.returncode == 1
    assert not missing.exists()
