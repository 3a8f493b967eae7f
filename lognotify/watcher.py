"""``lognotify watch``: the cluster watcher's entry, wired to the same report as the wrapper.

The watcher (``lognotify.kubernetes.watch``) finds the Jobs that failed for good and the pods
that never started; each incident becomes a RunResult in mode ``watch`` and goes through the
one report path: templates, redaction, delivery, outbox.
"""

from __future__ import annotations

import shlex

from lognotify import exits
from lognotify.errors import ConfigError
from lognotify.outcome import Reason, RunResult, signal_name
from lognotify.settings import load_settings
from lognotify.settings.table import SPECS, flag_arguments

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from typing import NoReturn

    from lognotify.console import Console
    from lognotify.kubernetes.watch.model import Incident
    from lognotify.settings.model import Settings

_SENTENCES = {
    "oom": ("ran out of memory (its container was OOMKilled)", "out of memory"),
    "deadline": ("ran past its activeDeadlineSeconds (DeadlineExceeded)", "deadline exceeded"),
    "evicted": ("its pod was evicted", "evicted"),
    "not-started": ("its pod did not start", "not started"),
}


def watch_main(argv: list[str], console: Console) -> int:
    """``lognotify watch [OPTIONS]``: its exit status."""
    try:
        args = vars(_parser().parse_args(argv))
        overrides = {
            spec.keyword: args.get(spec.keyword) for spec in SPECS if spec.scope in ("all", "watch")
        }
        settings = load_settings(overrides, origin="flag", scopes=("all", "watch", "env"))
        if settings.subject is not None or settings.template_dir:
            from lognotify.report.templates import check

            check(settings.subject, settings.template_dir)
    except ConfigError as exc:
        console.warn(str(exc))
        return exits.CONFIG_ERROR
    import importlib.util

    if importlib.util.find_spec("kubernetes") is None:
        console.warn("lognotify watch needs the Kubernetes client: pip install 'lognotify[watch]'")
        return exits.CONFIG_ERROR
    from lognotify.kubernetes.watch import WatchOptions, run_watch

    options = WatchOptions(
        namespaces=settings.watch.namespaces,
        selector=settings.watch.selector,
        stuck_after=settings.watch.stuck_after,
        once=bool(args.get("once")),
        max_bytes=settings.max_bytes,
    )
    # The job's name comes from each incident (its CronJob, else its Job), not from one setting.
    per_incident = settings.replace(job_name=None, termination_log="")
    return run_watch(
        options, lambda incident: report_incident(incident, per_incident, console), say=console.say
    )


def report_incident(incident: Incident, settings: Settings, console: Console) -> bool:
    """Report one incident; whether it counts as reported (a server took it, or it was saved
    to the outbox and, when a server was set, printed to stderr)."""
    from lognotify.notify import notify
    from lognotify.report.model import Pod

    result = incident_result(incident)
    pod = Pod(
        pod=incident.pod,
        namespace=incident.namespace,
        node=incident.node,
        job=incident.job,
        cronjob=incident.cronjob,
    )
    notified = notify(result, settings, console, pod=pod, attempts=incident.attempts)
    delivered = notified.delivered
    return delivered is not None and (delivered.sent or delivered.outbox is not None)


def incident_result(incident: Incident) -> RunResult:
    """The RunResult that reports ``incident``."""
    code = incident.reason_code
    if code in _SENTENCES:
        sentence, short = _SENTENCES[code]
    elif code == "signal" and incident.signal is not None:
        sentence, short = f"killed by {signal_name(incident.signal)}", signal_name(incident.signal)
    else:
        sentence, short = f"exited with status {incident.exit_code}", f"exit {incident.exit_code}"
    if incident.message:
        sentence = f"{sentence}: {incident.message}"
    from lognotify.capture import Snapshot

    where = f"{incident.namespace}/{incident.job}"
    return RunResult(
        mode="watch",
        command=shlex.join(["job", where]),
        program=incident.job,
        exit_code=incident.exit_code,
        reason=Reason(code=code, sentence=sentence, short=short),
        started=incident.started,
        ended=incident.ended,
        output=incident.output or Snapshot(),
        signal=incident.signal,
    )


def _parser() -> argparse.ArgumentParser:
    import argparse

    class Parser(argparse.ArgumentParser):
        def error(self, message: str) -> NoReturn:
            raise ConfigError(f"{message} (see lognotify watch --help)")

    parser = Parser(
        prog="lognotify watch",
        allow_abbrev=False,
        description="Report, from outside, the Jobs of a cluster that fail for good "
        "and the pods that never start, through the Kubernetes API.",
    )
    watch = parser.add_argument_group("what to watch")
    mail = parser.add_argument_group("mail settings (each also LOGNOTIFY_<NAME>)")
    for flag, scope, arguments in flag_arguments("all", "watch"):
        (watch if scope == "watch" else mail).add_argument(flag, **arguments)
    watch.add_argument(
        "--once",
        action="store_true",
        help="one pass over the current state, then exit (1: the API is unreachable)",
    )
    return parser
