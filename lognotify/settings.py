"""Settings: built once, at the edge, from keywords or flags, then the environment, then defaults.

Every setting of the contract can be given as a ``capture_and_notify`` keyword (or a CLI
flag), as a ``LOGNOTIFY_X`` environment variable, or as ``LOGNOTIFY_X_FILE`` naming a file
that holds the value (how Kubernetes mounts Secrets). A malformed value raises
:class:`ConfigError` naming where it came from and what was expected.
"""

from __future__ import annotations

import os
import re

from lognotify._frozen import Frozen
from lognotify.errors import ConfigError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

NOTIFY_CHOICES = ("failure", "error", "always", "never")
SECURITY_CHOICES = ("starttls", "ssl", "none")
DEFAULT_PORTS = {"starttls": 587, "ssl": 465, "none": 25}
DEFAULT_MAX_BYTES = 1 << 20

# Downward API metadata: read by lognotify.kubernetes, listed here so that every variable
# lognotify knows is named in one place.
KUBERNETES_ENV = (
    "LOGNOTIFY_POD_NAME",
    "LOGNOTIFY_POD_NAMESPACE",
    "LOGNOTIFY_NODE_NAME",
    "LOGNOTIFY_K8S_JOB_NAME",
)


class SmtpSettings(Frozen):
    """Where and how the report is delivered; ``host`` None means "write to the outbox"."""

    __slots__ = (
        "host",
        "port",
        "security",
        "user",
        "password",
        "ca_file",
        "timeout",
        "delivery_timeout",
    )
    _hidden = frozenset({"password"})
    host: str | None
    port: int
    security: str
    user: str | None
    password: str | None
    ca_file: str | None
    timeout: float
    delivery_timeout: float

    def __init__(
        self,
        *,
        host: str | None = None,
        port: int | None = None,
        security: str = "starttls",
        user: str | None = None,
        password: str | None = None,
        ca_file: str | None = None,
        timeout: float = 10.0,
        delivery_timeout: float = 60.0,
    ) -> None:
        self._init(
            host=host,
            port=DEFAULT_PORTS[security] if port is None else port,
            security=security,
            user=user,
            password=password,
            ca_file=ca_file,
            timeout=timeout,
            delivery_timeout=delivery_timeout,
        )


class Settings(Frozen):
    """Everything lognotify was told, validated; read-only."""

    __slots__ = (
        "to",
        "sender",
        "smtp",
        "notify_on",
        "job_name",
        "subject",
        "template_dir",
        "max_bytes",
        "outbox",
        "redact",
        "timeout",
        "kill_grace",
    )
    to: tuple[str, ...]
    sender: str
    smtp: SmtpSettings
    notify_on: str
    job_name: str | None
    subject: str | None
    template_dir: str | None
    max_bytes: int
    outbox: str | None
    redact: tuple[str, ...]
    timeout: float | None
    kill_grace: float

    def __init__(
        self,
        *,
        to: tuple[str, ...] = (),
        sender: str | None = None,
        smtp: SmtpSettings | None = None,
        notify_on: str = "failure",
        job_name: str | None = None,
        subject: str | None = None,
        template_dir: str | None = None,
        max_bytes: int = DEFAULT_MAX_BYTES,
        outbox: str | None = None,
        redact: tuple[str, ...] = (),
        timeout: float | None = None,
        kill_grace: float = 10.0,
    ) -> None:
        self._init(
            to=to,
            sender=sender or f"lognotify@{os.uname().nodename or 'localhost'}",
            smtp=smtp or SmtpSettings(),
            notify_on=notify_on,
            job_name=job_name,
            subject=subject,
            template_dir=template_dir,
            max_bytes=max_bytes,
            outbox=outbox,
            redact=redact,
            timeout=timeout,
            kill_grace=kill_grace,
        )


# --- parsers: (value, where) -> typed value, or ConfigError naming `where` -------------------

# Patterns are compiled on first use (re caches them): lognotify -- true must start fast.
_CONTROL = r"[\x00-\x1f\x7f\x85\u2028\u2029]"
_ADDR_SPEC = r"[^\s@<>()\[\],;:\"\\]+@[^\s@<>()\[\],;:\"\\]+"
_ADDRESS = rf'(?:{_ADDR_SPEC}|[^<>"]*<{_ADDR_SPEC}>|"[^"]*"\s*<{_ADDR_SPEC}>)'
# ASCII digits only: "²" is a digit to str.isdigit() and \d, but not a number to int().
_DURATION = r"(?a)(\d+(?:\.\d*)?|\.\d+)\s*(ms|s|m|h)?"
_DURATION_UNITS = {None: 1.0, "ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_SIZE = r"(?ai)(\d+)\s*(?:([kmg])(?:i?b)?|b)?"
_SIZE_UNITS = {None: 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}


def _text(value: object, where: str) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"{where}: expected text, got {type(value).__name__}")
    return value


def _single_line(value: object, where: str) -> str:
    text = _text(value, where).strip()
    if re.search(_CONTROL, text):
        raise ConfigError(f"{where}: must be a single line without control characters")
    return text


def _choice(choices: tuple[str, ...]) -> Callable[[object, str], str]:
    def parse(value: object, where: str) -> str:
        text = _text(value, where).strip().lower()
        if text not in choices:
            raise ConfigError(f"{where}: expected one of {', '.join(choices)}; got {value!r}")
        return text

    return parse


def _port(value: object, where: str) -> int:
    text = str(value).strip()
    digits = text.isascii() and text.isdigit()  # "\u00b2" is a digit to isdigit(), not to int()
    if isinstance(value, bool) or not digits or not 1 <= int(text) <= 65535:
        raise ConfigError(f"{where}: expected a port number from 1 to 65535, got {value!r}")
    return int(text)


def _seconds(*, zero_ok: bool) -> Callable[[object, str], float]:
    def parse(value: object, where: str) -> float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            seconds = float(value)
        else:
            match = re.fullmatch(_DURATION, str(value).strip())
            if not match:
                raise ConfigError(
                    f"{where}: expected a duration in seconds (like 30, 2.5, 90s, 5m, 1h), "
                    f"got {value!r}"
                )
            seconds = float(match[1]) * _DURATION_UNITS[match[2]]
        if seconds != seconds or seconds < 0 or (seconds == 0 and not zero_ok):
            raise ConfigError(
                f"{where}: expected a duration {'of 0 or more' if zero_ok else 'above 0'}, "
                f"got {value!r}"
            )
        return seconds

    return parse


def parse_size(value: object, where: str) -> int:
    """A size in bytes: an int, or text like ``1048576``, ``512K``, ``1M``."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    match = re.fullmatch(_SIZE, str(value).strip())
    if not match:
        raise ConfigError(
            f"{where}: expected a size in bytes (like 1048576, 512K, 1M), got {value!r}"
        )
    return int(match[1]) * _SIZE_UNITS[match[2] and match[2].lower()]


def _addresses(value: object, where: str) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)):
        raise ConfigError(f"{where}: expected comma-separated addresses, got {value!r}")
    found: list[str] = []
    for item in items:
        # Blank lines around the list (a mounted file's) are no part of it; a line break
        # inside it is, and _address refuses it. A comma inside quotes is a display name's.
        for part in re.findall(r'(?:"[^"]*"|[^,"])+|"', _text(item, where).strip()):
            found.append(_address(part, where))
    return tuple(address for address in found if address)


def _address(value: object, where: str) -> str:
    text = _text(value, where)
    if re.search(_CONTROL, text):
        raise ConfigError(f"{where}: an address cannot contain line breaks or control characters")
    text = text.strip()
    if text and not re.fullmatch(_ADDRESS, text):
        raise ConfigError(f"{where}: expected an email address like ops@example.com, got {text!r}")
    return text


def _sender(value: object, where: str) -> str:
    address = _address(value, where)
    if not address:
        raise ConfigError(f"{where}: expected an email address, got an empty value")
    return address


def _patterns(value: object, where: str) -> tuple[str, ...]:
    items = value.splitlines() if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)):
        raise ConfigError(f"{where}: expected one regular expression per line, got {value!r}")
    found: list[str] = []
    for item in items:
        pattern = _text(item, where)
        if not pattern.strip():
            continue
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ConfigError(f"{where}: invalid regular expression {pattern!r}: {exc}") from None
        found.append(pattern)
    return tuple(found)


def _path_text(value: object, where: str) -> str:
    # A pathlib.Path (any os.PathLike) is as good as its text.
    return _text(os.fspath(value) if isinstance(value, os.PathLike) else value, where).strip()


def _readable_file(value: object, where: str) -> str:
    path = _path_text(value, where)
    if not os.path.isfile(path) or not os.access(path, os.R_OK):
        raise ConfigError(f"{where}: expected a readable file, got {path!r}")
    return path


def _ca_file(value: object, where: str) -> str:
    path = _readable_file(value, where)
    import ssl  # only when a CA file is set: lognotify -- true must start fast

    try:
        ssl.create_default_context().load_verify_locations(cafile=path)
    except (ssl.SSLError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise ConfigError(f"{where}: {path!r} holds no usable PEM certificate ({reason})") from None
    return path


def _directory(value: object, where: str) -> str:
    path = _path_text(value, where)
    if not os.path.isdir(path):
        raise ConfigError(f"{where}: expected a directory, got {path!r}")
    return path


def _path(value: object, where: str) -> str:
    path = _path_text(value, where)
    if not path or "\x00" in path:
        raise ConfigError(f"{where}: expected a path, got {value!r}")
    return path


def _secret(value: object, where: str) -> str:
    # Never echo the value: it is a password.
    if not isinstance(value, str):
        raise ConfigError(f"{where}: expected text")
    return value


# keyword -> (env variable, flag, parser). The order is the contract's table.
_SPECS: dict[str, tuple[str, str, Callable[[object, str], object]]] = {
    "to": ("LOGNOTIFY_TO", "--to", _addresses),
    "sender": ("LOGNOTIFY_FROM", "--from", _sender),
    "smtp_host": ("LOGNOTIFY_SMTP_HOST", "--smtp-host", _single_line),
    "smtp_port": ("LOGNOTIFY_SMTP_PORT", "--smtp-port", _port),
    "smtp_security": ("LOGNOTIFY_SMTP_SECURITY", "--smtp-security", _choice(SECURITY_CHOICES)),
    "smtp_user": ("LOGNOTIFY_SMTP_USER", "--smtp-user", _single_line),
    "smtp_password": ("LOGNOTIFY_SMTP_PASSWORD", "--smtp-password-file", _secret),
    "smtp_ca_file": ("LOGNOTIFY_SMTP_CA_FILE", "--smtp-ca-file", _ca_file),
    "smtp_timeout": ("LOGNOTIFY_SMTP_TIMEOUT", "--smtp-timeout", _seconds(zero_ok=False)),
    "delivery_timeout": (
        "LOGNOTIFY_DELIVERY_TIMEOUT",
        "--delivery-timeout",
        _seconds(zero_ok=False),
    ),
    "notify_on": ("LOGNOTIFY_NOTIFY_ON", "--notify-on", _choice(NOTIFY_CHOICES)),
    "job_name": ("LOGNOTIFY_JOB_NAME", "--job-name", _text),
    "subject": ("LOGNOTIFY_SUBJECT", "--subject", _text),
    "template_dir": ("LOGNOTIFY_TEMPLATE_DIR", "--template-dir", _directory),
    "max_bytes": ("LOGNOTIFY_MAX_BYTES", "--max-bytes", parse_size),
    "outbox": ("LOGNOTIFY_OUTBOX", "--outbox", _path),
    "redact": ("LOGNOTIFY_REDACT", "--redact", _patterns),
    "timeout": ("LOGNOTIFY_TIMEOUT", "--timeout", _seconds(zero_ok=False)),
    "kill_grace": ("LOGNOTIFY_KILL_GRACE", "--kill-grace", _seconds(zero_ok=True)),
}

#: Keywords that only the CLI takes (they govern a child process).
CLI_ONLY = frozenset({"timeout", "kill_grace"})

#: The flag of every keyword, for the CLI.
FLAGS = {keyword: flag for keyword, (_, flag, _) in _SPECS.items()}

#: Every environment variable lognotify reads.
ENV_NAMES = frozenset(
    [env for env, _, _ in _SPECS.values()]
    + [f"{env}_FILE" for env, _, _ in _SPECS.values()]
    + [f"{name}_FILE" for name in KUBERNETES_ENV]
    + list(KUBERNETES_ENV)
)


def env_value(name: str, environ: Mapping[str, str]) -> tuple[str, str] | None:
    """The value of ``name`` or of ``name_FILE``, and the variable it came from.

    Empty values count as unset, as an empty ConfigMap entry should.
    """
    direct = environ.get(name) or None
    file_name = f"{name}_FILE"
    path = environ.get(file_name) or None
    if direct is not None and path is not None:
        raise ConfigError(f"{name} and {file_name} are both set; set only one of them")
    if path is None:
        return None if direct is None else (direct, name)
    content = read_value_file(path, file_name)
    return (content, file_name) if content else None


def read_value_file(path: str, where: str, *, show_path: bool = True) -> str:
    """The content of a file holding one value, one trailing newline stripped.

    ``show_path=False`` keeps the path out of the error: a password typed where its file
    was expected must not be printed.
    """
    try:
        with open(path, encoding="utf-8") as handle:
            content = handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        what = repr(path) if show_path else "the file"
        raise ConfigError(f"{where}: cannot read {what}: {reason}") from None
    if content.endswith("\n"):
        content = content[:-1]
        if content.endswith("\r"):
            content = content[:-1]
    return content


def load_settings(
    overrides: Mapping[str, object] | None = None,
    environ: Mapping[str, str] | None = None,
    *,
    origin: str = "keyword",
) -> Settings:
    """Build :class:`Settings` from ``overrides`` (keywords, or flags when ``origin="flag"``),
    then ``environ`` (default ``os.environ``), then the defaults.

    ``None`` in ``overrides`` means "not given". Raises :class:`ConfigError`.
    """
    environ = os.environ if environ is None else environ
    overrides = overrides or {}
    unknown = set(overrides) - set(_SPECS)
    if unknown:
        raise TypeError(f"unknown setting(s): {', '.join(sorted(unknown))}")
    values: dict[str, object] = {}
    sources: dict[str, str] = {}
    for keyword, (env, flag, parse) in _SPECS.items():
        given = overrides.get(keyword)
        if given is not None:
            where = flag if origin == "flag" else keyword
            if keyword == "smtp_password" and origin == "flag":  # the flag names a file
                given = read_value_file(_text(given, flag), flag, show_path=False)
        else:
            found = env_value(env, environ)
            if found is None:
                continue
            given, where = found
        values[keyword] = parse(given, where)
        sources[keyword] = where
    return _assemble(values, sources, origin)


def _assemble(values: dict[str, object], sources: dict[str, str], origin: str) -> Settings:
    def name(keyword: str) -> str:  # where a setting came from, or where it could be given
        env, flag, _ = _SPECS[keyword]
        return sources.get(keyword) or f"{flag if origin == 'flag' else keyword} (or {env})"

    security = str(values.get("smtp_security", "starttls"))
    user, password = values.get("smtp_user"), values.get("smtp_password")
    if (user or password) and security == "none":
        raise ConfigError(
            f"{name('smtp_security')}: 'none' cannot carry a user and password; credentials "
            "are never sent unencrypted (use starttls or ssl)"
        )
    if password and not user:
        raise ConfigError(f"{name('smtp_user')}: a user is needed with the SMTP password")
    if user and not password:
        raise ConfigError(f"{name('smtp_password')}: a password is needed with the SMTP user")
    if values.get("smtp_host") and not values.get("to") and values.get("notify_on") != "never":
        raise ConfigError(
            f"{name('to')}: no recipients; set the addresses to mail when an SMTP host is set"
        )
    smtp = SmtpSettings(
        host=_opt_str(values.get("smtp_host")),
        port=_opt_int(values.get("smtp_port")),
        security=security,
        user=_opt_str(user),
        password=_opt_str(password),
        ca_file=_opt_str(values.get("smtp_ca_file")),
        timeout=float(values.get("smtp_timeout", 10.0)),  # type: ignore[arg-type]
        delivery_timeout=float(values.get("delivery_timeout", 60.0)),  # type: ignore[arg-type]
    )
    return Settings(
        to=values.get("to", ()),  # type: ignore[arg-type]
        sender=_opt_str(values.get("sender")),
        smtp=smtp,
        notify_on=str(values.get("notify_on", "failure")),
        job_name=_opt_str(values.get("job_name")),
        subject=_opt_str(values.get("subject")),
        template_dir=_opt_str(values.get("template_dir")),
        max_bytes=int(values.get("max_bytes", DEFAULT_MAX_BYTES)),  # type: ignore[call-overload]
        outbox=_opt_str(values.get("outbox")),
        redact=values.get("redact", ()),  # type: ignore[arg-type]
        timeout=_opt_float(values.get("timeout")),
        kill_grace=float(values.get("kill_grace", 10.0)),  # type: ignore[arg-type]
    )


def _opt_str(value: object) -> str | None:
    return None if value is None or value == "" else str(value)


def _opt_int(value: object) -> int | None:
    return None if value is None else int(value)  # type: ignore[call-overload]


def _opt_float(value: object) -> float | None:
    return None if value is None else float(value)  # type: ignore[arg-type]


def unknown_env(environ: Mapping[str, str] | None = None) -> list[str]:
    """One warning per ``LOGNOTIFY_*`` variable lognotify does not know (a typo, most often)."""
    environ = os.environ if environ is None else environ
    strays = sorted(name for name in environ if name.startswith("LOGNOTIFY_") and name not in ENV_NAMES)
    if not strays:
        return []
    import difflib  # only when there is something to suggest

    warnings = []
    for name in strays:
        close = difflib.get_close_matches(name, sorted(ENV_NAMES), n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        warnings.append(f"unknown setting {name} is ignored{hint}")
    return warnings
