"""lognotify's performance targets, measured in one run: ``python benchmarks/bench.py``.

Each figure compares lognotify with what it stands in for, on this machine, now: the commands
of a set run in turn (A B A B ...), after one warm-up round that is not counted, and the
figure is the ratio (or the difference) of their medians. Every figure is printed with its
target and PASS or FAIL, then all of them in one table; the exit status is 0 only when every
gated figure holds.

    passthrough-1M  W -- producer | dd bs=1M   over   producer | dd bs=1M   (300 MB of lines)
    passthrough     the same into dd's default 512-byte reads
    cpu             CPU seconds (user + system) the wrapper itself spends per GB passed through
    memory          peak memory (VmHWM, polled) of the wrapper for a run that prints 1 GB and
                    fails: the report (mailed to a local aiosmtpd) and error-line tracking in
    start-up        W -- true   over   python -c pass   (the same interpreter)
    report cost     lognotify -- false (mailing the local sink)  minus  lognotify -- true
    handler         200k records through TeeHandler  over  logging.StreamHandler
    library         100 MB printed inside capture_and_notify(capture="output") over outside
    watch-pass      lognotify watch: first pass over 5,000 Jobs and 20,000 pods (test API
    watch-memory    server, benchmarks/watch_scale.py), its seconds and its peak memory
    import          python -c "import lognotify"  over  python -c "import logging"

W is lognotify and each peer given: ``--peer runitor=PATH`` (its Healthchecks endpoint is
served on 127.0.0.1 here), ``--peer chronic=PATH``. With runitor given, the CPU figure's
target is runitor's own. Options: ``--quick`` (tiny inputs, one round: proves the script
runs, its figures mean nothing), ``--json``, ``--only NAME`` (repeatable).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path

import measure as m
from figures import CHECK_UUID, FIGURES, Context, Figure, Plan, Wrapper

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping, Sequence


QUICK = Plan(2_000_000, 1, 5_000_000, 1, 2, 1, 2_000, 1, 2_000_000, 1, 2, ("--quick",))


def lognotify_argv() -> list[str]:
    """The console script next to this interpreter, else ``python -m lognotify``."""
    script = Path(sys.executable).with_name("lognotify")
    if os.access(script, os.X_OK):
        return [str(script)]
    probe = subprocess.run(
        [sys.executable, "-c", "import lognotify.cli"], capture_output=True, check=False
    )
    if probe.returncode != 0:
        raise m.BenchError(f"lognotify is not installed for {sys.executable}")
    return [sys.executable, "-m", "lognotify"]


# --- the run -------------------------------------------------------------------------------


def measure(plan: Plan, names: Sequence[str], peers: Mapping[str, str]) -> Iterator[Figure]:
    """Yield each figure of ``names`` as soon as it is measured."""
    outbox = tempfile.mkdtemp(prefix="lognotify-bench-outbox-")
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOGNOTIFY_")}
    env["LOGNOTIFY_OUTBOX"] = outbox
    with m.PingSink() as ping:
        wrappers = [Wrapper("lognotify", (*lognotify_argv(), "--"))]
        if "runitor" in peers:
            wrappers.append(
                Wrapper(
                    "runitor", (peers["runitor"], "-api-url", ping.url, "-uuid", CHECK_UUID, "--")
                )
            )
        if "chronic" in peers:
            wrappers.append(Wrapper("chronic", (peers["chronic"],)))
        ctx = Context(plan, env, wrappers, ping)
        try:
            for name in names:
                yield from FIGURES[name](ctx)
        finally:
            subprocess.run(["rm", "-rf", outbox], check=False)


def shown(figure: Figure, value: float) -> str:
    if figure.unit == "x":
        return f"{value:.2f}x"
    return f"{value:.{2 if figure.unit.startswith('s') else 1}f} {figure.unit}"


def line(figure: Figure) -> str:
    """One figure as a line of text, as it is measured."""
    if figure.target is None:
        target, verdict = "(no target: printed)", "INFO"
    else:
        target = f"(target <= {shown(figure, figure.target)})"
        verdict = ("PASS" if figure.passed else "FAIL") + (
            "" if figure.gated else " (informational)"
        )
    peers = "".join(f", {name} {shown(figure, v)}" for name, v in figure.peers.items())
    return (
        f"{figure.name:<14} {shown(figure, figure.value):>9}  {target}  {verdict}"
        f"  [{figure.detail}{peers}]"
    )


def table(figures: Sequence[Figure], peers: Sequence[str]) -> list[str]:
    """All figures as one Markdown table, lognotify and each peer side by side."""
    rows = [
        f"| figure | lognotify | {' | '.join(peers)}{' | ' if peers else ''}target | verdict |",
        "|---|---|" + "---|" * len(peers) + "---|---|",
    ]
    for f in figures:
        cells = [shown(f, f.peers[p]) if p in f.peers else "" for p in peers]
        target = "printed" if f.target is None else f"<= {shown(f, f.target)}"
        verdict = ("PASS" if f.passed else "FAIL") + ("" if f.gated else " (informational)")
        verdict = "printed" if f.target is None else verdict
        rows.append(
            f"| {f.title} | {shown(f, f.value)} | {' | '.join(cells)}"
            f"{' | ' if peers else ''}{target} | {verdict} |"
        )
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; 0 when every gated target holds, 1 when one fails, 2 on error."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny inputs, one round")
    parser.add_argument("--json", action="store_true", help="print results as JSON")
    parser.add_argument(
        "--only",
        action="append",
        choices=sorted(FIGURES),
        metavar="NAME",
        help=f"measure only this; repeatable ({', '.join(FIGURES)})",
    )
    parser.add_argument(
        "--peer",
        action="append",
        default=[],
        metavar="NAME=PATH",
        help="also measure runitor=PATH or chronic=PATH",
    )
    args = parser.parse_args(argv)
    peers = dict(peer.split("=", 1) for peer in args.peer)
    if set(peers) - {"runitor", "chronic"}:
        parser.error("--peer takes runitor=PATH or chronic=PATH")
    plan = QUICK if args.quick else Plan()
    about = {
        "nproc": str(os.cpu_count()),
        "python": f"{platform.python_version()} ({sys.executable})",
        "platform": platform.platform(),
        "load_before": m.load(),
    }
    say = (lambda text: None) if args.json else (lambda text: print(text, flush=True))
    say(f"machine        nproc {about['nproc']}, python {about['python']}, {about['platform']}")
    say(f"load before    {about['load_before']}")
    if args.quick:
        say("quick run: tiny inputs, one round; the figures mean nothing")
    figures = []
    try:
        for figure in measure(plan, args.only or list(FIGURES), peers):
            figures.append(figure)
            say(line(figure))
    except m.BenchError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 2
    about["load_after"] = m.load()
    ok = all(f.passed for f in figures if f.gated)
    if args.json:
        print(
            json.dumps(
                {
                    "machine": about,
                    "quick": args.quick,
                    "ok": ok,
                    "figures": [{**asdict(f), "passed": f.passed} for f in figures],
                },
                indent=2,
            )
        )
        return 0 if ok else 1
    say(f"load after     {about['load_after']}")
    say("")
    for row in table(figures, list(peers)):
        say(row)
    failed = [f.name for f in figures if f.gated and not f.passed]
    say("")
    say("all targets hold" if ok else f"targets missed: {', '.join(failed)}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
