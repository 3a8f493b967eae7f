"""The command line: ``lognotify [OPTIONS] -- COMMAND [ARGS...]``; ``main(argv) -> int``.

Also ``lognotify --test-email`` and ``lognotify watch`` (see ``lognotify.watcher``). Settings
are read once, here; a malformed one is one line and exit 2 before anything starts.
"""

from __future__ import annotations

import os
import sys

from lognotify import exits
from lognotify.console import Console
from lognotify.errors import ConfigError
from lognotify.run import signals
from lognotify.settings import load_settings, sender_warning, unknown_env
from lognotify.settings.table import SPECS, flag_arguments

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from collections.abc import Sequence
    from typing import Any, NoReturn

    from lognotify.settings.model import Settings

EPILOG = """\
examples:
  lognotify -- /app/sync.sh --full
      run sync.sh; if it fails, mail its output to $LOGNOTIFY_TO
  lognotify --to ops@example.com --smtp-host smtp.example.com --timeout 30m -- pg_dump mydb
  lognotify --dry-run -- sh -c 'echo oops; exit 3'
      run the command, then print the report it would have mailed (--dry-run=mime: as sent)
  lognotify --test-email --to ops@example.com --smtp-host smtp.example.com
      send a sample report to check the mail settings (exit 0 when the server accepted it)
  lognotify watch --namespace batch
      report, from outside, the Jobs of a cluster that fail (see lognotify watch --help)

Every option can also be set as LOGNOTIFY_<NAME> in the environment (or LOGNOTIFY_<NAME>_FILE,
naming a file that holds the value). Exit status: the command's own; 128+N when killed by
signal N; 124 after --timeout; 127 command not found; 126 not executable; 2 bad settings.
"""


def run() -> NoReturn:
    """The ``lognotify`` command: :func:`main`, then exit with its status at once."""
    status = main()
    _flush_std_streams()
    # The command has ended and its report is out: tearing the interpreter down module by
    # module would only add ~2 ms to every run of a wrapper whose start-up cost is a feature.
    os._exit(status)


def main(argv: Sequence[str] | None = None, console: Console | None = None) -> int:
    """Run lognotify with ``argv`` (default ``sys.argv[1:]``); return the exit status."""
    # From here to the end, the signals the runner passes on to the command are never left to
    # their default action (death, and a lost report). Before the command starts they are held
    # and passed on once it has; after it has ended (SIGTERM as the pod is deleted while we
    # mail, a Ctrl-C) they are held until the report is out, and the command's status stands.
    # Delivery is bounded by delivery_timeout, and the kubelet's SIGKILL by the grace period.
    _open_std_fds()
    console = console or Console()
    held: list[int] = []
    saved = signals.install(signals.FORWARDED, lambda signum, frame: held.append(signum))
    try:
        status, ran = _main(list(sys.argv[1:] if argv is None else argv), held, console)
    finally:
        saved.restore()
    if held and ran:
        names = ", ".join(sorted({signals.name(signum) for signum in held}))
        console.say(
            f"{names} arrived after the command had ended; it was held until the report was done"
        )
    elif held:  # no command ran to pass them on to: end as they asked, without a traceback
        return exits.for_signal(held[0])
    return status


def _main(argv: list[str], held: list[int], console: Console) -> tuple[int, bool]:
    """What ``main`` does; and whether a command was run."""
    if argv[:1] == ["watch"]:
        from lognotify.watcher import watch_main

        return watch_main(argv[1:], console), False
    options, command = _split(argv)
    try:
        args = _parse(options, command)
        settings = _settings(args)
    except ConfigError as exc:
        console.warn(str(exc))
        return exits.CONFIG_ERROR, False
    for warning in unknown_env():
        console.warn(warning)
    # --test-email too: the sample is refused alike. Under --passthrough off (cron) a run that
    # went well prints nothing, so cron mails nothing; a refused From is told when it happens.
    told = settings.passthrough or args.get("test_email")
    if told and not args.get("dry_run") and (sender := sender_warning(settings)):
        console.warn(sender)
    if args.get("test_email"):
        if command or args.get("command"):
            console.warn("--test-email takes no command")
            return exits.CONFIG_ERROR, False
        from lognotify.testmail import send_test_email

        return send_test_email(settings, console, dry_run=args.get("dry_run")), False
    command = [*args.get("command", []), *command]
    if not command:
        console.warn("no command given: lognotify [OPTIONS] -- COMMAND [ARGS...] (see --help)")
        return exits.CONFIG_ERROR, False
    return _run(command, settings, console, held, dry_run=args.get("dry_run")), True


def _split(argv: list[str]) -> tuple[list[str], list[str]]:
    if "--" not in argv:
        return argv, []
    split = argv.index("--")
    return argv[:split], argv[split + 1 :]


def _parse(options: list[str], command: list[str]) -> dict[str, Any]:
    """The flags given, as keyword: value (and the modes); a ConfigError for a bad one."""
    if not options:
        return {}
    if any(word.split("=", 1)[0] == "--smtp-password" for word in options):
        # Never echo what follows it: it is a password, given where a file was expected.
        raise ConfigError(
            "--smtp-password: no such flag; the password is read from a file "
            "(--smtp-password-file FILE) or from LOGNOTIFY_SMTP_PASSWORD"
        )
    dry_run = None
    for index, word in enumerate(options):
        if word == "--dry-run" or word.startswith("--dry-run="):
            dry_run = word.partition("=")[2] or "text"
            if dry_run not in ("text", "mime"):
                raise ConfigError(f"--dry-run: expected text or mime, got {dry_run!r}")
            options = [*options[:index], "--dry-run", *options[index + 1 :]]
    parsed = vars(_parser().parse_args(options))
    if parsed.get("command") and command:  # `lognotify --dry-run echo -- hi`: its own `--`
        parsed["command"] = [*parsed["command"], "--"]
    parsed["dry_run"] = dry_run
    return parsed


def _settings(args: dict[str, Any]) -> Settings:
    overrides = {
        spec.keyword: args.get(spec.keyword) for spec in SPECS if spec.scope in ("all", "cli")
    }
    settings = load_settings(overrides, origin="flag", scopes=("all", "cli", "env"))
    if settings.subject is not None or settings.template_dir:
        from lognotify.report.templates import check  # Jinja only when there is one to check

        check(settings.subject, settings.template_dir)
    return settings


def _run(
    command: list[str],
    settings: Settings,
    console: Console,
    held: list[int],
    *,
    dry_run: object,
) -> int:
    from lognotify.capture import Capture
    from lognotify.errorrule import ErrorRule
    from lognotify.notify import notify
    from lognotify.run.runner import run_command

    if not settings.passthrough:
        console.quiet = True  # under cron: nothing printed for a run that was reported
    rule = ErrorRule(settings.error_patterns)
    _flush_std_streams()
    ran = run_command(
        command,
        Capture(settings.max_bytes, rule=rule),
        timeout=settings.timeout,
        kill_grace=settings.kill_grace,
        passthrough=settings.passthrough,
        early=held,
        say=console.warn,
    )
    console.after_output(ran.mid_line)
    result = ran.result
    if result.note:
        console.say(result.note)
    if result.reason.code in ("timeout", "terminated"):
        console.say(f"the command was {result.reason.sentence}")
    notify(
        result, settings, console, rule=rule, dry_run=dry_run if isinstance(dry_run, str) else None
    )
    return result.exit_code


def _parser() -> argparse.ArgumentParser:
    # argparse (and the shutil and gettext it pulls in) is a third of our start-up time:
    # built only when there are options to parse; `lognotify -- CMD` never needs it.
    import argparse

    from lognotify import __version__

    class Parser(argparse.ArgumentParser):
        def error(self, message: str) -> NoReturn:
            raise ConfigError(f"{message} (see lognotify --help)")

    parser = Parser(
        prog="lognotify",
        allow_abbrev=False,
        epilog=EPILOG,
        usage="lognotify [OPTIONS] -- COMMAND [ARGS...]",
        description="Run COMMAND as if lognotify were not there; mail its output when it fails.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    group = parser.add_argument_group("settings (each also LOGNOTIFY_<NAME>)")
    for flag, _, arguments in flag_arguments("all", "cli"):
        group.add_argument(flag, **arguments)
    modes = parser.add_argument_group("modes")
    modes.add_argument(
        "--test-email", action="store_true", help="send a sample report and exit 0 or 1"
    )
    modes.add_argument(
        "--dry-run",
        action="store_true",
        help="print the report after the command's output instead of sending it "
        "(--dry-run=mime: the message exactly as it would be sent)",
    )
    modes.add_argument("--version", action="version", version=f"lognotify {__version__}")
    parser.add_argument("command", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    return parser


def _open_std_fds() -> None:
    # Started with stdin, stdout or stderr closed (`>&-`), the pipes we make would take those
    # numbers, and the command's output would be written into our own pipes: /dev/null there.
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            null = os.open(os.devnull, os.O_RDWR)
            if null != fd:
                os.dup2(null, fd)
                os.close(null)


def _flush_std_streams() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):
            pass  # a closed or full stdout must not change the command's status
