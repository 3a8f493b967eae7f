"""capture_and_notify(): library mode, seen the way a user sees it.

Most tests write a small job script, run it in a real Python process against a real SMTP
server on 127.0.0.1 (or an outbox directory), and assert on what a user would see: the exit
status, the log lines on stdout, the lines on stderr and the mail that arrived. What all the
blocks of a process share (the root logger, the signals) is tested in test_blocks.py.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import (
    attachment,
    closed_port,
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

from lognotify import capture_and_notify

pytestmark = pytest.mark.timeout(60)


def attached_log(message: object) -> str:
    found = attachment(message)  # type: ignore[arg-type]
    assert found is not None
    name, log = found
    assert name.endswith(".log.gz")
    return log.decode()


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


# --- the decorator and the options -------------------------------------------------------------


def test_the_decorator_gives_each_call_its_own_capture(tmp_path: Path, smtp_sink: Sink) -> None:
    script = write_job(
        tmp_path,
        """
        @capture_and_notify(notify_on="always")
        def job(n):
            log.info("call number %d", n)
            return n * 10

        print("results:", job(1), job(2), flush=True)
        """,
    )
    result = run_job(script, library_env(tmp_path, smtp_sink))

    assert result.returncode == 0, result.stderr
    assert "results: 10 20" in result.stdout
    first, second = (delivery.message for delivery in smtp_sink.messages)
    assert "call number 1" in text_body(first)
    assert "call number 2" not in text_body(first)
    assert "call number 2" in text_body(second)
    assert "call number 1" not in text_body(second)
    assert first["Message-ID"] != second["Message-ID"]
    assert first["X-Lognotify-Job"] == second["X-Lognotify-Job"] == "nightly_etl"


def test_a_decorated_function_that_raises_is_mailed_and_reraised(
    tmp_path: Path, smtp_sink: Sink
) -> None:
    script = write_job(
        tmp_path,
        """
        @capture_and_notify(job_name="decorated")
        def job():
            log.info("working")
            raise KeyError("missing")

        job()
        """,
    )
    result = run_job(script, library_env(tmp_path, smtp_sink))

    assert result.returncode == 1
    assert result.stderr.rstrip().endswith("KeyError: 'missing'")
    mail = the_mail(smtp_sink)
    assert mail["X-Lognotify-Job"] == "decorated"
    assert "KeyError: 'missing'" in text_body(mail)


def test_a_decorated_coroutine_function_is_captured_while_it_is_awaited(
    tmp_path: Path, smtp_sink: Sink
) -> None:
    script = write_job(
        tmp_path,
        """
        import asyncio

        @capture_and_notify(job_name="async-etl")
        async def main():
            log.info("loading asynchronously")
            await asyncio.sleep(0)
            raise ValueError("async failure")

        asyncio.run(main())
        """,
    )
    result = run_job(script, library_env(tmp_path, smtp_sink))

    assert result.returncode == 1
    assert result.stderr.rstrip().endswith("ValueError: async failure")
    mail = the_mail(smtp_sink)
    assert mail["X-Lognotify-Job"] == "async-etl"
    assert "loading asynchronously" in text_body(mail)
    assert "ValueError: async failure" in text_body(mail)


def test_a_generator_function_cannot_be_decorated_and_says_what_to_do() -> None:
    with pytest.raises(TypeError, match="use `with capture_and_notify\\(\\):` inside it"):

        @capture_and_notify(job_name="rows")
        def rows() -> Iterator[int]:
            yield 1


def test_echo_false_keeps_stdout_clean_but_the_log_is_still_captured(
    tmp_path: Path, smtp_sink: Sink
) -> None:
    script = write_job(
        tmp_path,
        """
        with capture_and_notify(echo=False, log_format="%(levelname)s|%(message)s"):
            log.info("quiet line")
            raise SystemExit(2)
        """,
    )
    result = run_job(script, library_env(tmp_path, smtp_sink))

    assert result.returncode == 2
    assert result.stdout == ""
    assert "INFO|quiet line" in text_body(the_mail(smtp_sink))


def test_level_names_are_taken_in_any_case(tmp_path: Path, smtp_sink: Sink) -> None:
    script = write_job(
        tmp_path,
        """
        with capture_and_notify(level="debug", notify_on="always"):
            log.debug("a debug detail")
        """,
    )
    result = run_job(script, library_env(tmp_path, smtp_sink))

    assert result.returncode == 0, result.stderr
    assert "a debug detail" in result.stdout
    assert "a debug detail" in text_body(the_mail(smtp_sink))


def test_capture_output_takes_prints_and_subprocesses_into_the_report(
    tmp_path: Path, smtp_sink: Sink
) -> None:
    script = write_job(
        tmp_path,
        """
        import subprocess
        with capture_and_notify(capture="output", job_name="all-output"):
            print("printed line", flush=True)
            subprocess.run(["sh", "-c", "echo from a child >&2"], check=True)
            log.info("a record")
            raise SystemExit(6)
        """,
    )
    result = run_job(script, library_env(tmp_path, smtp_sink))

    assert result.returncode == 6
    assert "printed line" in result.stdout
    assert "from a child" in result.stderr
    log = attached_log(the_mail(smtp_sink))
    assert "printed line\n" in log
    assert "from a child\n" in log
    assert log.count("a record") == 1  # echoed to stdout and captured there, once


@pytest.mark.parametrize(
    ("keyword", "words"),
    [("timeout", "only the command line takes these"), ("smtp_hots", "unknown setting")],
)
def test_a_keyword_the_library_does_not_take_is_a_type_error_at_once(
    keyword: str, words: str
) -> None:
    with pytest.raises(TypeError, match=words):
        capture_and_notify(**{keyword: "5"})


# --- lognotify's own problems never win over the job -----------------------------------------


@pytest.mark.parametrize("form", ["with", "decorator"])
def test_a_malformed_setting_exits_2_before_the_block_runs(
    tmp_path: Path, smtp_sink: Sink, form: str
) -> None:
    body = {
        "with": """
            with capture_and_notify():
                print("the block ran", flush=True)
            """,
        "decorator": """
            @capture_and_notify()
            def job():
                print("the block ran", flush=True)

            job()
            """,
    }[form]
    script = write_job(tmp_path, body)
    result = run_job(script, library_env(tmp_path, smtp_sink, smtp_port="abc"))

    assert result.returncode == 2
    assert "the block ran" not in result.stdout
    (line,) = result.stderr.splitlines()
    assert line.startswith("lognotify: LOGNOTIFY_SMTP_PORT: ")
    assert smtp_sink.messages == []


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ("level='verbose'", "level"),
        ("level=None", "level"),
        ("echo='no'", "echo"),
        ("log_format='%(nosuchfield'", "log_format"),
        ("subject='{{ nope'", "subject (LOGNOTIFY_SUBJECT)"),
    ],
)
def test_a_malformed_option_exits_2_with_one_line(tmp_path: Path, options: str, named: str) -> None:
    script = write_job(
        tmp_path,
        f"""
        with capture_and_notify({options}):
            print("the block ran", flush=True)
        """,
    )
    result = run_job(script, library_env(tmp_path))

    assert result.returncode == 2
    assert "the block ran" not in result.stdout
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"lognotify: {named}: ")


@pytest.mark.parametrize(
    ("ending", "exit_code", "python_says"),
    [
        ("raise ValueError('bad row 7')", 1, "ValueError: bad row 7"),
        ("raise SystemExit(3)", 3, None),
    ],
    ids=["exception", "system-exit"],
)
def test_a_failure_to_notify_leaves_the_jobs_outcome_alone(
    tmp_path: Path, ending: str, exit_code: int, python_says: str | None
) -> None:
    outbox = tmp_path / "outbox"
    script = write_job(
        tmp_path,
        f"""
        with capture_and_notify():
            log.info("working")
            {ending}
        """,
    )
    env = library_env(tmp_path, smtp_host="127.0.0.1", smtp_port=str(closed_port()),
                      smtp_security="none", to="ops@example.com", delivery_timeout="2",
                      smtp_timeout="1", outbox=str(outbox))  # fmt: skip
    started = time.monotonic()
    result = run_job(script, env)

    assert time.monotonic() - started < 15  # within the delivery deadline, not the default 60 s
    assert result.returncode == exit_code
    if python_says:
        assert result.stderr.rstrip().endswith(python_says)
    else:
        assert "Traceback" not in result.stderr
    (line,) = own_lines(result.stderr)
    assert "could not send the report" in line
    assert "connection refused" in line
    assert len(list(outbox.glob("*.eml"))) == 1  # nothing is lost
    # and the logs keep it too, should the outbox go with the pod (the contract's additions)
    report = printed_report(result.stderr) or ""
    assert report.startswith("FAILED nightly_etl: ")
    assert "INFO root: working" in report or "working" in report


def test_the_bare_decorator_takes_every_setting_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in [name for name in os.environ if name.startswith("LOGNOTIFY_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("LOGNOTIFY_OUTBOX", str(tmp_path))
    monkeypatch.setenv("LOGNOTIFY_JOB_NAME", "bare")

    @capture_and_notify
    def job(value: int) -> int:
        raise ValueError(f"boom {value}")

    with pytest.raises(ValueError, match="boom 7"):
        job(7)
    (message,) = outbox_messages(tmp_path)
    assert message["X-Lognotify-Job"] == "bare"
    assert "ValueError: boom 7" in text_body(message)


def test_a_failure_of_ours_never_replaces_the_jobs_exception(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in [name for name in os.environ if name.startswith("LOGNOTIFY_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("LOGNOTIFY_OUTBOX", str(tmp_path))

    class Unprintable(Exception):
        def __str__(self) -> str:
            raise RuntimeError("this exception cannot be described")

    with pytest.raises(Unprintable), capture_and_notify(job_name="odd"):
        raise Unprintable()
    (line,) = own_lines(capsys.readouterr().err)
    assert "report written to" in line
    (message,) = outbox_messages(tmp_path)
    assert "Unprintable: <unprintable>" in text_body(message)
