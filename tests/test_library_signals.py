"""The library under SIGTERM while its own locks are busy: never a hang, always 143 and a report."""

from __future__ import annotations

import signal
import subprocess
import textwrap
from pathlib import Path

import pytest
from helpers import PYTHON, clean_env, outbox_messages

JOB = textwrap.dedent(
    """
    import logging, sys, threading
    from concurrent.futures import ThreadPoolExecutor
    from lognotify import capture_and_notify

    log = logging.getLogger("etl")
    with capture_and_notify(job_name="pool", echo=False):
        stop = threading.Event()

        def worker():
            while not stop.is_set():
                log.info("worker logging")

        with ThreadPoolExecutor(2) as pool:  # its exit joins the workers, as every such job does
            for _ in range(2):
                pool.submit(worker)
            try:  # "ready" inside: a SIGTERM right after it must find the `finally` armed
                sys.stdout.write("ready\\n")
                sys.stdout.flush()
                while True:
                    log.info("main thread logging")  # holding the handler's lock, often
            finally:
                stop.set()
    """
)


@pytest.mark.parametrize("attempt", range(12))
def test_sigterm_while_the_main_thread_holds_the_handler_lock_still_ends_with_143(
    tmp_path: Path, attempt: int
) -> None:
    script = tmp_path / "job.py"
    script.write_text(JOB)
    outbox = tmp_path / "outbox"
    proc = subprocess.Popen(
        [PYTHON, str(script)],
        env=clean_env(LOGNOTIFY_OUTBOX=str(outbox)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline() == b"ready\n"
    proc.send_signal(signal.SIGTERM)
    try:
        proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise AssertionError("the job hung after SIGTERM") from None
    assert proc.returncode == 143
    (message,) = outbox_messages(outbox)
    assert message["X-Lognotify-Reason"] == "terminated"
    assert message["X-Lognotify-Exit-Code"] == "143"
