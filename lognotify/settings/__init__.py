"""Settings: built once, at the edge, from keywords or flags, then the environment, then defaults.

Every setting can be given as a ``capture_and_notify`` keyword (or a CLI flag), as a
``LOGNOTIFY_X`` environment variable, or as ``LOGNOTIFY_X_FILE`` naming a file that holds the
value (how Kubernetes mounts Secrets). A malformed value raises :class:`ConfigError` naming
where it came from and what was expected.
"""

from __future__ import annotations

import os

from lognotify.errors import ConfigError
from lognotify.settings.model import (
    DEFAULT_PORTS,
    KubernetesSettings,
    Settings,
    SmtpSettings,
    WatchSettings,
)
from lognotify.settings.parsers import size as parse_size
from lognotify.settings.table import BY_KEYWORD, SPECS
from lognotify.text import host_name

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Collection, Mapping
    from typing import Any

    from lognotify.settings.spec import Scope, Spec

__all__ = [
    "ENV_NAMES",
    "Settings",
    "SmtpSettings",
    "env_value",
    "keywords_for",
    "load_settings",
    "parse_size",
    "read_value_file",
    "unknown_env",
]

#: Every environment variable lognotify reads.
ENV_NAMES = frozenset(name for spec in SPECS for name in (spec.env, f"{spec.env}_FILE"))
_SECRET_NAMES = (
    "PASSWORD",
    "PASSWD",
    "SECRET",
    "TOKEN",
    "API_KEY",
    "APIKEY",
    "PRIVATE_KEY",
    "CREDENTIAL",
    "AUTH",
)
_GROUPS = {"smtp": SmtpSettings, "kubernetes": KubernetesSettings, "watch": WatchSettings}


def keywords_for(*scopes: Scope) -> frozenset[str]:
    """The keywords (or flags' destinations) of the settings ``scopes`` take."""
    return frozenset(spec.keyword for spec in SPECS if spec.scope in scopes)


def load_settings(
    overrides: Mapping[str, object] | None = None,
    environ: Mapping[str, str] | None = None,
    *,
    origin: str = "keyword",
    scopes: Collection[Scope] = ("all", "cli", "library", "watch", "env"),
) -> Settings:
    """Build :class:`Settings` from ``overrides`` (keywords, or flags when ``origin="flag"``),
    then ``environ`` (default ``os.environ``), then the defaults.

    ``None`` in ``overrides`` means "not given". Only the settings of ``scopes`` are read.
    Raises :class:`ConfigError`.
    """
    environ = os.environ if environ is None else environ
    overrides = overrides or {}
    allowed = keywords_for(*scopes)
    unknown = set(overrides) - allowed
    if unknown:
        raise TypeError(f"unknown setting(s): {', '.join(sorted(unknown))}")
    values: dict[str, dict[str, object]] = {"": {}, **{group: {} for group in _GROUPS}}
    sources: dict[str, str] = {}
    for spec in SPECS:
        if spec.keyword not in allowed:
            continue
        found = _given(spec, overrides.get(spec.keyword), origin, environ)
        if found is not None:
            values[spec.group][spec.field] = spec.parse(found[0], found[1])
            sources[spec.keyword] = found[1]
    _check_together(values, sources, origin)
    return _assemble(values, environ)


def _given(
    spec: Spec, given: object, origin: str, environ: Mapping[str, str]
) -> tuple[object, str] | None:
    if given is not None:
        where = spec.flag if origin == "flag" and spec.flag else spec.keyword
        if spec.keyword == "smtp_password" and origin == "flag":  # the flag names a file
            return read_value_file(str(given), where, show_path=False), where
        return given, where
    return env_value(spec.env, environ, empty_is_value=spec.empty_is_value)


def _check_together(
    values: dict[str, dict[str, object]], sources: dict[str, str], origin: str
) -> None:
    def name(keyword: str) -> str:  # where a setting came from, or where it could be given
        spec = BY_KEYWORD[keyword]
        given = spec.flag if origin == "flag" and spec.flag else keyword
        return sources.get(keyword) or f"{given} (or {spec.env})"

    smtp = values["smtp"]
    user, password = smtp.get("user"), smtp.get("password")
    if (user or password) and smtp.get("security") == "none":
        raise ConfigError(
            f"{name('smtp_security')}: 'none' cannot carry a user and password; credentials "
            "are never sent unencrypted (use starttls or ssl)"
        )
    if password and not user:
        raise ConfigError(f"{name('smtp_user')}: a user is needed with the SMTP password")
    if user and not password:
        raise ConfigError(f"{name('smtp_password')}: a password is needed with the SMTP user")
    if smtp.get("host") and not values[""].get("to") and values[""].get("notify_on") != "never":
        raise ConfigError(
            f"{name('to')}: no recipients; set the addresses to mail when an SMTP host is set"
        )


def _assemble(values: dict[str, dict[str, object]], environ: Mapping[str, str]) -> Settings:
    top: dict[str, Any] = {
        field: value for field, value in values[""].items() if value not in (None, "")
    }
    smtp = values["smtp"]
    if smtp.get("port") is None:  # the port follows the security, unless one was given
        smtp["port"] = DEFAULT_PORTS[str(smtp.get("security", "starttls"))]
    top.update({group: record(**values[group]) for group, record in _GROUPS.items()})
    if "termination_log" in values[""]:
        top["termination_log"] = values[""]["termination_log"]
    top["sender_given"] = "sender" in top
    top.setdefault("sender", f"lognotify@{mail_host() if smtp.get('host') else host_name()}")
    top["secrets"] = tuple(
        value
        for variable, value in environ.items()
        if any(word in variable.upper() for word in _SECRET_NAMES)
    )
    return Settings(**top)


def mail_host() -> str:
    """The host's name for the default From: the fully qualified one when the host has one
    (servers that require a fully qualified sender refuse a bare name), else the bare name."""
    node = host_name()
    if "." in node:
        return node
    import socket  # only for a bare name, looked up as the resolver does (/etc/hosts first)

    try:
        fqdn = socket.getfqdn(node)
    except (OSError, UnicodeError):
        return node
    return fqdn if "." in fqdn and not fqdn.startswith("localhost") else node


def sender_warning(settings: Settings) -> str | None:
    """The warning due when mail is to be sent from a default From without a domain."""
    if not settings.smtp.host or settings.sender_given or "." in settings.sender.split("@")[-1]:
        return None
    return (
        f"the From address {settings.sender} has no domain, and many servers "
        "refuse it; set LOGNOTIFY_FROM (--from) to an address they take"
    )


def env_value(
    name: str, environ: Mapping[str, str], *, empty_is_value: bool = False
) -> tuple[str, str] | None:
    """The value of ``name`` or of ``name_FILE``, and the variable it came from.

    Empty values count as unset, as an empty ConfigMap entry should, unless ``empty_is_value``.
    """
    direct = environ.get(name)
    if direct == "" and not empty_is_value:
        direct = None
    file_name = f"{name}_FILE"
    path = environ.get(file_name) or None
    if direct is not None and path is not None:
        raise ConfigError(f"{name} and {file_name} are both set; set only one of them")
    if path is None:
        return None if direct is None else (direct, name)
    content = read_value_file(path, file_name)
    return (content, file_name) if content or empty_is_value else None


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


def unknown_env(environ: Mapping[str, str] | None = None) -> list[str]:
    """One warning per ``LOGNOTIFY_*`` variable lognotify does not know (a typo, most often)."""
    environ = os.environ if environ is None else environ
    strays = sorted(
        name for name in environ if name.startswith("LOGNOTIFY_") and name not in ENV_NAMES
    )
    if not strays:
        return []
    import difflib  # only when there is something to suggest

    warnings = []
    for name in strays:
        close = difflib.get_close_matches(name, sorted(ENV_NAMES), n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        warnings.append(f"unknown setting {name} is ignored{hint}")
    return warnings
