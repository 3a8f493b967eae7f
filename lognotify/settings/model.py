"""The settings records: typed, frozen, built once at the edge by ``load_settings``."""

from __future__ import annotations

from lognotify.record import Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Literal

    NotifyOn = Literal["failure", "error", "always", "never"]
    Security = Literal["starttls", "ssl", "none"]
    NotifyAttempts = Literal["last", "every"]
    CaptureMode = Literal["logging", "output"]

DEFAULT_PORTS = {"starttls": 587, "ssl": 465, "none": 25}


class SmtpSettings(Record):
    """Where and how a report is delivered; ``host`` None means "write it to the outbox"."""

    _hidden = frozenset({"password"})
    host: str | None = None
    port: int = 587  # load_settings makes it the security's default when none is given
    security: Security = "starttls"
    user: str | None = None
    password: str | None = None
    ca_file: str | None = None
    timeout: float = 10.0
    delivery_timeout: float = 60.0


class KubernetesSettings(Record):
    """What the Downward API told us about this pod and its Job; each may be unknown."""

    pod: str | None = None
    namespace: str | None = None
    node: str | None = None
    job: str | None = None
    uid: str | None = None
    memory_limit: int | None = None
    failures: int | None = None
    backoff_limit: int | None = None
    final_exit_codes: frozenset[int] = frozenset()


class WatchSettings(Record):
    """What ``lognotify watch`` watches."""

    namespaces: tuple[str, ...] = ()
    selector: str | None = None
    stuck_after: float = 600.0


class Settings(Record):
    """Everything lognotify was told, validated; read-only."""

    _hidden = frozenset({"secrets"})
    to: tuple[str, ...] = ()
    sender: str = "lognotify@localhost"
    sender_given: bool = False  # False: ``sender`` is the default made from the host name
    smtp: SmtpSettings = SmtpSettings()
    notify_on: NotifyOn = "failure"
    notify_attempts: NotifyAttempts = "last"
    job_name: str | None = None
    subject: str | None = None
    template_dir: str | None = None
    max_bytes: int = 1 << 20
    outbox: str | None = None
    redact: tuple[str, ...] = ()
    redact_builtin: bool = True
    error_patterns: tuple[str, ...] = ()
    termination_log: str = "/dev/termination-log"  # empty: never written
    capture: CaptureMode = "logging"
    timeout: float | None = None
    kill_grace: float = 10.0
    passthrough: bool = True
    kubernetes: KubernetesSettings = KubernetesSettings()
    watch: WatchSettings = WatchSettings()
    secrets: tuple[str, ...] = ()  # values of the environment's secret-looking variables
