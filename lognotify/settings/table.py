"""The one table of settings: for each, its keyword, variable, flag, parser and who takes it.

Defaults live in the records of ``settings.model``, and nowhere else. ``group`` names the
record a setting belongs to (``smtp_host`` is ``SmtpSettings.host``).
"""

from __future__ import annotations

from lognotify.settings import parsers as p
from lognotify.settings.spec import Spec, check_error_pattern, check_redact

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from lognotify.settings.parsers import Parser
    from lognotify.settings.spec import Scope


# The Downward API and the manifests: where this run happens, and which attempt of its Job
# it is. The environment only; each a field of KubernetesSettings.
_KUBERNETES: tuple[tuple[str, str, Parser], ...] = (
    ("pod", "LOGNOTIFY_POD_NAME", p.name),
    ("namespace", "LOGNOTIFY_POD_NAMESPACE", p.name),
    ("node", "LOGNOTIFY_NODE_NAME", p.name),
    ("job", "LOGNOTIFY_K8S_JOB_NAME", p.name),
    ("uid", "LOGNOTIFY_POD_UID", p.name),
    ("memory_limit", "LOGNOTIFY_MEMORY_LIMIT", p.count),
    ("failures", "LOGNOTIFY_K8S_FAILURES", p.count),
    ("backoff_limit", "LOGNOTIFY_K8S_BACKOFF_LIMIT", p.count),
    ("final_exit_codes", "LOGNOTIFY_K8S_FINAL_EXIT_CODES", p.exit_codes),
)

SPECS = (
    Spec(
        keyword="to",
        env="LOGNOTIFY_TO",
        flag="--to",
        parse=p.addresses,
        repeatable=True,
        metavar="ADDR",
        help="recipient(s), comma-separated; repeatable",
    ),
    Spec(
        keyword="sender",
        env="LOGNOTIFY_FROM",
        flag="--from",
        parse=p.sender,
        metavar="ADDR",
        help="From address (default lognotify@<hostname>)",
    ),
    Spec(
        keyword="smtp_host",
        env="LOGNOTIFY_SMTP_HOST",
        flag="--smtp-host",
        group="smtp",
        parse=p.single_line,
        metavar="HOST",
        help="SMTP server; without one the report is written to the outbox",
    ),
    Spec(
        keyword="smtp_port",
        env="LOGNOTIFY_SMTP_PORT",
        flag="--smtp-port",
        group="smtp",
        parse=p.port,
        metavar="PORT",
        help="SMTP port (default 587 starttls, 465 ssl, 25 none)",
    ),
    Spec(
        keyword="smtp_security",
        env="LOGNOTIFY_SMTP_SECURITY",
        flag="--smtp-security",
        group="smtp",
        parse=p.choice("starttls", "ssl", "none"),
        metavar="MODE",
        help="starttls, ssl or none (default starttls)",
    ),
    Spec(
        keyword="smtp_user",
        env="LOGNOTIFY_SMTP_USER",
        flag="--smtp-user",
        group="smtp",
        parse=p.single_line,
        metavar="USER",
        help="SMTP user",
    ),
    Spec(
        keyword="smtp_password",
        env="LOGNOTIFY_SMTP_PASSWORD",
        flag="--smtp-password-file",
        group="smtp",
        parse=p.secret,
        metavar="FILE",
        help="file holding the SMTP password",
    ),
    Spec(
        keyword="smtp_ca_file",
        env="LOGNOTIFY_SMTP_CA_FILE",
        flag="--smtp-ca-file",
        group="smtp",
        parse=p.ca_file,
        metavar="PEM",
        help="CA bundle to verify the server (default: the system's trust store)",
    ),
    Spec(
        keyword="smtp_timeout",
        env="LOGNOTIFY_SMTP_TIMEOUT",
        flag="--smtp-timeout",
        group="smtp",
        parse=p.seconds(zero_ok=False),
        metavar="SECONDS",
        help="time for one SMTP attempt (default 10)",
    ),
    Spec(
        keyword="delivery_timeout",
        env="LOGNOTIFY_DELIVERY_TIMEOUT",
        flag="--delivery-timeout",
        group="smtp",
        parse=p.seconds(zero_ok=False),
        metavar="SECONDS",
        help="time for all delivery attempts together (default 60)",
    ),
    Spec(
        keyword="notify_on",
        env="LOGNOTIFY_NOTIFY_ON",
        flag="--notify-on",
        parse=p.choice("failure", "error", "always", "never"),
        metavar="WHEN",
        help="failure, error, always or never (default failure)",
    ),
    Spec(
        keyword="notify_attempts",
        env="LOGNOTIFY_NOTIFY_ATTEMPTS",
        flag="--notify-attempts",
        parse=p.choice("last", "every"),
        metavar="WHICH",
        help="last: no mail for a failed attempt Kubernetes will retry; every (default last)",
    ),
    Spec(
        keyword="job_name",
        env="LOGNOTIFY_JOB_NAME",
        flag="--job-name",
        parse=p.text,
        metavar="NAME",
        help="job name (default: the CronJob's name, else the command's)",
    ),
    Spec(
        keyword="subject",
        env="LOGNOTIFY_SUBJECT",
        flag="--subject",
        parse=p.text,
        metavar="TEMPLATE",
        help="subject line, a Jinja template string",
    ),
    Spec(
        keyword="template_dir",
        env="LOGNOTIFY_TEMPLATE_DIR",
        flag="--template-dir",
        parse=p.directory,
        metavar="DIR",
        help="directory with subject.txt.j2, body.txt.j2, body.html.j2",
    ),
    Spec(
        keyword="max_bytes",
        env="LOGNOTIFY_MAX_BYTES",
        flag="--max-bytes",
        parse=p.size,
        metavar="BYTES",
        help="output kept for the report: its start and end (default 1M)",
    ),
    Spec(
        keyword="outbox",
        env="LOGNOTIFY_OUTBOX",
        flag="--outbox",
        parse=p.path,
        metavar="DIR",
        help="directory for .eml files (default: a private folder in the temp directory)",
    ),
    Spec(
        keyword="redact",
        env="LOGNOTIFY_REDACT",
        flag="--redact",
        repeatable=True,
        parse=p.patterns(check_redact),
        metavar="REGEX",
        help="also redact what this RE2 regular expression matches; repeatable",
    ),
    Spec(
        keyword="redact_builtin",
        env="LOGNOTIFY_REDACT_BUILTIN",
        flag="--redact-builtin",
        parse=p.on_off,
        metavar="ON|OFF",
        help="redact well-known token shapes (bearer tokens, cloud keys, ...) (default on)",
    ),
    Spec(
        keyword="error_patterns",
        env="LOGNOTIFY_ERROR_PATTERNS",
        flag="--error-pattern",
        repeatable=True,
        parse=p.patterns(check_error_pattern),
        metavar="REGEX",
        help="a line matching this RE2 expression also looks like an error; repeatable",
    ),
    Spec(
        keyword="termination_log",
        env="LOGNOTIFY_TERMINATION_LOG",
        flag="--termination-log",
        parse=p.optional_path,
        empty_is_value=True,
        metavar="FILE",
        help="where Kubernetes reads the termination message (default /dev/termination-log; "
        "empty: never)",
    ),
    Spec(
        keyword="capture",
        env="LOGNOTIFY_CAPTURE",
        parse=p.choice("logging", "output"),
        scope="library",
    ),
    Spec(
        keyword="timeout",
        env="LOGNOTIFY_TIMEOUT",
        flag="--timeout",
        scope="cli",
        parse=p.seconds(zero_ok=False),
        metavar="SECONDS",
        help="stop the command after this long (exit 124)",
    ),
    Spec(
        keyword="kill_grace",
        env="LOGNOTIFY_KILL_GRACE",
        flag="--kill-grace",
        scope="cli",
        parse=p.seconds(zero_ok=True),
        metavar="SECONDS",
        help="SIGKILL what is left this long after SIGTERM (default 10)",
    ),
    Spec(
        keyword="passthrough",
        env="LOGNOTIFY_PASSTHROUGH",
        flag="--passthrough",
        scope="cli",
        parse=p.on_off,
        metavar="ON|OFF",
        help="off: capture the output for the report without printing it (default on)",
    ),
    Spec(
        keyword="watch_namespaces",
        env="LOGNOTIFY_WATCH_NAMESPACES",
        flag="--namespace",
        group="watch",
        scope="watch",
        repeatable=True,
        parse=p.words,
        metavar="NS",
        help="namespace to watch; repeatable (default all)",
    ),
    Spec(
        keyword="watch_selector",
        env="LOGNOTIFY_WATCH_SELECTOR",
        flag="--selector",
        group="watch",
        scope="watch",
        parse=p.single_line,
        metavar="SELECTOR",
        help="label selector for Jobs",
    ),
    Spec(
        keyword="watch_stuck_after",
        env="LOGNOTIFY_WATCH_STUCK_AFTER",
        flag="--stuck-after",
        group="watch",
        scope="watch",
        parse=p.seconds(zero_ok=False),
        metavar="DURATION",
        help="report a pod not started after this long (default 10m)",
    ),
    *(
        Spec(keyword=f"kubernetes_{field}", env=env, group="kubernetes", scope="env", parse=parse)
        for field, env, parse in _KUBERNETES
    ),
)

BY_KEYWORD = {spec.keyword: spec for spec in SPECS}


def flag_arguments(*scopes: Scope) -> list[tuple[str, Scope, dict[str, Any]]]:
    """For each flag that ``scopes`` take: the flag, its scope, and ``add_argument``'s keywords."""
    return [
        (spec.flag, spec.scope, spec.argument())
        for spec in SPECS
        if spec.flag and spec.scope in scopes
    ]
