"""How ``bench.py`` runs things and reads what they cost: wall time, a process's own CPU time,
its peak memory, and the local servers the wrappers report to. Standard library only, apart
from aiosmtpd (the ``test`` extra) for the SMTP sink.
"""

from __future__ import annotations

import http.server
import os
import shlex
import subprocess
import sys
import threading
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

LOG_LINE = "2026-01-01T00:00:00Z INFO etl: processed record 12345 of batch 42"
MIB = 1 << 20
POLL_SECONDS = 0.005  # how often VmHWM is read from /proc/<pid>/status
TICK = os.sysconf("SC_CLK_TCK")


class BenchError(Exception):
    """The benchmark itself could not run (not: a target was missed)."""


def producer(size: int, *, status: int = 0) -> list[str]:
    """A command writing ``size`` bytes of log lines to stdout, then exiting ``status``."""
    script = f"yes {shlex.quote(LOG_LINE)} | head -c {size}"
    return ["sh", "-c", f"{script}; exit {status}" if status else script]


def timed(argv: Sequence[str], env: Mapping[str, str], *, expect: int = 0) -> float:
    """Run ``argv`` to its end, output to /dev/null; its wall time in seconds."""
    start = time.perf_counter()
    proc = subprocess.run(
        argv,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        check=False,
    )
    elapsed = time.perf_counter() - start
    _check(argv, proc.returncode, expect, proc.stderr)
    return elapsed


def _check(argv: Sequence[str], code: int, expect: int, stderr: bytes = b"") -> None:
    if code != expect:
        said = stderr.decode(errors="replace").strip()[-500:]
        raise BenchError(f"{shlex.join(argv)} exited {code}, not {expect}: {said}")


def piped(
    argv: Sequence[str], consumer: Sequence[str], env: Mapping[str, str]
) -> tuple[float, float]:
    """``argv | consumer``: the wall time until both ended, and ``argv``'s own CPU seconds
    (user + system, not its children's), read from /proc while it is a zombie."""
    read_end, write_end = os.pipe()
    null = os.open(os.devnull, os.O_RDWR)
    start = time.perf_counter()
    reader = os.posix_spawnp(
        consumer[0],
        list(consumer),
        env,
        file_actions=[(os.POSIX_SPAWN_DUP2, read_end, 0), (os.POSIX_SPAWN_DUP2, null, 1)],
    )
    writer = os.posix_spawnp(
        argv[0],
        list(argv),
        env,
        file_actions=[
            (os.POSIX_SPAWN_DUP2, null, 0),
            (os.POSIX_SPAWN_DUP2, write_end, 1),
            (os.POSIX_SPAWN_DUP2, null, 2),
        ],
    )
    for fd in (read_end, write_end, null):
        os.close(fd)
    os.waitid(os.P_PID, writer, os.WEXITED | os.WNOWAIT)
    cpu = own_cpu(writer)
    _, status = os.waitpid(writer, 0)
    _, consumer_status = os.waitpid(reader, 0)
    elapsed = time.perf_counter() - start
    _check(argv, os.waitstatus_to_exitcode(status), 0)
    _check(consumer, os.waitstatus_to_exitcode(consumer_status), 0)
    return elapsed, cpu


def own_cpu(pid: int) -> float:
    """User + system seconds of ``pid`` itself (a zombie's are still there to read)."""
    with open(f"/proc/{pid}/stat", "rb") as info:
        fields = info.read().rsplit(b")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def alternate(runs: Mapping[str, Callable[[], object]], rounds: int) -> dict[str, list[object]]:
    """Call each of ``runs`` in turn, ``rounds`` times after one uncounted warm-up round."""
    samples: dict[str, list[object]] = {name: [] for name in runs}
    for round_ in range(rounds + 1):
        for name, run in runs.items():
            value = run()
            if round_:
                samples[name].append(value)
    return samples


# Runs its arguments as a child and prints that child's pid, then its ru_maxrss (KiB) and exit
# status. It stands between us and the program because at exec Linux counts the exec'ing
# process's memory into the new program's ru_maxrss: spawned straight from this (larger)
# process, the figure would be ours. A small `python -S` folds in only its own few MiB.
PEAK_RSS_CHILD = """\
import os, sys
null = os.open(os.devnull, os.O_WRONLY)
pid = os.posix_spawnp(sys.argv[1], sys.argv[1:], os.environ, file_actions=[
    (os.POSIX_SPAWN_DUP2, null, 0), (os.POSIX_SPAWN_DUP2, null, 1), (os.POSIX_SPAWN_DUP2, null, 2)])
print(pid, flush=True)
_, status, usage = os.wait4(pid, 0)
print(usage.ru_maxrss, os.waitstatus_to_exitcode(status), flush=True)
"""


def peak_memory(argv: Sequence[str], env: Mapping[str, str], *, expect: int = 0) -> tuple[int, int]:
    """Run ``argv``; its peak resident memory in bytes: (VmHWM polled from /proc, wait4's
    ru_maxrss). The polled figure is the process's own but blind to its last few ms; ru_maxrss
    covers its whole life but is the largest of it, its waited-for children and the small
    launcher it was exec'd from (PEAK_RSS_CHILD): an upper bound."""
    launcher = subprocess.Popen(
        [sys.executable, "-S", "-c", PEAK_RSS_CHILD, *argv],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert launcher.stdout is not None
    pid = int(launcher.stdout.readline())
    status_path = f"/proc/{pid}/status"
    hwm = 0
    while launcher.poll() is None:
        try:
            with open(status_path, "rb") as status:
                for row in status:
                    if row.startswith(b"VmHWM:"):
                        hwm = max(hwm, int(row.split()[1]) * 1024)
                        break
        except (FileNotFoundError, ProcessLookupError, ValueError):
            pass  # exited, or a zombie whose memory is gone already
        time.sleep(POLL_SECONDS)
    words = launcher.stdout.read().split()
    launcher.stdout.close()
    if launcher.returncode != 0 or len(words) != 2:
        raise BenchError(f"the peak-memory launcher failed for {shlex.join(argv)}")
    _check(argv, int(words[1]), expect)
    return hwm, int(words[0]) * 1024


class SmtpSink:
    """An aiosmtpd server on 127.0.0.1 that accepts and counts every message."""

    def __init__(self) -> None:
        try:
            from aiosmtpd.controller import Controller
        except ImportError as exc:
            raise BenchError("the SMTP sink needs aiosmtpd: pip install -e '.[test]'") from exc
        owner = self

        class Handler:
            async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
                owner.messages += 1
                return "250 OK"

        class PortZeroController(Controller):  # type: ignore[misc]
            def _trigger_server(self) -> None:
                # The kernel chose the port: learn it before the base class connects to it.
                self.port = self.server.sockets[0].getsockname()[1]
                super()._trigger_server()

        self.messages = 0
        self._controller = PortZeroController(Handler(), hostname="127.0.0.1", port=0)

    def __enter__(self) -> SmtpSink:
        self._controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._controller.stop()

    def env(self, base: Mapping[str, str]) -> dict[str, str]:
        """``base`` with lognotify's settings for mailing this sink."""
        return {
            **base,
            "LOGNOTIFY_SMTP_HOST": "127.0.0.1",
            "LOGNOTIFY_SMTP_SECURITY": "none",
            "LOGNOTIFY_SMTP_PORT": str(self._controller.port),
            "LOGNOTIFY_TO": "bench@example.com",
        }


class PingSink:
    """A Healthchecks-like ping endpoint on 127.0.0.1 (what runitor reports to): 200 to all."""

    def __init__(self) -> None:
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                owner.pings += 1
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"OK")

            do_GET = do_HEAD = do_POST

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.pings = 0
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> PingSink:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def load() -> str:
    """The load averages, as ``uptime`` prints them."""
    return " ".join(f"{x:.2f}" for x in os.getloadavg())
