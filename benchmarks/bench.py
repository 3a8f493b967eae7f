"""lognotify's performance targets, measured in one run: ``python benchmarks/bench.py``.

Each figure compares lognotify with what it stands in for, on this machine, now: the two
commands of a pair run alternately (A B A B ...), after one warm-up round that is not counted,
and the figure is the ratio (or the difference) of their medians. Every figure is printed with
its target and PASS or FAIL; the exit status is 0 only when every gated figure holds.

    passthrough  lognotify -- producer | dd   over   producer | dd          (300 MB of log lines)
                 (and, informational, passthrough-1M: the same with dd bs=1M, a fast reader)
    memory       peak RSS of the lognotify process while 1 GB passes through
    start-up     lognotify -- true            over   python -c pass         (same interpreter)
    report cost  lognotify -- false (mail to a local SMTP sink)  minus  lognotify -- true
    handler      200k records through TeeHandler  over  logging.StreamHandler (to /dev/null)
    import       python -c "import lognotify"  over  python -c "import logging"
    import-api   python -c "from lognotify import capture_and_notify"  over  the same
                 (informational: the package root imports lazily, so this is the honest one)

Options: ``--quick`` (tiny inputs, one round: proves the script runs, its figures mean
nothing), ``--json`` (results as one JSON object on stdout), ``--only NAME`` (repeatable).
Standard library only, apart from aiosmtpd for the report-cost sink (the ``test`` extra).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping, Sequence

LOG_LINE = "2026-01-01T00:00:00Z INFO etl: processed record 12345 of batch 42"
CONSUMER = "dd of=/dev/null status=none"
# A reader that takes what is there in one go, as a container runtime does (informational).
FAST_CONSUMER = "dd of=/dev/null bs=1M status=none"
MIB = 1 << 20
# How often the memory figure looks at /proc/<pid>/status while lognotify runs.
POLL_SECONDS = 0.005
SINK_RECIPIENT = "bench@example.com"

HANDLER_CHILD = """\
import logging, os, sys, time
kind, count = sys.argv[1], int(sys.argv[2])
stream = open(os.devnull, "w")
if kind == "tee":
    from lognotify import TeeHandler
    handler = TeeHandler(stream)
else:
    handler = logging.StreamHandler(stream)
handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
log = logging.getLogger("etl")
log.propagate = False
log.setLevel(logging.INFO)
log.addHandler(handler)
start = time.perf_counter()
for i in range(count):
    log.info("processed record %d of batch %d", i, 42)
print(time.perf_counter() - start)
"""


@dataclass(frozen=True, slots=True)
class Plan:
    """Sizes and repetitions of one benchmark run."""

    passthrough_bytes: int = 300_000_000
    passthrough_rounds: int = 7
    memory_bytes: int = 1_000_000_000
    memory_rounds: int = 3
    startup_rounds: int = 40
    report_rounds: int = 15
    handler_records: int = 200_000
    handler_rounds: int = 7
    import_rounds: int = 40


QUICK = Plan(
    passthrough_bytes=2_000_000,
    passthrough_rounds=1,
    memory_bytes=5_000_000,
    memory_rounds=1,
    startup_rounds=2,
    report_rounds=1,
    handler_records=2_000,
    handler_rounds=1,
    import_rounds=2,
)


@dataclass(frozen=True, slots=True)
class Figure:
    """One measured figure, its target (the figure must be at most that) and how it was got."""

    name: str
    value: float
    unit: str  # "x" for a ratio, "ms" or "MiB" for an amount
    target: float
    detail: str
    gated: bool = True
    samples: dict[str, list[float]] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.value <= self.target


class BenchError(Exception):
    """The benchmark itself could not run (not: a target was missed)."""


# --- running things ----------------------------------------------------------------------


def lognotify_argv() -> list[str]:
    """The console script next to this interpreter, else ``python -m lognotify``."""
    script = os.path.join(os.path.dirname(sys.executable), "lognotify")
    if os.access(script, os.X_OK):
        return [script]
    probe = subprocess.run(
        [sys.executable, "-c", "import lognotify.cli"], capture_output=True, check=False
    )
    if probe.returncode != 0:
        raise BenchError(f"lognotify is not installed for {sys.executable}")
    return [sys.executable, "-m", "lognotify"]


def base_env(outbox: str) -> dict[str, str]:
    """Our environment without any LOGNOTIFY_ setting, and with a private outbox."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOGNOTIFY_")}
    env["LOGNOTIFY_OUTBOX"] = outbox
    return env


def producer(size: int) -> str:
    """A shell command writing ``size`` bytes of log lines to stdout."""
    return f"yes {shlex.quote(LOG_LINE)} | head -c {size}"


def timed(argv: Sequence[str], env: Mapping[str, str], *, expect: int = 0) -> float:
    """Run ``argv`` to its end; its wall time in seconds. Output goes to /dev/null."""
    start = time.perf_counter()
    proc = subprocess.run(
        argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, check=False,
    )
    elapsed = time.perf_counter() - start
    if proc.returncode != expect:
        raise BenchError(
            f"{shlex.join(argv)} exited {proc.returncode}, not {expect}: "
            f"{proc.stderr.decode(errors='replace').strip()[-500:]}"
        )
    return elapsed


def alternate(runs: Mapping[str, Callable[[], float]], rounds: int) -> dict[str, list[float]]:
    """Call each of ``runs`` in turn, ``rounds`` times after one uncounted warm-up round."""
    samples: dict[str, list[float]] = {name: [] for name in runs}
    for round_ in range(rounds + 1):
        for name, run in runs.items():
            value = run()
            if round_:
                samples[name].append(value)
    return samples


def ratio_figure(
    name: str,
    samples: dict[str, list[float]],
    base: str,
    subject: str,
    target: float,
    unit: str = "s",
    gated: bool = True,
) -> Figure:
    """``subject``'s median over ``base``'s median."""
    b, s = statistics.median(samples[base]), statistics.median(samples[subject])
    scale, shown = (1000.0, "ms") if unit == "s" and b < 0.5 else (1.0, unit)
    detail = (
        f"{base} {b * scale:.{3 if shown == 's' else 1}f} {shown}, "
        f"{subject} {s * scale:.{3 if shown == 's' else 1}f} {shown}, "
        f"median of {len(samples[base])}"
    )
    return Figure(name, s / b, "x", target, detail, gated, {k: samples[k] for k in (base, subject)})


# --- the figures ---------------------------------------------------------------------------


def passthrough(plan: Plan, ln: list[str], env: Mapping[str, str]) -> list[Figure]:
    make = producer(plan.passthrough_bytes)
    bare = ["sh", "-c", f"{make} | {CONSUMER}"]
    wrapped = ["sh", "-c", f"{shlex.join([*ln, '--', 'sh', '-c', make])} | {CONSUMER}"]
    fast_bare = ["sh", "-c", f"{make} | {FAST_CONSUMER}"]
    fast_wrapped = ["sh", "-c", f"{shlex.join([*ln, '--', 'sh', '-c', make])} | {FAST_CONSUMER}"]
    samples = alternate(
        {
            "bare": lambda: timed(bare, env),
            "lognotify": lambda: timed(wrapped, env),
            "bare bs=1M": lambda: timed(fast_bare, env),
            "lognotify bs=1M": lambda: timed(fast_wrapped, env),
        },
        plan.passthrough_rounds,
    )
    return [
        ratio_figure("passthrough", samples, "bare", "lognotify", 1.4),
        ratio_figure(
            "passthrough-1M", samples, "bare bs=1M", "lognotify bs=1M", 1.4, gated=False
        ),
    ]


# Runs its arguments as a child and prints that child's pid, then its ru_maxrss (KiB) and exit
# status. It stands between us and lognotify because at exec Linux counts the exec'ing process's
# memory into the new program's ru_maxrss: spawned straight from this (larger) process, the
# figure would be ours. A small `python -S` folds in only its own few MiB.
PEAK_RSS_CHILD = """\
import os, sys
null = os.open(os.devnull, os.O_WRONLY)
pid = os.posix_spawnp(sys.argv[1], sys.argv[1:], os.environ, file_actions=[
    (os.POSIX_SPAWN_DUP2, null, 0), (os.POSIX_SPAWN_DUP2, null, 1), (os.POSIX_SPAWN_DUP2, null, 2)])
print(pid, flush=True)
_, status, usage = os.wait4(pid, 0)
print(usage.ru_maxrss, os.waitstatus_to_exitcode(status), flush=True)
"""


def peak_rss(argv: Sequence[str], env: Mapping[str, str]) -> tuple[int, int]:
    """Run ``argv``; its peak RSS in bytes, as (VmHWM polled from /proc, wait4's ru_maxrss).

    The polled figure is the process's own, but misses what grows in the last poll interval
    before it exits. ru_maxrss covers the whole life, but is the largest of the process, its
    waited-for descendants (here sh, yes and head: small) and the small launcher it was
    exec'd from (see PEAK_RSS_CHILD), so it bounds the process's own from above.
    """
    launcher = subprocess.Popen(
        [sys.executable, "-S", "-c", PEAK_RSS_CHILD, *argv],
        env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True,
    )
    stdout = launcher.stdout
    if stdout is None:  # never, with stdout=PIPE; this tells a type checker so
        raise BenchError("no pipe from the peak-RSS launcher")
    pid = int(stdout.readline())
    status_path = f"/proc/{pid}/status"
    hwm = 0
    while launcher.poll() is None:
        try:
            with open(status_path, "rb") as f:
                for line in f:
                    if line.startswith(b"VmHWM:"):
                        hwm = max(hwm, int(line.split()[1]) * 1024)
                        break
        except (FileNotFoundError, ProcessLookupError, ValueError):
            pass  # exited, or a zombie whose memory is gone already
        time.sleep(POLL_SECONDS)
    words = stdout.read().split()
    stdout.close()
    if launcher.returncode != 0 or len(words) != 2:
        raise BenchError(f"the peak-RSS launcher failed for {shlex.join(argv)}")
    maxrss_kib, code = int(words[0]), int(words[1])
    if code != 0:
        raise BenchError(f"{shlex.join(argv)} exited {code}")
    return hwm, maxrss_kib * 1024


def memory(plan: Plan, ln: list[str], env: Mapping[str, str]) -> list[Figure]:
    argv = [*ln, "--", "sh", "-c", producer(plan.memory_bytes)]
    polled, whole = [], []
    for _ in range(plan.memory_rounds):
        hwm, maxrss = peak_rss(argv, env)
        polled.append(hwm / MIB)
        whole.append(maxrss / MIB)
    value = statistics.median(whole)
    detail = (
        f"wait4 ru_maxrss {value:.1f} MiB, polled VmHWM {statistics.median(polled):.1f} MiB, "
        f"{plan.memory_bytes / 1e9:g} GB through, median of {plan.memory_rounds}"
    )
    return [Figure("memory", value, "MiB", 32.0, detail,
                   samples={"ru_maxrss": whole, "VmHWM": polled})]


def startup(plan: Plan, ln: list[str], env: Mapping[str, str]) -> list[Figure]:
    python = [sys.executable, "-c", "pass"]
    wrapped = [*ln, "--", "true"]
    samples = alternate(
        {"python": lambda: timed(python, env), "lognotify": lambda: timed(wrapped, env)},
        plan.startup_rounds,
    )
    return [ratio_figure("start-up", samples, "python", "lognotify", 2.0)]


class Sink:
    """An aiosmtpd server on 127.0.0.1 that accepts and counts every message."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

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

    def __enter__(self) -> Sink:
        self._controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._controller.stop()

    @property
    def port(self) -> int:
        return int(self._controller.port)


def report_cost(plan: Plan, ln: list[str], env: Mapping[str, str]) -> list[Figure]:
    try:
        import aiosmtpd  # noqa: F401
    except ImportError as exc:
        raise BenchError("report cost needs aiosmtpd: pip install -e '.[test]'") from exc
    with Sink() as sink:
        mail_env = {
            **env,
            "LOGNOTIFY_SMTP_HOST": "127.0.0.1",
            "LOGNOTIFY_SMTP_PORT": str(sink.port),
            "LOGNOTIFY_SMTP_SECURITY": "none",
            "LOGNOTIFY_TO": SINK_RECIPIENT,
        }
        ok, failing = [*ln, "--", "true"], [*ln, "--", "false"]
        samples = alternate(
            {
                "true": lambda: timed(ok, mail_env),
                "false": lambda: timed(failing, mail_env, expect=1),
            },
            plan.report_rounds,
        )
        sent = sink.messages
    if sent != plan.report_rounds + 1:
        raise BenchError(f"the sink received {sent} reports, not {plan.report_rounds + 1}")
    quiet, loud = statistics.median(samples["true"]), statistics.median(samples["false"])
    detail = (
        f"true {quiet * 1000:.1f} ms, false {loud * 1000:.1f} ms, {sent} reports received, "
        f"median of {plan.report_rounds}"
    )
    return [Figure("report cost", (loud - quiet) * 1000, "ms", 150.0, detail, samples=samples)]


def handler(plan: Plan, ln: list[str], env: Mapping[str, str]) -> list[Figure]:
    def child(kind: str) -> Callable[[], float]:
        argv = [sys.executable, "-c", HANDLER_CHILD, kind, str(plan.handler_records)]

        def run() -> float:
            out = subprocess.run(argv, env=env, capture_output=True, check=False)
            if out.returncode != 0:
                raise BenchError(f"handler child ({kind}) failed: {out.stderr.decode()[-500:]}")
            return float(out.stdout)

        return run

    samples = alternate(
        {"StreamHandler": child("stream"), "TeeHandler": child("tee")}, plan.handler_rounds
    )
    figure = ratio_figure("handler", samples, "StreamHandler", "TeeHandler", 1.25)
    detail = f"{figure.detail}, {plan.handler_records} records"
    return [Figure(figure.name, figure.value, "x", figure.target, detail, samples=samples)]


def imports(plan: Plan, ln: list[str], env: Mapping[str, str]) -> list[Figure]:
    def python(code: str) -> Callable[[], float]:
        return lambda: timed([sys.executable, "-c", code], env)

    samples = alternate(
        {
            "logging": python("import logging"),
            "lognotify": python("import lognotify"),
            "capture_and_notify": python("from lognotify import capture_and_notify"),
        },
        plan.import_rounds,
    )
    return [
        ratio_figure("import", samples, "logging", "lognotify", 1.5),
        ratio_figure("import-api", samples, "logging", "capture_and_notify", 1.5, gated=False),
    ]


FIGURES: dict[str, Callable[[Plan, list[str], Mapping[str, str]], list[Figure]]] = {
    "passthrough": passthrough,
    "memory": memory,
    "start-up": startup,
    "report cost": report_cost,
    "handler": handler,
    "import": imports,
}


# --- the run -------------------------------------------------------------------------------


def machine() -> dict[str, str]:
    """What the figures were measured on."""
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return {
        "nproc": str(os.cpu_count()),
        "python": f"{platform.python_version()} ({sys.executable})",
        "platform": platform.platform(),
        "loadavg": load,
    }


def editable_finder_ms() -> float | None:
    """What an editable install's import finder adds to every start of this interpreter, in ms.

    None when lognotify is not installed editable. The finder is loaded by a .pth file at
    every start (with pathlib, re and more), so it slows down both sides of start-up and
    import: with it the ratios look better than they are where lognotify is installed from
    a wheel, as in the container image.
    """
    from importlib.metadata import PackageNotFoundError, distribution

    try:
        direct_url = distribution("lognotify").read_text("direct_url.json")
    except PackageNotFoundError:
        return None
    if not direct_url or not json.loads(direct_url).get("dir_info", {}).get("editable"):
        return None
    costs = []
    for _ in range(5):
        run = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", "pass"],
            capture_output=True, text=True, check=False,
        )
        micros = 0
        for row in run.stderr.splitlines():
            parts = row.split("|")
            if len(parts) == 3 and parts[2].strip().startswith("__editable__"):
                micros += int(parts[1])
        costs.append(micros / 1000)
    return statistics.median(costs)


def measure(plan: Plan, names: Sequence[str]) -> Iterator[Figure]:
    """Yield each figure of ``names`` as soon as it is measured."""
    ln = lognotify_argv()
    outbox = tempfile.mkdtemp(prefix="lognotify-bench-outbox-")
    try:
        env = base_env(outbox)
        for name in names:
            yield from FIGURES[name](plan, ln, env)
    finally:
        shutil.rmtree(outbox, ignore_errors=True)


def line(figure: Figure) -> str:
    """One figure as a line of text."""
    value = f"{figure.value:.2f}x" if figure.unit == "x" else f"{figure.value:.1f} {figure.unit}"
    target = f"{figure.target:g}" if figure.unit == "x" else f"{figure.target:g} {figure.unit}"
    verdict = "PASS" if figure.passed else "FAIL"
    if not figure.gated:
        verdict += " (informational)"
    return f"{figure.name:<14} {value:>9}  (target <= {target})  {verdict}  [{figure.detail}]"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; 0 when every gated target holds, 1 when one fails, 2 on error."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny inputs, one round")
    parser.add_argument("--json", action="store_true", help="print results as JSON")
    parser.add_argument(
        "--only", action="append", choices=sorted(FIGURES), metavar="NAME",
        help=f"measure only this figure; repeatable ({', '.join(FIGURES)})",
    )
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else Plan()
    names = args.only or list(FIGURES)
    about = machine()
    finder = editable_finder_ms()
    if not args.json:
        print(f"machine        nproc {about['nproc']}, python {about['python']}, "
              f"{about['platform']}, load {about['loadavg']}", flush=True)
        if finder is not None:
            print(f"note           lognotify is installed editable: its finder adds {finder:.1f} ms "
                  "to every start of this python, on both sides of start-up and import, so "
                  "those ratios look better than from a wheel install", flush=True)
        if args.quick:
            print("quick run: tiny inputs, one round; the figures mean nothing", flush=True)
    figures = []
    try:
        for figure in measure(plan, names):
            figures.append(figure)
            if not args.json:
                print(line(figure), flush=True)
    except BenchError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 2
    ok = all(f.passed for f in figures if f.gated)
    if args.json:
        result = {
            "machine": about,
            "editable_finder_ms": finder,
            "quick": args.quick,
            "ok": ok,
            "figures": [{**asdict(f), "passed": f.passed} for f in figures],
        }
        print(json.dumps(result, indent=2))
    else:
        print(f"load after     {machine()['loadavg']}")
        failed = [f.name for f in figures if f.gated and not f.passed]
        print("all targets hold" if ok else f"targets missed: {', '.join(failed)}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
