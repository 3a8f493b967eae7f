"""capture_and_notify(): library mode, seen the way a user sees it.

Every test writes a small job script, runs it in a real Python process against a real SMTP
server on 127.0.0.1 (or an outbox directory), and asserts on what a user would see: the exit
status, the log lines on stdout, the lines on stderr and the mail that arrived.
"""

from __future__ import annotations

import email
import email.policy
import gzip
import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from email.message import EmailMessage
from pathlib import Path

import pytest
from helpers import own_lines
from smtp_servers import BaseSMTPServer, ScriptedServer, Sink, wait_until

from lognotify import capture_and_notify

pytestmark = pytest.mark.timeout(60)

SIGTERM_EXIT = 128 + signal.SIGTERM


# --- running a job ---------------------------------------------------------------------------


def job_env(
    tmp_path: Path, server: BaseSMTPServer | None = None, **settings: str
) -> dict[str, str]:
    """The environment of a job: no inherited LOGNOTIFY_*, mail to ``server`` or nowhere."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("LOGNOTIFY_")}
    env["TMPDIR"] = str(tmp_path)  # a default outbox, if ever written, stays in the test's dir
    env.pop("PYTHONUNBUFFERED", None)  # stdout is a pipe: the handler itself must flush
    if server is not None:
        env.update(
            LOGNOTIFY_SMTP_HOST=server.host,
            LOGNOTIFY_SMTP_PORT=str(server.port),
            LOGNOTIFY_SMTP_SECURITY="none",
            LOGNOTIFY_TO="ops@example.com",
        )
    env.update({f"LOGNOTIFY_{key.upper()}": value for key, value in settings.items()})
    return env


def write_job(tmp_path: Path, body: str, name: str = "nightly_etl.py") -> Path:
    """A job script: imports, a logger called ``etl``, then ``body``."""
    script = tmp_path / name
    script.write_text(
        "import logging, os, signal, sys, time, warnings\n"
        "from pathlib import Path\n"
        "from lognotify import capture_and_notify\n"
        "log = logging.getLogger('etl')\n" + textwrap.dedent(body)
    )
    return script


def run_job(
    script: Path, env: Mapping[str, str], timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(script)],
        env=dict(env),
        cwd=script.parent,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@contextmanager
def started_job(script: Path, env: Mapping[str, str]) -> Iterator[subprocess.Popen[str]]:
    """A running job with pipes on stdin, stdout and stderr; killed if the test fails."""
    proc = subprocess.Popen(
        [sys.executable, str(script)],
        env=dict(env),
        cwd=script.parent,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


def read_until(proc: subprocess.Popen[str], marker: str, timeout: float = 10) -> str:
    """Read stdout until ``marker`` shows; return everything read so far.

    Reads the pipe itself (not the buffered text wrapper), so nothing sits unseen in a buffer
    while we wait; what was read is not seen again by ``communicate()``.
    """
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    seen = b""
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while marker.encode() not in seen:
            left = deadline - time.monotonic()
            if left <= 0 or not selector.select(left):
                raise AssertionError(f"no {marker!r} on stdout within {timeout}s; got {seen!r}")
            chunk = os.read(fd, 65536)
            if not chunk:
                raise AssertionError(f"stdout closed before {marker!r}; got {seen!r}")
            seen += chunk
    return seen.decode()


def lognotify_lines(stderr: str) -> list[str]:
    return own_lines(stderr)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- reading the mail ------------------------------------------------------------------------


def the_mail(server: Sink) -> EmailMessage:
    """The one message the run sent (the process has ended, so nothing is still on its way)."""
    messages = server.messages
    assert len(messages) == 1, f"expected one mail, got {len(messages)}"
    return messages[0].message


def text_body(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())  # type: ignore[attr-defined]


def html_body(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("html",))
    assert part is not None
    return str(part.get_content())  # type: ignore[attr-defined]


def attached_log(message: EmailMessage) -> str:
    (attachment,) = list(message.iter_attachments())
    assert attachment.get_filename().endswith(".log.gz")
    return gzip.decompress(attachment.get_content()).decode()  # type: ignore[attr-defined]


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
    result = run_job(script, job_env(tmp_path, smtp_sink))

    assert result.returncode == 1
    # The log lines were echoed to stdout, then the exception reached the code around the block.
    assert result.stdout.splitlines()[0].endswith("INFO etl: loading batch 42")
    assert "WARNING etl: row 7 looks odd" in result.stdout
    assert "caught outside: ValueError bad row 7" in result.stdout
    # Python printed its own traceback, ending with the job's exception.
    assert "Traceback (most recent call last):" in result.stderr
    assert "in load_rows" in result.stderr
    assert result.stderr.rstrip().endswith("ValueError: bad row 7")
    assert lognotify_lines(result.stderr) == ["lognotify: report sent to ops@example.com"]

    mail = the_mail(smtp_sink)
    assert mail["X-Lognotify-Status"] == "failure"
    assert mail["X-Lognotify-Exit-Code"] == "1"
    assert mail["X-Lognotify-Job"] == "nightly_etl"  # the script's name
    assert "nightly_etl" in mail["Subject"] and "ValueError" in mail["Subject"]
    text = text_body(mail)
    assert "Traceback (most recent call last):" in text
    assert "in load_rows" in text and "ValueError: bad row 7" in text
    assert "INFO etl: loading batch 42" in text
    html = html_body(mail)
    assert "ValueError: bad row 7" in html and "in load_rows" in html
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
    with started_job(script, job_env(tmp_path, smtp_sink)) as proc:
        early = read_until(proc, "step one done")
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
    result = run_job(script, job_env(tmp_path, smtp_sink))

    assert result.returncode == 3
    assert "Traceback" not in result.stderr
    assert lognotify_lines(result.stderr) == ["lognotify: report sent to ops@example.com"]
    mail = the_mail(smtp_sink)
    assert mail["X-Lognotify-Status"] == "failure"
    assert mail["X-Lognotify-Exit-Code"] == "3"
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
    result = run_job(script, job_env(tmp_path, smtp_sink))

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
    result = run_job(script, job_env(tmp_path, smtp_sink))

    assert result.returncode == 1
    assert "giving up: the input is empty" in result.stderr  # Python prints the message
    mail = the_mail(smtp_sink)
    assert mail["X-Lognotify-Status"] == "failure"
    assert mail["X-Lognotify-Exit-Code"] == "1"
    assert "giving up: the input is empty" in text_body(mail)


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
    with started_job(script, job_env(tmp_path, smtp_sink)) as proc:
        read_until(proc, "ready")
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=20)

    # KeyboardInterrupt propagates unchanged: Python ends the process the way it always does.
    assert proc.returncode == -signal.SIGINT
    assert "KeyboardInterrupt" in err
    mail = the_mail(smtp_sink)
    assert mail["X-Lognotify-Status"] == "failure"
    assert mail["X-Lognotify-Exit-Code"] == "130"
    assert "SIGINT" in mail["Subject"]
    assert "INFO etl: waiting" in text_body(mail)


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
    with started_job(script, job_env(tmp_path, smtp_sink)) as proc:
        early = read_until(proc, "ready")
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
    out = early + out

    assert proc.returncode == SIGTERM_EXIT
    assert marker.read_text() == "finally ran"
    assert "INFO etl: cleaned up" in out
    assert "Traceback" not in err
    assert lognotify_lines(err) == ["lognotify: report sent to ops@example.com"]
    mail = the_mail(smtp_sink)
    assert mail["X-Lognotify-Status"] == "failure"
    assert mail["X-Lognotify-Exit-Code"] == "143"
    assert mail["Subject"].startswith("[lognotify] FAILED sync (SIGTERM) on ")
    text = text_body(mail)
    assert "terminated by SIGTERM" in text
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
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.1)
        """,
    )
    result = run_job(script, job_env(tmp_path, notify_on="never"))

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "replaced inside: True",
        "restored after success: True",
        "block ended with SystemExit 143",
        "restored after SIGTERM: True",
        "restored after an exception: True",
        "my handler",
    ]


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
    result = run_job(script, job_env(tmp_path, smtp_sink, notify_on=notify_on))

    assert result.returncode == exit_code
    if mailed_status is None:
        assert smtp_sink.messages == []
        assert lognotify_lines(result.stderr) == []
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
    result = run_job(script, job_env(tmp_path, outbox=str(outbox)))

    assert result.returncode == 5
    (eml,) = outbox.glob("*.eml")
    (line,) = lognotify_lines(result.stderr)
    assert str(eml) in line
    mail = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
    assert isinstance(mail, EmailMessage)
    assert mail["X-Lognotify-Exit-Code"] == "5"
    assert "INFO etl: about to fail" in text_body(mail)


# --- leaving no trace ------------------------------------------------------------------------


def test_the_root_logger_is_exactly_as_before_on_leaving(tmp_path: Path) -> None:
    script = write_job(
        tmp_path,
        """
        import json
        root = logging.getLogger()

        def state():
            return [logging.getLevelName(root.level), [repr(h) for h in root.handlers],
                    warnings.showwarning.__module__ + "." + warnings.showwarning.__name__]

        states = {"unconfigured before": state()}
        with capture_and_notify(level="DEBUG"):
            log.debug("inside, logging is on at DEBUG")
        states["unconfigured after"] = state()

        logging.basicConfig(level=logging.ERROR, stream=sys.stderr, format="pre: %(message)s")
        states["configured before"] = state()
        with capture_and_notify():
            pass
        states["configured after"] = state()
        try:
            with capture_and_notify():
                raise RuntimeError("boom")
        except RuntimeError:
            pass
        states["after an exception"] = state()
        try:
            with capture_and_notify():
                raise SystemExit(9)
        except SystemExit:
            pass
        states["after SystemExit"] = state()
        log.error("goes to the job's own handler only")
        print(json.dumps(states))
        """,
    )
    result = run_job(script, job_env(tmp_path, notify_on="never"))

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].endswith("DEBUG etl: inside, logging is on at DEBUG")
    states = json.loads(lines[-1])
    assert states["unconfigured after"] == states["unconfigured before"]
    assert states["unconfigured before"][:2] == ["WARNING", []]
    for when in ("configured after", "after an exception", "after SystemExit"):
        assert states[when] == states["configured before"], when
    assert result.stderr == "pre: goes to the job's own handler only\n"
    assert "goes to the job's own handler" not in result.stdout


def test_python_warnings_inside_the_block_land_in_the_captured_log(
    tmp_path: Path, smtp_sink: Sink
) -> None:
    script = write_job(
        tmp_path,
        """
        with capture_and_notify():
            warnings.warn("column 'amount' is deprecated")
            raise SystemExit(1)
        """,
    )
    result = run_job(script, job_env(tmp_path, smtp_sink))

    assert result.returncode == 1
    assert "UserWarning: column 'amount' is deprecated" in result.stdout
    assert "UserWarning: column 'amount' is deprecated" in text_body(the_mail(smtp_sink))


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
    result = run_job(script, job_env(tmp_path, smtp_sink))

    assert result.returncode == 0, result.stderr
    assert "results: 10 20" in result.stdout
    first, second = (delivery.message for delivery in smtp_sink.messages)
    assert "call number 1" in text_body(first) and "call number 2" not in text_body(first)
    assert "call number 2" in text_body(second) and "call number 1" not in text_body(second)
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
    result = run_job(script, job_env(tmp_path, smtp_sink))

    assert result.returncode == 1
    assert result.stderr.rstrip().endswith("KeyError: 'missing'")
    mail = the_mail(smtp_sink)
    assert mail["X-Lognotify-Job"] == "decorated"
    assert "KeyError: 'missing'" in text_body(mail)


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
    result = run_job(script, job_env(tmp_path, smtp_sink))

    assert result.returncode == 2
    assert result.stdout == ""
    assert "INFO|quiet line" in text_body(the_mail(smtp_sink))


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
    result = run_job(script, job_env(tmp_path, smtp_sink, smtp_port="abc"))

    assert result.returncode == 2
    assert "the block ran" not in result.stdout
    (line,) = result.stderr.splitlines()
    assert line.startswith("lognotify: ")
    assert "LOGNOTIFY_SMTP_PORT" in line
    assert smtp_sink.messages == []


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
    port = closed_port()
    outbox = tmp_path / "outbox"
    script = write_job(
        tmp_path,
        f"""
        with capture_and_notify():
            log.info("working")
            {ending}
        """,
    )
    env = job_env(
        tmp_path,
        smtp_host="127.0.0.1",
        smtp_port=str(port),
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
    (line,) = lognotify_lines(result.stderr)
    assert "could not send the report" in line and "connection refused" in line
    assert len(list(outbox.glob("*.eml"))) == 1  # nothing is lost


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
    # Issue case 15. The first DATA is never answered: that attempt times out after 2 s and the
    # retry succeeds, so the report is being delivered for a few seconds.
    server = smtp_scripted(stall_data_times=1)
    script = write_job(tmp_path, body)
    env = job_env(tmp_path, server, smtp_timeout="2", delivery_timeout="20", notify_on=notify_on)
    started = time.monotonic()
    with started_job(script, env) as proc:
        assert wait_until(lambda: len(server.received) >= 1, timeout=10), "no delivery started"
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    elapsed = time.monotonic() - started

    assert proc.returncode == SIGTERM_EXIT, err
    assert elapsed < 20  # within the delivery deadline
    assert "carrying on" not in out
    (delivery,) = server.messages
    assert delivery.message["X-Lognotify-Exit-Code"] == mailed_exit_code
    (line,) = lognotify_lines(err)
    assert "report sent" in line and "2 attempts" in line
    if mailed_exit_code == "1":
        assert "RuntimeError: the real failure" in text_body(delivery.message)
        assert "RuntimeError: the real failure" in err  # the job's traceback is still shown


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
    (path,) = tmp_path.glob("*.eml")
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert message["X-Lognotify-Job"] == "bare"
    assert "ValueError: boom 7" in message.get_body(("plain",)).get_content()


def test_a_failure_of_ours_never_replaces_the_jobs_exception(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in [name for name in os.environ if name.startswith("LOGNOTIFY_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("LOGNOTIFY_OUTBOX", str(tmp_path))

    class Unprintable(Exception):
        def __str__(self) -> str:
            raise RuntimeError("this exception cannot be described")

    with pytest.raises(Unprintable):
        with capture_and_notify(job_name="odd"):
            raise Unprintable()
    (line,) = [line for line in capsys.readouterr().err.splitlines() if line.startswith("lognotify:")]
    assert "report written to" in line
    (path,) = tmp_path.glob("*.eml")
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert "Unprintable: <unprintable>" in message.get_body(("plain",)).get_content()


# --- blocks inside blocks, coroutines, generators and odd options -----------------------------


def test_a_block_inside_a_block_sends_one_mail_and_echoes_each_record_once(
    tmp_path: Path, smtp_sink: Sink
) -> None:
    script = write_job(
        tmp_path,
        """
        @capture_and_notify(job_name="inner")
        def main():
            log.info("inside both")
            raise RuntimeError("nested failure")

        with capture_and_notify(job_name="outer"):
            main()
        """,
    )
    result = run_job(script, job_env(tmp_path, smtp_sink))

    assert result.returncode == 1
    assert result.stderr.rstrip().endswith("RuntimeError: nested failure")
    assert result.stdout.count("inside both") == 1
    mail = the_mail(smtp_sink)
    assert mail["X-Lognotify-Job"] == "outer"
    assert "RuntimeError: nested failure" in text_body(mail)
    assert text_body(mail).count("inside both") == 1


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
    result = run_job(script, job_env(tmp_path, smtp_sink))

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
    env = job_env(tmp_path, server, smtp_timeout="2", delivery_timeout="20")
    with started_job(script, env) as proc:
        assert wait_until(lambda: len(server.received) >= 1, timeout=10), "no delivery started"
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)

    assert proc.returncode in (-signal.SIGINT, 128 + signal.SIGINT), err
    (delivery,) = server.messages
    assert "RuntimeError: the real failure" in text_body(delivery.message)
    assert "RuntimeError: the real failure" in err and "KeyboardInterrupt" in err
    assert "smtplib" not in err  # the interrupt did not come from inside the delivery
    assert [line for line in lognotify_lines(err) if "report sent" in line]


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
    with started_job(script, job_env(tmp_path, smtp_sink)) as proc:
        read_until(proc, "ready")
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.2)
        out, err = proc.communicate("go\n", timeout=30)

    assert proc.returncode == 0, err
    assert "ignored after: True" in out
    mail = the_mail(smtp_sink)
    assert mail["X-Lognotify-Status"] == "success"
    assert "still running after SIGTERM" in text_body(mail)


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ("level='verbose'", "level"),
        ("level=None", "level"),
        ("echo='no'", "echo"),
        ("log_format='%(nosuchfield'", "log_format"),
    ],
)
def test_a_malformed_logging_option_exits_2_with_one_line(
    tmp_path: Path, options: str, named: str
) -> None:
    script = write_job(
        tmp_path,
        f"""
        with capture_and_notify({options}):
            print("the block ran", flush=True)
        """,
    )
    result = run_job(script, job_env(tmp_path))

    assert result.returncode == 2
    assert "the block ran" not in result.stdout
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"lognotify: {named}: ")


def test_level_names_are_taken_in_any_case(tmp_path: Path, smtp_sink: Sink) -> None:
    script = write_job(
        tmp_path,
        """
        with capture_and_notify(level="debug", notify_on="always"):
            log.debug("a debug detail")
        """,
    )
    result = run_job(script, job_env(tmp_path, smtp_sink))

    assert result.returncode == 0, result.stderr
    assert "a debug detail" in result.stdout
    assert "a debug detail" in text_body(the_mail(smtp_sink))


def test_sys_exit_true_is_reported_as_exit_1(tmp_path: Path, smtp_sink: Sink) -> None:
    script = write_job(
        tmp_path,
        """
        with capture_and_notify(job_name="flag"):
            sys.exit(True)
        """,
    )
    result = run_job(script, job_env(tmp_path, smtp_sink))

    assert result.returncode == 1
    mail = the_mail(smtp_sink)
    assert mail["X-Lognotify-Exit-Code"] == "1"
    assert "(exit 1)" in mail["Subject"]


def test_concurrent_decorated_tasks_each_send_their_own_report(tmp_path: Path, smtp_sink: Sink) -> None:
    script = write_job(
        tmp_path,
        """
        import asyncio

        @capture_and_notify()
        async def task(name):
            await asyncio.sleep(0.05)
            raise RuntimeError(f"{name} failed")

        async def main():
            results = await asyncio.gather(task("first"), task("second"), return_exceptions=True)
            print(sorted(str(result) for result in results), flush=True)

        asyncio.run(main())
        """,
    )
    result = run_job(script, job_env(tmp_path, smtp_sink))

    assert result.returncode == 0, result.stderr
    assert "['first failed', 'second failed']" in result.stdout
    bodies = sorted(text_body(delivery.message) for delivery in smtp_sink.messages)
    assert len(bodies) == 2
    assert "RuntimeError: first failed" in bodies[0] and "RuntimeError: second failed" in bodies[1]


OVERLAP_CHECKS = """
def state():
    return (logging.getLogger().level, list(logging.getLogger().handlers),
            warnings.showwarning, signal.getsignal(signal.SIGTERM))

before = state()
run_overlapping()  # A enters, B enters, A leaves, B leaves
print("restored" if state() == before else f"changed: {before} -> {state()}", flush=True)
os.kill(os.getpid(), signal.SIGTERM)  # the default action again: the process dies of it
time.sleep(5)
print("still alive after SIGTERM", flush=True)
"""


def test_blocks_in_overlapping_asyncio_tasks_restore_everything_and_keep_their_own_log(
    tmp_path: Path, smtp_sink: Sink
) -> None:
    script = write_job(
        tmp_path,
        textwrap.dedent("""
        import asyncio

        @capture_and_notify(job_name="first", notify_on="always", echo=False)
        async def first():
            logging.getLogger("first").info("first starts")
            await asyncio.sleep(0.1)

        @capture_and_notify(job_name="second", notify_on="always", echo=False)
        async def second():
            await asyncio.sleep(0.05)
            logging.getLogger("second").info("second starts")
            await asyncio.sleep(0.2)
            logging.getLogger("second").info("second ends, after first has left")

        def run_overlapping():
            async def main():
                await asyncio.gather(first(), second())
            asyncio.run(main())
        """)
        + OVERLAP_CHECKS,
    )
    result = run_job(script, job_env(tmp_path, smtp_sink))

    assert result.returncode == -signal.SIGTERM, result.stdout + result.stderr
    assert "restored" in result.stdout.splitlines()
    logs = {d.message["X-Lognotify-Job"]: attached_log(d.message) for d in smtp_sink.messages}
    assert sorted(logs) == ["first", "second"]
    assert "first starts" in logs["first"] and "second" not in logs["first"]
    assert "second starts" in logs["second"] and "first starts" not in logs["second"]
    assert "second ends, after first has left" in logs["second"]


def test_blocks_in_overlapping_threads_restore_everything_and_keep_their_own_log(
    tmp_path: Path, smtp_sink: Sink
) -> None:
    script = write_job(
        tmp_path,
        textwrap.dedent("""
        import threading
        from concurrent.futures import ThreadPoolExecutor

        first_left = threading.Event()

        @capture_and_notify(notify_on="always", echo=False)
        def task(name):
            logging.getLogger(name).info("%s starts", name)
            if name == "second":
                first_left.wait(5)
                logging.getLogger(name).info("second ends, after first has left")

        def run_overlapping():
            with ThreadPoolExecutor(2) as pool:
                second = pool.submit(task, "second")
                time.sleep(0.1)
                pool.submit(task, "first").result()
                first_left.set()
                second.result()
        """)
        + OVERLAP_CHECKS,
    )
    result = run_job(script, job_env(tmp_path, smtp_sink))

    assert result.returncode == -signal.SIGTERM, result.stdout + result.stderr
    assert "restored" in result.stdout.splitlines()
    logs = sorted((attached_log(d.message) for d in smtp_sink.messages), key=len)
    assert len(logs) == 2
    assert "first starts" in logs[0] and "second" not in logs[0]
    assert "second starts" in logs[1] and "second ends, after first has left" in logs[1]
    assert "first starts" not in logs[1]


def test_a_worker_thread_of_the_job_is_captured_and_echoed_once(
    tmp_path: Path, smtp_sink: Sink
) -> None:
    script = write_job(
        tmp_path,
        """
        import threading

        with capture_and_notify(job_name="workers"):
            worker = threading.Thread(target=lambda: log.info("from a worker thread"))
            worker.start()
            worker.join()
            raise RuntimeError("boom")
        """,
    )
    result = run_job(script, job_env(tmp_path, smtp_sink))

    assert result.returncode == 1
    assert result.stdout.count("from a worker thread") == 1
    assert "from a worker thread" in attached_log(the_mail(smtp_sink))
