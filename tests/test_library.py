"""capture_and_notify(): library mode, seen the way a user sees it.

Most tests write a small job script, run it in a real Python process against a real SMTP
server on 127.0.0.1 (or an outbox directory), and assert on what a user would see: the exit
status, the log lines on stdout, the lines on stderr and the mail that arrived. Here: how a
block ends, and which ends are mailed. What all the blocks of a process share is tested in
test_blocks.py and test_blocks_signals.py; the decorator, the options and lognotify's own
failures in test_library_options.py.
"""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
from helpers import (
    attached_log,
    html_body,
    library_env,
    outbox_messages,
    own_lines,
    printed_report,
    read_until,
    run_job,
    started_job,
    text_body,
    the_mail,
    write_job,
)
from smtp_servers import Sink

pytestmark = pytest.mark.timeout(60)


# --- how a run ends --------------------------------------------------------------------------


def test_uncaught_exception_propagates_unchanged_and_mails_traceback_and_log(
    tmp_path: Path, smtp_sink: Sink
) -> None:
    script = write_job(
        tmp_path,
        """
        def load_rows():
            log.warning("row 7 looks odd: <b>&amp;</b>")
            raise ValueError("bad row 7")

        try:
            with capture_and_notify():
                log.info("loading batch %s", 42)
                load_rows()
        except ValueError as exc:
            print("caught outside:", type(exc).__name__, exc, flush=True)
            raise
        """,
    )
    result = run_job(script, library_env(tmp_path, smtp_sink))

    assert result.returncode == 1
    # The log lines were echoed to stdout, then the exception reached the code around the block.
    assert result.stdout.splitlines()[0].endswith("INFO etl: loading batch 42")
    assert "WARNING etl: row 7 looks odd" in result.stdout
    assert "caught outside: ValueError bad row 7" in result.stdout
    # Python printed its own traceback, ending with the job's exception.
    assert "Traceback (most recent call last):" in result.stderr
    assert "in load_rows" in result.stderr
    assert result.stderr.rstrip().endswith("ValueError: bad row 7")
    assert own_lines(result.stderr) == ["lognotify: report sent to ops@example.com"]

    mail = the_mail(smtp_sink)
    assert mail["X-Lognotify-Status"] == "failure"
    assert mail["X-Lognotify-Exit-Code"] == "1"
    assert mail["X-Lognotify-Reason"] == "exception"
    assert mail["X-Lognotify-Job"] == "nightly_etl"  # the script's name
    assert "nightly_etl" in mail["Subject"]
    assert "ValueError" in mail["Subject"]
    text = text_body(mail)
    assert text.startswith("FAILED nightly_etl: raised ValueError: bad row 7\n")
    assert "Traceback (most recent call last):" in text
    assert "in load_rows" in text
    assert "ValueError: bad row 7" in text
    assert "INFO etl: loading batch 42" in text
    html = html_body(mail)
    assert "ValueError: bad row 7" in html
    assert "in load_rows" in html
    assert "INFO etl: loading batch 42" in html
    assert "row 7 looks odd: &lt;b&gt;&amp;amp;&lt;/b&gt;" in html  # captured text is escaped
    assert "<b>&amp;</b>" not in html
    assert "INFO etl: loading batch 42" in attached_log(mail)


def test_log_lines_reach_stdout_as_they_are_logged(tmp_path: Path, smtp_sink: Sink) -> None:
    # stdout is a pipe, so Python block-buffers it: only a flush per record shows the line now.
    script = write_job(
        tmp_path,
        """
        with capture_and_notify():
            log.info("step one done")
            sys.stdin.readline()
            log.info("step two done")
        """,
    )
    with started_job(script, library_env(tmp_path, smtp_sink)) as proc:
        early = read_until(proc.stdout, "step one done").decode()
        assert early.endswith(" INFO etl: step one done\n")
        out, err = proc.communicate("go on\n", timeout=20)
    assert proc.returncode == 0
    assert out.endswith("INFO etl: step two done\n")
    assert err == ""
    assert smtp_sink.messages == []


def test_system_exit_with_a_nonzero_code_is_a_failure_with_that_code(
    tmp_path: Path, smtp_sink: Sink
) -> None:
    script = write_job(
        tmp_path,
        """
        with capture_and_notify(job_name="nightly-etl"):
            log.error("no input files")
            raise SystemExit(3)
        """,
    )
    result = run_job(script, library_env(tmp_path, smtp_sink))

    assert result.returncode == 3
    assert "Traceback" not in result.stderr
    assert own_lines(result.stderr) == ["lognotify: report sent to ops@example.com"]
    mail = the_mail(smtp_sink)
    assert mail["X-Lognotify-Status"] == "failure"
    assert mail["X-Lognotify-Exit-Code"] == "3"
    assert mail["X-Lognotify-Reason"] == "exit"
    assert mail["X-Lognotify-Job"] == "nightly-etl"
    assert mail["Subject"].startswith("[lognotify] FAILED nightly-etl (exit 3) on ")
    assert "ERROR etl: no input files" in text_body(mail)


@pytest.mark.parametrize(
    "ending", ["raise SystemExit(0)", "raise SystemExit(None)", "sys.exit()", "pass"]
)
def test_a_clean_ending_is_a_success_and_sends_no_mail(
    tmp_path: Path, smtp_sink: Sink, ending: str
) -> None:
    script = write_job(
        tmp_path,
        f"""
        with capture_and_notify():
            log.info("all good")
            {ending}
        print("after the block", flush=True)
        """,
    )
    result = run_job(script, library_env(tmp_path, smtp_sink))

    assert result.returncode == 0
    assert "INFO etl: all good" in result.stdout
    assert ("after the block" in result.stdout) == (ending == "pass")
    assert result.stderr == ""
    assert smtp_sink.messages == []


def test_sys_exit_with_a_message_is_a_failure_with_exit_code_1(
    tmp_path: Path, smtp_sink: Sink
) -> None:
    script = write_job(
        tmp_path,
        """
        with capture_and_notify():
            sys.exit("giving up: the input is empty")
        """,
    )
    result = run_job(script, library_env(tmp_path, smtp_sink))

    assert result.returncode == 1
    assert "giving up: the input is empty" in result.stderr  # Python prints the message
    mail = the_mail(smtp_sink)
    assert mail["X-Lognotify-Status"] == "failure"
    assert mail["X-Lognotify-Exit-Code"] == "1"
    assert "giving up: the input is empty" in text_body(mail)


def test_sys_exit_true_is_reported_as_exit_1(tmp_path: Path, smtp_sink: Sink) -> None:
    script = write_job(
        tmp_path,
        """
        with capture_and_notify(job_name="flag"):
            sys.exit(True)
        """,
    )
    result = run_job(script, library_env(tmp_path, smtp_sink))

    assert result.returncode == 1
    mail = the_mail(smtp_sink)
    assert mail["X-Lognotify-Exit-Code"] == "1"
    assert "(exit 1)" in mail["Subject"]


def test_keyboard_interrupt_is_a_failure_with_exit_code_130(
    tmp_path: Path, smtp_sink: Sink
) -> None:
    script = write_job(
        tmp_path,
        """
        with capture_and_notify():
            log.info("waiting")
            print("ready", flush=True)
            time.sleep(30)
        """,
    )
    with started_job(script, library_env(tmp_path, smtp_sink)) as proc:
        read_until(proc.stdout, "ready")
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=20)

    # KeyboardInterrupt propagates unchanged: Python ends the process the way it always does.
    assert proc.returncode == -signal.SIGINT
    assert "KeyboardInterrupt" in err
    mail = the_mail(smtp_sink)
    assert mail["X-Lognotify-Status"] == "failure"
    assert mail["X-Lognotify-Exit-Code"] == "130"
    # Ctrl-C from outside is a run stopped from outside (the contract's additions)
    assert mail["X-Lognotify-Reason"] == "terminated"
    assert "SIGINT" in mail["Subject"]
    assert "INFO etl: waiting" in text_body(mail)


def test_a_keyboard_interrupt_raised_by_the_job_itself_is_an_exception(
    tmp_path: Path, smtp_sink: Sink
) -> None:
    script = write_job(
        tmp_path,
        """
        with capture_and_notify(job_name="self"):
            raise KeyboardInterrupt
        """,
    )
    result = run_job(script, library_env(tmp_path, smtp_sink))

    assert result.returncode == -signal.SIGINT  # Python's own ending for it, as without us
    mail = the_mail(smtp_sink)
    assert mail["X-Lognotify-Exit-Code"] == "130"
    assert mail["X-Lognotify-Reason"] == "exception"


# --- when to mail ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("notify_on", "body", "exit_code", "mailed_status"),
    [
        ("failure", "log.error('disk almost full')", 0, None),
        ("error", "log.error('disk almost full')", 0, "success"),
        ("error", "log.warning('disk filling up')", 0, None),
        ("error", "raise SystemExit(4)", 4, "failure"),
        ("always", "log.info('fine')", 0, "success"),
        ("never", "raise RuntimeError('broken')", 1, None),
    ],
    ids=[
        "failure-ignores-error-records",
        "error-mails-a-success-with-an-error-record",
        "error-ignores-warnings",
        "error-mails-failures",
        "always-mails-a-success",
        "never-mails-nothing",
    ],
)
def test_notify_on_decides_which_runs_are_mailed(
    tmp_path: Path,
    smtp_sink: Sink,
    notify_on: str,
    body: str,
    exit_code: int,
    mailed_status: str | None,
) -> None:
    script = write_job(
        tmp_path,
        f"""
        with capture_and_notify():
            log.info("running")
            {body}
        """,
    )
    result = run_job(script, library_env(tmp_path, smtp_sink, notify_on=notify_on))

    assert result.returncode == exit_code
    if mailed_status is None:
        assert smtp_sink.messages == []
        assert own_lines(result.stderr) == []
        return
    mail = the_mail(smtp_sink)
    assert mail["X-Lognotify-Status"] == mailed_status
    assert mail["X-Lognotify-Exit-Code"] == str(exit_code)
    assert "INFO etl: running" in text_body(mail)


def test_without_an_smtp_host_the_report_goes_to_the_outbox(tmp_path: Path) -> None:
    outbox = tmp_path / "outbox"
    script = write_job(
        tmp_path,
        """
        with capture_and_notify():
            log.info("about to fail")
            raise SystemExit(5)
        """,
    )
    result = run_job(script, library_env(tmp_path, outbox=str(outbox)))

    assert result.returncode == 5
    (eml,) = outbox.glob("*.eml")
    (line,) = own_lines(result.stderr)
    assert line == f"lognotify: no SMTP host set (LOGNOTIFY_SMTP_HOST); report written to {eml}"
    assert printed_report(result.stderr) is None  # no server was set: nothing was undelivered
    (mail,) = outbox_messages(outbox)
    assert mail["X-Lognotify-Exit-Code"] == "5"
    assert "INFO etl: about to fail" in text_body(mail)
