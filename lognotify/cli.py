"""The command line: ``lognotify [OPTIONS] -- COMMAND [ARGS...]``; ``main(argv) -> int``."""

from __future__ import annotations

import os
import sys
import time

from lognotify import __version__
from lognotify.capture import STDERR, Capture
from lognotify.errors import ConfigError
from lognotify.notify import notify, say, should_notify
from lognotify.result import RunResult, signal_name
from lognotify.runner import FORWARDED, run_command
from lognotify.settings import (
    FLAGS,
    NOTIFY_CHOICES,
    SECURITY_CHOICES,
    load_settings,
    unknown_env,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from collections.abc import Sequence
    from typing import NoReturn

    from lognotify.settings import Settings

CONFIG_ERROR_EXIT = 2

EPILOG = """\
examples:
  lognotify -- /app/sync.sh --full
      run sync.sh; if it fails, mail its output to $LOGNOTIFY_TO
  lognotify --to ops@example.com --smtp-host smtp.example.com --timeout 30m -- pg_dump mydb
  lognotify --dry-run -- sh -c 'echo oops; exit 3'
      run the command, then print the report it would have mailed
  lognotify --test-email --to ops@example.com --smtp-host smtp.example.com
      send a sample report to check the mail settings (exit 0 when the server accepted it)

Every option can also be set as LOGNOTIFY_<NAME> in the environment (or LOGNOTIFY_<NAME>_FILE,
naming a file that holds the value). Exit status: the command's own; 128+N when killed by
signal N; 124 after --timeout; 127 command not found; 126 not executable; 2 bad settings.
"""

_HELP = {
    "to": ("ADDR", "recipient(s), comma-separated; repeatable"),
    "sender": ("ADDR", "From address (default lognotify@<hostname>)"),
    "smtp_host": ("HOST", "SMTP server; without one the report is written to the outbox"),
    "smtp_port": ("PORT", "SMTP port (default 587 starttls, 465 ssl, 25 none)"),
    "smtp_security": ("MODE", f"{', '.join(SECURITY_CHOICES)} (default starttls)"),
    "smtp_user": ("USER", "SMTP user"),
    "smtp_password": ("FILE", "file holding the SMTP password"),
    "smtp_ca_file": ("PEM", "CA bundle to verify the server (default: system trust store)"),
    "smtp_timeout": ("SECONDS", "timeout per SMTP attempt (default 10)"),
    "delivery_timeout": ("SECONDS", "time for all delivery attempts together (default 60)"),
    "notify_on": ("WHEN", f"{', '.join(NOTIFY_CHOICES)} (default failure)"),
    "job_name": ("NAME", "job name (default: the CronJob's name, else the command's)"),
    "subject": ("TEMPLATE", "subject line, a Jinja template string"),
    "template_dir": ("DIR", "directory with subject.txt.j2, body.txt.j2, body.html.j2"),
    "max_bytes": ("BYTES", "output kept for the report: head and tail (default 1048576)"),
    "outbox": ("DIR", "directory for .eml files (default $TMPDIR/lognotify-outbox)"),
    "redact": ("REGEX", "also redact what this regular expression matches; repeatable"),
    "timeout": ("SECONDS", "stop the command after this long (exit 124)"),
    "kill_grace": ("SECONDS", "SIGKILL what is left this long after SIGTERM (default 10)"),
}
_REPEATABLE = {"to", "redact"}


def _parser() -> argparse.ArgumentParser:
    # argparse (and the shutil and gettext it pulls in) is a third of our start-up time:
    # built only when there are options to parse; `lognotify -- CMD` never needs it.
    import argparse

    class Parser(argparse.ArgumentParser):
        def error(self, message: str) -> None:  # type: ignore[override]
            say(f"{message} (see lognotify --help)")
            raise SystemExit(CONFIG_ERROR_EXIT)

    parser = Parser(
        prog="lognotify",
        allow_abbrev=False,  # `--time 1` or `--smtp-password X` must not pass for another flag
        usage="lognotify [OPTIONS] -- COMMAND [ARGS...]",
        description="Run COMMAND as if lognotify were not there; mail its output when it fails.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    settings = parser.add_argument_group("settings (each also LOGNOTIFY_<NAME>)")
    for keyword, flag in FLAGS.items():
        metavar, text = _HELP[keyword]
        settings.add_argument(
            flag,
            dest=keyword,
            metavar=metavar,
            help=text,
            action="append" if keyword in _REPEATABLE else "store",
        )
    modes = parser.add_argument_group("modes")
    modes.add_argument(
        "--test-email", action="store_true", help="send a sample report and exit 0 or 1"
    )
    modes.add_argument(
        "--dry-run",
        action="store_true",
        help="print the report after the command's output instead of sending it",
    )
    modes.add_argument("--version", action="version", version=f"lognotify {__version__}")
    parser.add_argument("command", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    return parser


def run() -> NoReturn:
    """The ``lognotify`` command: :func:`main`, then exit with its status at once."""
    status = main()
    _flush_std_streams()
    # The command has ended and its report is out: tearing the interpreter down module by
    # module would only add ~2 ms to every run of a wrapper whose start-up cost is a feature.
    os._exit(status)


def main(argv: Sequence[str] | None = None) -> int:
    """Run lognotify with ``argv`` (default ``sys.argv[1:]``); return the exit status."""
    # From here to the end, the signals the runner passes on to the command are never left to
    # their default action (death, and a lost report). Before the command starts they are held
    # and passed on once it has; after it has ended (SIGTERM as the pod is deleted while we
    # mail, a Ctrl-C) they are held until the report is out, and the command's status stands.
    # Delivery is bounded by delivery_timeout, and the kubelet's SIGKILL by the grace period.
    _open_std_fds()
    held: list[int] = []
    saved = _hold_signals(held)
    try:
        status, ran = _main(list(sys.argv[1:] if argv is None else argv), held)
    finally:
        _restore_signals(saved)
    if held and ran:
        names = ", ".join(sorted({signal_name(signum) for signum in held}))
        say(f"{names} arrived after the command had ended; it was held until the report was done")
    elif held:  # no command ran to pass them on to: end as they asked, without a traceback
        return 128 + held[0]
    return status


def _main(argv: list[str], held: list[int]) -> tuple[int, bool]:
    """What ``main`` does; and whether a command was run."""
    separated = "--" in argv
    if separated:
        split = argv.index("--")
        options, command = argv[:split], argv[split + 1 :]
    else:
        options, command = argv, []
    overrides: dict[str, object] = {}
    test_email = dry_run = False
    if options:
        if any(word.split("=", 1)[0] == "--smtp-password" for word in options):
            # Never echo what follows it: it is a password, given where a file was expected.
            say("--smtp-password: no such flag; the password is read from a file "
                "(--smtp-password-file FILE) or from LOGNOTIFY_SMTP_PASSWORD")
            return CONFIG_ERROR_EXIT, False
        args = _parser().parse_args(options)
        if args.command:  # `lognotify --dry-run echo -- hi`: the `--` was the command's own
            command = args.command + (["--"] if separated else []) + command
        overrides = {keyword: getattr(args, keyword) for keyword in FLAGS}
        test_email, dry_run = args.test_email, args.dry_run
    try:
        settings = load_settings(overrides, origin="flag")
    except ConfigError as exc:
        say(str(exc))
        return CONFIG_ERROR_EXIT, False
    for warning in unknown_env():
        say(warning)
    if test_email:
        if command:
            say("--test-email takes no command")
            return CONFIG_ERROR_EXIT, False
        return _test_email(settings, dry_run=dry_run), False
    if not command:
        say("no command given: lognotify [OPTIONS] -- COMMAND [ARGS...] (see lognotify --help)")
        return CONFIG_ERROR_EXIT, False

    _flush_std_streams()
    result = run_command(
        command,
        Capture(settings.max_bytes),
        timeout=settings.timeout,
        kill_grace=settings.kill_grace,
        early=held,
    )
    if result.note:
        say(result.note)
    if result.timed_out:
        say(result.reason)
    if dry_run:
        if should_notify(settings.notify_on, result):
            notify(result, settings, dry_run=sys.stdout.buffer)
        else:
            say(f"no report: the run {'failed' if result.failed else 'succeeded'} "
                f"and notify_on is {settings.notify_on}")
    elif should_notify(settings.notify_on, result):
        notify(result, settings)
    return result.exit_code, True


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


def _hold_signals(held: list[int]) -> dict[int, object]:
    import signal

    def hold(signum: int, frame: object) -> None:
        held.append(signum)

    saved: dict[int, object] = {}
    for signum in FORWARDED:
        if signal.getsignal(signum) is not signal.SIG_IGN:  # ignored stays ignored
            saved[signum] = signal.signal(signum, hold)
    return saved


def _restore_signals(saved: dict[int, object]) -> None:
    import signal

    for signum, handler in saved.items():
        signal.signal(signum, handler)  # type: ignore[arg-type]


def _test_email(settings: Settings, *, dry_run: bool = False) -> int:
    now = time.time()
    sample = Capture()
    sample.append(b"This is what the output of a job looks like in a report.\n")
    sample.append(b"An error line written to stderr is highlighted.\n", STDERR)
    result = RunResult(
        mode="test",
        command="lognotify --test-email",
        program="lognotify-test",
        exit_code=0,
        started=now,
        ended=now,
        output=sample.snapshot(),
    )
    if dry_run:  # show the sample, send nothing
        notify(result, settings, status="test", dry_run=sys.stdout.buffer)
        return 0
    outcome = notify(result, settings, status="test")
    # 0 only when a server took it: written to the outbox, nothing was tested
    return 0 if outcome is not None and outcome.sent else 1
