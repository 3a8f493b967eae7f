"""SIGTERM and SIGINT in capture_and_notify blocks: SIGTERM ends the block with SystemExit(143)
so that `finally` runs; a handler that was there comes back on leaving, an ignored signal stays
ignored; a signal while the report goes out waits for it, then ends the process as it asked.

Every test runs a small job script in a real Python process; it is signalled once it has said
(on a pipe) that it is where the test wants it, or once the server has the report's body.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from helpers import (
    library_env,
    own_lines,
    read_until,
    run_job,
    started_job,
    text_body,
    the_mail,
    write_job,
)
from smtp_servers import ScriptedServer, Sink

pytestmark = pytest.mark.timeout(60)

SIGTERM_EXIT = 128 + signal.SIGTERM


def test_sigterm_interrupts_the_block_runs_finally_and_exits_143(
    tmp_path: Path, smtp_sink: Sink
) -> None:
    marker = tmp_path / "cleaned-up"
    script = write_job(
        tmp_path,
        f"""
        with capture_and_notify(job_name="sync"):
            try:
                log.info("syncing")
                print("ready", flush=True)
                time.sleep(30)
            finally:
                Path({str(marker)!r}).write_text("finally ran")
                log.info("cleaned up")
        """,
    )
    with started_job(script, library_env(tmp_path, smtp_sink)) as proc:
        early = read_until(proc.stdout, "ready").decode()
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
    out = early + out

    assert proc.returncode == SIGTERM_EXIT
    assert marker.read_text() == "finally ran"
    assert "INFO etl: cleaned up" in out
    assert "Traceback" not in err
    assert own_lines(err) == ["lognotify: report sent to ops@example.com"]
    mail = the_mail(smtp_sink)
    assert mail["X-Lognotify-Status"] == "failure"
    assert mail["X-Lognotify-Exit-Code"] == "143"
    assert mail["X-Lognotify-Reason"] == "terminated"
    assert mail["Subject"].startswith("[lognotify] FAILED sync (SIGTERM) on ")
    text = text_body(mail)
    # The redesign's words for "terminated by SIGTERM": who stops a pod, and how it ended.
    assert text.startswith("FAILED sync: stopped from outside by SIGTERM (pod deleted, deadline")
    assert "[terminated]" in text
    assert "INFO etl: cleaned up" in text


def test_the_previous_sigterm_handler_is_restored_on_leaving(tmp_path: Path) -> None:
    script = write_job(
        tmp_path,
        """
        def mine(signum, frame):
            print("my handler", flush=True)

        signal.signal(signal.SIGTERM, mine)
        with capture_and_notify():
            print("replaced inside:", signal.getsignal(signal.SIGTERM) is not mine)
        print("restored after success:", signal.getsignal(signal.SIGTERM) is mine)
        try:
            with capture_and_notify():
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(10)
        except SystemExit as exc:
            print("block ended with SystemExit", exc.code)
        print("restored after SIGTERM:", signal.getsignal(signal.SIGTERM) is mine)
        try:
            with capture_and_notify():
                raise RuntimeError("boom")
        except RuntimeError:
            pass
        print("restored after an exception:", signal.getsignal(signal.SIGTERM) is mine)
        os.kill(os.getpid(), signal.SIGTERM)  # its handler runs as soon as kill() returns
        print("after the last SIGTERM", flush=True)
        """,
    )
    result = run_job(script, library_env(tmp_path, notify_on="never"))

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "replaced inside: True",
        "restored after success: True",
        "block ended with SystemExit 143",
        "restored after SIGTERM: True",
        "restored after an exception: True",
        "my handler",
        "after the last SIGTERM",
    ]


def test_a_process_that_ignores_sigterm_keeps_ignoring_it_in_the_block(
    tmp_path: Path, smtp_sink: Sink
) -> None:
    script = write_job(
        tmp_path,
        """
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        with capture_and_notify(notify_on="always"):
            print("ready", flush=True)
            sys.stdin.readline()
            log.info("still running after SIGTERM")
        print("ignored after:", signal.getsignal(signal.SIGTERM) is signal.SIG_IGN, flush=True)
        """,
    )
    with started_job(script, library_env(tmp_path, smtp_sink)) as proc:
        read_until(proc.stdout, "ready")
        # An ignored signal is dropped as it is sent; one that a handler took would be pending
        # by the time kill() returns, and would end the block before it reads the next line.
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate("go\n", timeout=30)

    assert proc.returncode == 0, err
    assert "ignored after: True" in out
    mail = the_mail(smtp_sink)
    assert mail["X-Lognotify-Status"] == "success"
    assert "still running after SIGTERM" in text_body(mail)


@pytest.mark.parametrize(
    ("body", "notify_on", "mailed_exit_code"),
    [
        (
            """
            with capture_and_notify(notify_on="failure"):
                log.info("about to fail")
                raise RuntimeError("the real failure")
            """,
            "failure",
            "1",
        ),
        (
            # The caller catches the job's exception and carries on: the SIGTERM must not be lost.
            """
            try:
                with capture_and_notify():
                    log.info("about to fail")
                    raise RuntimeError("the real failure")
            except RuntimeError:
                print("carrying on", flush=True)
                time.sleep(30)
            """,
            "failure",
            "1",
        ),
        (
            """
            with capture_and_notify():
                log.info("all fine")
            """,
            "always",
            "0",
        ),
    ],
    ids=["failing-job", "exception-caught-by-the-caller", "successful-job"],
)
def test_sigterm_during_delivery_lets_the_report_go_out_then_exits_143(
    tmp_path: Path,
    smtp_scripted: Callable[..., ScriptedServer],
    body: str,
    notify_on: str,
    mailed_exit_code: str,
) -> None:
    # The first DATA is never answered: that attempt times out after 2 s and the retry
    # succeeds, so the report is being delivered for a few seconds.
    server = smtp_scripted(stall_data_times=1)
    script = write_job(tmp_path, body)
    env = library_env(
        tmp_path, server, smtp_timeout="2", delivery_timeout="20", notify_on=notify_on
    )
    started = time.monotonic()
    with started_job(script, env) as proc:
        server.wait_for_received(1, timeout=10)  # the report is on its way: a body is in
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    elapsed = time.monotonic() - started

    assert proc.returncode == SIGTERM_EXIT, err
    assert elapsed < 20  # within the delivery deadline
    assert "carrying on" not in out
    (delivery,) = server.messages
    assert delivery.message["X-Lognotify-Exit-Code"] == mailed_exit_code
    (line,) = own_lines(err)
    assert "report sent" in line
    assert "2 attempts" in line
    if mailed_exit_code == "1":
        assert "RuntimeError: the real failure" in text_body(delivery.message)
        assert "RuntimeError: the real failure" in err  # the job's traceback is still shown


def test_sigint_during_delivery_lets_the_report_go_out_then_interrupts(
    tmp_path: Path, smtp_scripted: Callable[..., ScriptedServer]
) -> None:
    # The first DATA is never answered: that attempt times out after 2 s and the retry
    # succeeds. Ctrl-C meanwhile must not replace the job's exception by a KeyboardInterrupt
    # from inside smtplib, nor lose the report: it is delivered once the report has gone out.
    server = smtp_scripted(stall_data_times=1)
    script = write_job(
        tmp_path,
        """
        with capture_and_notify():
            log.info("about to fail")
            raise RuntimeError("the real failure")
        """,
    )
    env = library_env(tmp_path, server, smtp_timeout="2", delivery_timeout="20")
    with started_job(script, env) as proc:
        server.wait_for_received(1, timeout=10)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)

    assert proc.returncode in (-signal.SIGINT, 128 + signal.SIGINT), err
    (delivery,) = server.messages
    assert "RuntimeError: the real failure" in text_body(delivery.message)
    assert "RuntimeError: the real failure" in err
    assert "KeyboardInterrupt" in err
    assert "smtplib" not in err  # the interrupt did not come from inside the delivery
    assert [line for line in own_lines(err) if "report sent" in line]
