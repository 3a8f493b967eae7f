"""What all capture_and_notify blocks of a process share: the root logger, the capture of
warnings, and the signal handlers. Blocks nest, overlap in threads and tasks, leave in any
order, and leave everything as it was. SIGTERM and SIGINT: test_blocks_signals.py.

Every test runs a small job script in a real Python process (see test_library.py); events
inside a job are ordered by events and pipes, never by sleeps.
"""

from __future__ import annotations

import json
import signal
import textwrap
from pathlib import Path

import pytest
from helpers import (
    attached_log,
    library_env,
    run_job,
    text_body,
    the_mail,
    write_job,
)
from smtp_servers import Sink

pytestmark = pytest.mark.timeout(60)

SIGTERM_EXIT = 128 + signal.SIGTERM


# --- the root logger and the warnings ---------------------------------------------------------


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
    result = run_job(script, library_env(tmp_path, notify_on="never"))

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
    result = run_job(script, library_env(tmp_path, smtp_sink))

    assert result.returncode == 1
    assert "UserWarning: column 'amount' is deprecated" in result.stdout
    assert "UserWarning: column 'amount' is deprecated" in text_body(the_mail(smtp_sink))


# --- blocks inside blocks, side by side, and the threads of a job ---------------------------


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
    result = run_job(script, library_env(tmp_path, smtp_sink))

    assert result.returncode == 1
    assert result.stderr.rstrip().endswith("RuntimeError: nested failure")
    assert result.stdout.count("inside both") == 1
    mail = the_mail(smtp_sink)
    assert mail["X-Lognotify-Job"] == "outer"
    assert "RuntimeError: nested failure" in text_body(mail)
    # Captured once. (The text body now shows it twice by design: among the last lines that
    # open the report, as no line looks like an error, and in the output.)
    assert attached_log(mail).count("inside both") == 1
    assert text_body(mail).split("\nOutput")[1].count("inside both") == 1


OVERLAP_CHECKS = """
def state():
    return (logging.getLogger().level, list(logging.getLogger().handlers),
            warnings.showwarning, signal.getsignal(signal.SIGTERM))

before = state()
run_overlapping()  # A enters, B enters, A leaves, B leaves
print("restored" if state() == before else f"changed: {before} -> {state()}", flush=True)
os.kill(os.getpid(), signal.SIGTERM)  # the default action again: the process dies of it
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
        async def first(first_in, second_in):
            logging.getLogger("first").info("first starts")
            first_in.set()
            await second_in.wait()

        @capture_and_notify(job_name="second", notify_on="always", echo=False)
        async def second(first_in, second_in, first_out):
            await first_in.wait()
            logging.getLogger("second").info("second starts")
            second_in.set()
            await first_out.wait()
            logging.getLogger("second").info("second ends, after first has left")

        def run_overlapping():
            async def main():
                first_in, second_in, first_out = asyncio.Event(), asyncio.Event(), asyncio.Event()

                async def first_then_out():
                    await first(first_in, second_in)
                    first_out.set()

                await asyncio.gather(first_then_out(), second(first_in, second_in, first_out))
            asyncio.run(main())
        """)
        + OVERLAP_CHECKS,
    )
    result = run_job(script, library_env(tmp_path, smtp_sink))

    assert result.returncode == -signal.SIGTERM, result.stdout + result.stderr
    assert "restored" in result.stdout.splitlines()
    assert "still alive" not in result.stdout
    logs = {d.message["X-Lognotify-Job"]: attached_log(d.message) for d in smtp_sink.messages}
    assert sorted(logs) == ["first", "second"]
    assert "first starts" in logs["first"]
    assert "second" not in logs["first"]
    assert "second starts" in logs["second"]
    assert "first starts" not in logs["second"]
    assert "second ends, after first has left" in logs["second"]


def test_blocks_in_overlapping_threads_restore_everything_and_keep_their_own_log(
    tmp_path: Path, smtp_sink: Sink
) -> None:
    script = write_job(
        tmp_path,
        textwrap.dedent("""
        import threading
        from concurrent.futures import ThreadPoolExecutor

        second_in, first_left = threading.Event(), threading.Event()

        @capture_and_notify(notify_on="always", echo=False)
        def task(name):
            logging.getLogger(name).info("%s starts", name)
            if name == "second":
                second_in.set()
                first_left.wait(10)
                logging.getLogger(name).info("second ends, after first has left")

        def run_overlapping():
            with ThreadPoolExecutor(2) as pool:
                second = pool.submit(task, "second")
                assert second_in.wait(10)
                pool.submit(task, "first").result()
                first_left.set()
                second.result()
        """)
        + OVERLAP_CHECKS,
    )
    result = run_job(script, library_env(tmp_path, smtp_sink))

    assert result.returncode == -signal.SIGTERM, result.stdout + result.stderr
    assert "restored" in result.stdout.splitlines()
    logs = sorted((attached_log(d.message) for d in smtp_sink.messages), key=len)
    assert len(logs) == 2
    assert "first starts" in logs[0]
    assert "second" not in logs[0]
    assert "second starts" in logs[1]
    assert "second ends, after first has left" in logs[1]
    assert "first starts" not in logs[1]


def test_concurrent_decorated_tasks_each_send_their_own_report(
    tmp_path: Path, smtp_sink: Sink
) -> None:
    script = write_job(
        tmp_path,
        """
        import asyncio

        @capture_and_notify()
        async def task(name, inside, both_in):
            inside.append(name)
            if len(inside) == 2:
                both_in.set()
            await both_in.wait()  # both blocks are open at once
            raise RuntimeError(f"{name} failed")

        async def main():
            inside, both_in = [], asyncio.Event()
            results = await asyncio.gather(task("first", inside, both_in),
                                           task("second", inside, both_in),
                                           return_exceptions=True)
            print(sorted(str(result) for result in results), flush=True)

        asyncio.run(main())
        """,
    )
    result = run_job(script, library_env(tmp_path, smtp_sink))

    assert result.returncode == 0, result.stderr
    assert "['first failed', 'second failed']" in result.stdout
    bodies = sorted(text_body(delivery.message) for delivery in smtp_sink.messages)
    assert len(bodies) == 2
    assert "RuntimeError: first failed" in bodies[0]
    assert "RuntimeError: second failed" in bodies[1]


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
    result = run_job(script, library_env(tmp_path, smtp_sink))

    assert result.returncode == 1
    assert result.stdout.count("from a worker thread") == 1
    assert "from a worker thread" in attached_log(the_mail(smtp_sink))
