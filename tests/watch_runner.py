"""The watcher as a real process, for the tests: ``python watch_runner.py OUT [options]``.

It calls ``run_watch`` (the Kubernetes API from KUBECONFIG) with a report function that appends
one JSON line to OUT when a report begins (``{"event": "begin", ...}``) and one when it is
taken (``"taken"``) or refused (``"refused"``). ``--hold FIFO``: each report waits for a line
written to that named pipe before it is taken, so that a test can send a signal while a report
is in flight. ``--refuse N``: the first N reports are not taken. Exits with run_watch's status.
"""

from __future__ import annotations

import argparse
import json
import sys

from lognotify.kubernetes.watch import Incident, WatchOptions, run_watch


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--once", action="store_true")
    parser.add_argument("--namespace", action="append", default=[])
    parser.add_argument("--selector")
    parser.add_argument("--stuck-after", type=float, default=600.0)
    parser.add_argument("--state-namespace")
    parser.add_argument("--hold")
    parser.add_argument("--refuse", type=int, default=0)
    args = parser.parse_args(argv)
    refused = 0

    def write(event: str, incident: Incident) -> None:
        line = {
            "event": event,
            "kind": incident.kind,
            "key": incident.key,
            "job": incident.job,
            "reason": incident.reason_code,
        }
        with open(args.out, "a", encoding="utf-8") as out:
            out.write(json.dumps(line) + "\n")

    def report(incident: Incident) -> bool:
        nonlocal refused
        write("begin", incident)
        if args.hold:
            with open(args.hold, encoding="utf-8") as fifo:
                fifo.readline()
        if refused < args.refuse:
            refused += 1
            write("refused", incident)
            return False
        write("taken", incident)
        return True

    options = WatchOptions(
        namespaces=tuple(args.namespace),
        selector=args.selector,
        stuck_after=args.stuck_after,
        once=args.once,
        state_namespace=args.state_namespace,
    )
    return run_watch(options, report)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
