"""capture_and_notify(): the decorator, the options, and lognotify's own problems, which never
win over the job's outcome. Job scripts run in real processes, as in test_library.py."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import (
    attached_log,
    closed_port,
    library_env,
    outbox_messages,
    own_lines,
    printed_report,
    run_job,
    text_body,
    the_mail,
    write_job,
)
from smtp_servers import Sink

from lognotify import capture_and_notify

pytestmark = pytest.mark.timeout(60)


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
    env = library_env(
        tmp_path,
        smtp_host="127.0.0.1",
        smtp_port=str(closed_port()),
        smtp_security="none",
        to="ops@example.com",
        delivery_timeout="2",
        smtp_timeout="1",
        outbox=str(outbox),
    )
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
