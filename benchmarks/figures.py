"""The figures of ``bench.py``: each runs its commands and returns what it measured."""

from __future__ import annotations

import re
import shlex
import statistics
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import measure as m

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

HERE = Path(__file__).resolve().parent
FAST_READER = ["dd", "of=/dev/null", "bs=1M", "status=none"]  # as a container runtime reads
SLOW_READER = ["dd", "of=/dev/null", "status=none"]  # 512-byte reads
CHECK_UUID = "5bf66975-d4c7-4bf3-bcc1-8050be0a8b1a"
CHILDREN = {  # small programs the figures run, each timing itself
    "handler": HERE / "handler_child.py",
    "library": HERE / "library_child.py",
}


@dataclass(frozen=True)
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
    library_bytes: int = 100_000_000
    library_rounds: int = 5
    import_rounds: int = 40
    watch_args: tuple[str, ...] = ("--rounds", "1")  # churn: one round, the least it takes


@dataclass(frozen=True)
class Figure:
    """One figure: lognotify's value, each peer's, the target (None: printed, not gated)."""

    name: str
    title: str
    value: float
    unit: str  # "x" for a ratio, else the unit of an amount
    target: float | None
    detail: str
    gated: bool = True
    peers: dict[str, float] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.target is None or self.value <= self.target


@dataclass(frozen=True)
class Wrapper:
    """How to run a command under lognotify or a peer."""

    name: str
    prefix: tuple[str, ...]

    def argv(self, command: Sequence[str]) -> list[str]:
        return [*self.prefix, *command]


@dataclass
class Context:
    plan: Plan
    env: dict[str, str]
    wrappers: list[Wrapper]  # lognotify first
    ping: m.PingSink


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def ratio(samples: Mapping[str, list[float]], base: str, subject: str) -> float:
    return median(samples[subject]) / median(samples[base])


def passthrough(ctx: Context) -> list[Figure]:
    make = m.producer(ctx.plan.passthrough_bytes)
    readers = {"bs=1M": FAST_READER, "512": SLOW_READER}
    runs: dict[str, Callable[[], object]] = {}
    for kind, reader in readers.items():
        runs[f"bare {kind}"] = lambda r=reader: m.piped(make, r, ctx.env)
        for w in ctx.wrappers:
            runs[f"{w.name} {kind}"] = lambda r=reader, w=w: m.piped(w.argv(make), r, ctx.env)
    taken = m.alternate(runs, ctx.plan.passthrough_rounds)
    wall = {name: [s[0] for s in got] for name, got in taken.items()}  # type: ignore[index]
    cpu = {name: [s[1] for s in got] for name, got in taken.items()}  # type: ignore[index]
    figures = []
    for kind, target, title in (
        ("bs=1M", 1.5, "passthrough into dd bs=1M, over bare"),
        ("512", 1.2, "passthrough into dd (512-byte reads), over bare"),
    ):
        peers = {w.name: ratio(wall, f"bare {kind}", f"{w.name} {kind}") for w in ctx.wrappers}
        detail = ", ".join(
            f"{name} {median(wall[name]) * 1000:.0f} ms"
            for name in wall
            if name.endswith(f" {kind}")
        )
        figures.append(
            Figure(
                "passthrough-1M" if kind == "bs=1M" else "passthrough",
                title,
                peers.pop("lognotify"),
                "x",
                target,
                f"{detail}; median of {ctx.plan.passthrough_rounds}",
                peers=peers,
            )
        )
    gigabytes = ctx.plan.passthrough_bytes / 1e9
    per_gb = {w.name: median(cpu[f"{w.name} bs=1M"]) / gigabytes for w in ctx.wrappers}
    own = per_gb.pop("lognotify")
    target = per_gb.get("runitor")
    figures.append(
        Figure(
            "cpu",
            "CPU s per GB passed through (the wrapper's own)",
            own,
            "s/GB",
            target,
            "user + system of the wrapper process alone, into dd bs=1M"
            + ("" if target is not None else "; no runitor given: not gated"),
            peers=per_gb,
        )
    )
    return figures


def memory(ctx: Context) -> list[Figure]:
    command = m.producer(ctx.plan.memory_bytes, status=3)
    polled: dict[str, list[float]] = {w.name: [] for w in ctx.wrappers}
    whole: list[float] = []
    with m.SmtpSink() as sink:
        env = sink.env(ctx.env)
        for _ in range(ctx.plan.memory_rounds):
            for w in ctx.wrappers:
                hwm, maxrss = m.peak_memory(w.argv(command), env, expect=3)
                polled[w.name].append(hwm / m.MIB)
                if w.name == "lognotify":
                    whole.append(maxrss / m.MIB)
        if sink.messages != ctx.plan.memory_rounds:
            raise m.BenchError(
                f"the sink got {sink.messages} reports, not {ctx.plan.memory_rounds}"
            )
    peers = {name: median(values) for name, values in polled.items()}
    detail = (
        f"{ctx.plan.memory_bytes / 1e9:g} GB printed, exit 3, report mailed to aiosmtpd; "
        f"wait4 ru_maxrss (an upper bound) {median(whole):.1f} MiB; median of "
        f"{ctx.plan.memory_rounds}"
    )
    return [
        Figure(
            "memory",
            "peak memory (VmHWM, polled), failing run printing 1 GB",
            peers.pop("lognotify"),
            "MiB",
            20.0,
            detail,
            peers=peers,
        )
    ]


def startup(ctx: Context) -> list[Figure]:
    runs: dict[str, Callable[[], object]] = {
        "python": lambda: m.timed([sys.executable, "-c", "pass"], ctx.env)
    }
    for w in ctx.wrappers:
        runs[w.name] = lambda w=w: m.timed(w.argv(["true"]), ctx.env)
    got: dict[str, list[float]] = m.alternate(runs, ctx.plan.startup_rounds)  # type: ignore[assignment]
    peers = {w.name: ratio(got, "python", w.name) for w in ctx.wrappers}
    detail = ", ".join(f"{name} {median(values) * 1000:.1f} ms" for name, values in got.items())
    return [
        Figure(
            "start-up",
            "start-up, W -- true over python -c pass",
            peers.pop("lognotify"),
            "x",
            1.6,
            f"{detail}; median of {ctx.plan.startup_rounds}",
            peers=peers,
        )
    ]


def report_cost(ctx: Context) -> list[Figure]:
    ln = ctx.wrappers[0]
    with m.SmtpSink() as sink:
        env = sink.env(ctx.env)
        got: dict[str, list[float]] = m.alternate(
            {  # type: ignore[assignment]
                "true": lambda: m.timed(ln.argv(["true"]), env),
                "false": lambda: m.timed(ln.argv(["false"]), env, expect=1),
            },
            ctx.plan.report_rounds,
        )
        sent = sink.messages
    if sent != ctx.plan.report_rounds + 1:
        raise m.BenchError(f"the sink received {sent} reports, not {ctx.plan.report_rounds + 1}")
    quiet, loud = median(got["true"]), median(got["false"])
    detail = (
        f"-- true {quiet * 1000:.1f} ms, -- false {loud * 1000:.1f} ms, {sent} reports "
        f"received; median of {ctx.plan.report_rounds}"
    )
    return [
        Figure(
            "report cost",
            "report cost (mail to a local aiosmtpd)",
            (loud - quiet) * 1000,
            "ms",
            100.0,
            detail,
        )
    ]


def _child_seconds(argv: Sequence[str], env: Mapping[str, str]) -> float:
    out = subprocess.run(argv, env=env, capture_output=True, check=False)
    if out.returncode != 0:
        raise m.BenchError(f"{argv[-1]} failed: {out.stderr.decode(errors='replace')[-500:]}")
    return float(out.stderr.decode().split()[-1])


def handler(ctx: Context) -> list[Figure]:
    def child(kind: str) -> Callable[[], object]:
        argv = [sys.executable, str(CHILDREN["handler"]), kind, str(ctx.plan.handler_records)]
        return lambda: _child_seconds(argv, ctx.env)

    got: dict[str, list[float]] = m.alternate(  # type: ignore[assignment]
        {"StreamHandler": child("stream"), "TeeHandler": child("tee")}, ctx.plan.handler_rounds
    )
    detail = ", ".join(f"{k} {median(v):.3f} s" for k, v in got.items())
    return [
        Figure(
            "handler",
            "TeeHandler over StreamHandler, 200k records",
            ratio(got, "StreamHandler", "TeeHandler"),
            "x",
            1.15,
            f"{detail}; median of {ctx.plan.handler_rounds}",
        )
    ]


def library(ctx: Context) -> list[Figure]:
    def child(where: str) -> Callable[[], object]:
        writer = [sys.executable, str(CHILDREN["library"]), where, str(ctx.plan.library_bytes)]
        argv = ["sh", "-c", f"{shlex.join(writer)} | {shlex.join(FAST_READER)}"]
        return lambda: _child_seconds(argv, ctx.env)

    got: dict[str, list[float]] = m.alternate(  # type: ignore[assignment]
        {"outside": child("outside"), "inside": child("inside")}, ctx.plan.library_rounds
    )
    detail = ", ".join(f"{k} {median(v) * 1000:.0f} ms" for k, v in got.items())
    return [
        Figure(
            "library",
            'library capture="output", 100 MB inside the block over outside',
            ratio(got, "outside", "inside"),
            "x",
            1.5,
            f"{detail} (into a pipe read by dd bs=1M); median of {ctx.plan.library_rounds}",
        )
    ]


def watch(ctx: Context) -> list[Figure]:
    argv = [sys.executable, str(HERE / "watch_scale.py"), *ctx.plan.watch_args]
    run = subprocess.run(
        argv, env=ctx.env, capture_output=True, text=True, check=False, timeout=900
    )
    found = re.search(
        r"first pass \(--once\): ([\d.]+) s, (\d+) reported.*peak RSS (\d+) MiB", run.stdout
    )
    if found is None:
        raise m.BenchError(f"watch_scale.py printed no first pass: {run.stderr[-500:]}")
    seconds, reported, mib = float(found[1]), int(found[2]), float(found[3])
    cluster = run.stdout.splitlines()[0].removeprefix("cluster: ").split(";")[0]
    detail = f"{cluster}; {reported} reported"
    return [
        Figure(
            "watch-pass",
            "lognotify watch: first pass over 5,000 Jobs, 20,000 pods",
            seconds,
            "s",
            5.0,
            detail,
        ),
        Figure(
            "watch-memory",
            "lognotify watch: peak memory of that pass",
            mib,
            "MiB",
            200.0,
            "ru_maxrss of the watching process",
        ),
    ]


def imports(ctx: Context) -> list[Figure]:
    def python(code: str) -> Callable[[], object]:
        return lambda: m.timed([sys.executable, "-c", code], ctx.env)

    got: dict[str, list[float]] = m.alternate(
        {  # type: ignore[assignment]
            "logging": python("import logging"),
            "lognotify": python("import lognotify"),
            "capture_and_notify": python("from lognotify import capture_and_notify"),
        },
        ctx.plan.import_rounds,
    )
    detail = ", ".join(f"{k} {median(v) * 1000:.1f} ms" for k, v in got.items())
    return [
        Figure(
            "import",
            "import lognotify over import logging",
            ratio(got, "logging", "lognotify"),
            "x",
            1.5,
            detail,
        ),
        Figure(
            "import-api",
            "from lognotify import capture_and_notify, over logging",
            ratio(got, "logging", "capture_and_notify"),
            "x",
            1.5,
            detail,
            gated=False,
        ),
    ]


FIGURES: dict[str, Callable[[Context], list[Figure]]] = {
    "passthrough": passthrough,
    "memory": memory,
    "start-up": startup,
    "report cost": report_cost,
    "handler": handler,
    "library": library,
    "watch": watch,
    "import": imports,
}
