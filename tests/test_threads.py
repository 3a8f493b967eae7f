"""threads.start: a daemon thread, threading's when it is loaded (so tracers see it)."""

from __future__ import annotations

import subprocess
import sys
import threading

from lognotify import threads


def test_with_threading_loaded_the_thread_is_threadings_and_named() -> None:
    seen: list[tuple[str, bool]] = []
    done = threading.Event()

    def work() -> None:
        current = threading.current_thread()
        seen.append((current.name, current.daemon))
        done.set()

    threads.start(work, "lognotify-test")
    assert done.wait(10)
    assert seen == [("lognotify-test", True)]


def test_without_threading_loaded_it_is_not_imported_to_start_one() -> None:
    code = (
        "import sys, os\n"
        "from lognotify import threads\n"
        "r, w = os.pipe()\n"
        "threads.start(lambda: os.write(w, b'ran'), 'x')\n"
        "print(os.read(r, 3).decode(), 'threading' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-S", "-c", f"import sys; sys.path[:0] = {sys.path!r}\n{code}"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stdout.split() == ["ran", "False"]
