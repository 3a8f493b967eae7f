"""Parsers: (value, where) -> a typed value, or a ConfigError naming ``where``.

``where`` is the variable, flag or keyword the value came from, so that the one line a user
sees says what to fix. Values arrive as text (the environment, a flag, a mounted file) or, as
keywords, already typed.
"""

from __future__ import annotations

import math
import os
import re

from lognotify.errors import ConfigError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    Parser = Callable[[object, str], object]

# Patterns are compiled on first use (re caches them): lognotify -- true must start fast.
_CONTROL = r"[\x00-\x1f\x7f\x85\u2028\u2029]"
_ADDR_SPEC = r"[^\s@<>()\[\],;:\"\\]+@[^\s@<>()\[\],;:\"\\]+"
_ADDRESS = rf'(?:{_ADDR_SPEC}|[^<>"]*<{_ADDR_SPEC}>|"[^"]*"\s*<{_ADDR_SPEC}>)'
# ASCII digits only: "²" is a digit to str.isdigit() and \d, but not a number to int().
_DURATION = r"(?a)(\d+(?:\.\d*)?|\.\d+)\s*(ms|s|m|h)?"
_DURATION_UNITS = {None: 1.0, "ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_SIZE = r"(?ai)(\d+)\s*(?:([kmg])(?:i?b)?|b)?"
_SIZE_UNITS = {None: 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
_ON = {"on": True, "true": True, "yes": True, "1": True}
_OFF = {"off": False, "false": False, "no": False, "0": False}


def text(value: object, where: str) -> str:
    """Any text, as it is."""
    if not isinstance(value, str):
        raise ConfigError(f"{where}: expected text, got {type(value).__name__}")
    return value


def single_line(value: object, where: str) -> str:
    """Text on one line, without control characters (a host name, a user)."""
    line = text(value, where).strip()
    if re.search(_CONTROL, line):
        raise ConfigError(f"{where}: must be a single line without control characters")
    return line


def name(value: object, where: str) -> str:
    """A name from outside (the Downward API): any text, trimmed; what a header cannot carry
    is neutralised where it is used, never refused (a report must still go out)."""
    return text(value, where).strip()


def choice(*choices: str) -> Parser:
    """One of ``choices``, in any case."""

    def parse(value: object, where: str) -> str:
        word = text(value, where).strip().lower()
        if word not in choices:
            raise ConfigError(f"{where}: expected one of {', '.join(choices)}; got {value!r}")
        return word

    return parse


def on_off(value: object, where: str) -> bool:
    """``on``/``off`` (also true/false, yes/no, 1/0, or a bool)."""
    if isinstance(value, bool):
        return value
    word = text(value, where).strip().lower()
    if word in _ON or word in _OFF:
        return _ON.get(word, False)
    raise ConfigError(f"{where}: expected on or off; got {value!r}")


def port(value: object, where: str) -> int:
    """A TCP port, 1 to 65535."""
    digits = str(value).strip()
    ok = not isinstance(value, bool) and digits.isascii() and digits.isdigit()
    if not ok or not 1 <= int(digits) <= 65535:
        raise ConfigError(f"{where}: expected a port number from 1 to 65535, got {value!r}")
    return int(digits)


def seconds(*, zero_ok: bool) -> Parser:
    """A duration: a number of seconds, or ``90s``, ``5m``, ``1h``, ``250ms``."""

    def parse(value: object, where: str) -> float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            amount = float(value)
        else:
            match = re.fullmatch(_DURATION, str(value).strip())
            if not match:
                raise ConfigError(
                    f"{where}: expected a duration in seconds (like 30, 2.5, 90s, 5m, 1h), "
                    f"got {value!r}"
                )
            amount = float(match[1]) * _DURATION_UNITS[match[2]]
        if math.isnan(amount) or amount < 0 or (amount == 0 and not zero_ok):
            least = "of 0 or more" if zero_ok else "above 0"
            raise ConfigError(f"{where}: expected a duration {least}, got {value!r}")
        return amount

    return parse


def size(value: object, where: str) -> int:
    """A size in bytes: an int, or text like ``1048576``, ``512K``, ``1M``."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    match = re.fullmatch(_SIZE, str(value).strip())
    if not match:
        raise ConfigError(
            f"{where}: expected a size in bytes (like 1048576, 512K, 1M), got {value!r}"
        )
    return int(match[1]) * _SIZE_UNITS[match[2] and match[2].lower()]


def count(value: object, where: str) -> int | None:
    """A non-negative integer; empty means unknown (the Downward API's missing annotation)."""
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 0:
            raise ConfigError(f"{where}: expected a non-negative integer, got {value!r}")
        return value
    digits = text(value, where).strip()
    if not digits:
        return None
    if not (digits.isascii() and digits.isdigit()):
        raise ConfigError(f"{where}: expected a non-negative integer, got {value!r}")
    return int(digits)


def exit_codes(value: object, where: str) -> frozenset[int]:
    """Exit statuses, comma-separated (``2,124``); empty means none."""
    items = (
        value if isinstance(value, (list, tuple, set, frozenset)) else text(value, where).split(",")
    )
    codes = set()
    for item in items:
        code = count(item, where)
        if code is not None and code > 255:
            raise ConfigError(f"{where}: an exit status is 0 to 255, got {item!r}")
        if code is not None:
            codes.add(code)
    return frozenset(codes)


def words(value: object, where: str) -> tuple[str, ...]:
    """Comma-separated words (namespaces), each a single line."""
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)):
        raise ConfigError(f"{where}: expected comma-separated names, got {value!r}")
    found: list[str] = []
    for item in items:
        found += [part.strip() for part in single_line(item, where).split(",") if part.strip()]
    return tuple(found)


def addresses(value: object, where: str) -> tuple[str, ...]:
    """Email addresses, comma-separated (a flag may be repeated: a list)."""
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)):
        raise ConfigError(f"{where}: expected comma-separated addresses, got {value!r}")
    found: list[str] = []
    for item in items:
        # Blank lines around the list (a mounted file's) are no part of it; a line break
        # inside it is, and address() refuses it. A comma inside quotes is a display name's.
        for part in re.findall(r'(?:"[^"]*"|[^,"])+|"', text(item, where).strip()):
            found.append(address(part, where))
    return tuple(found_one for found_one in found if found_one)


def address(value: object, where: str) -> str:
    """One email address (``ops@example.com``, ``Ops <ops@example.com>``), or empty."""
    line = text(value, where)
    if re.search(_CONTROL, line):
        raise ConfigError(f"{where}: an address cannot contain line breaks or control characters")
    line = line.strip()
    if line and not re.fullmatch(_ADDRESS, line):
        raise ConfigError(f"{where}: expected an email address like ops@example.com, got {line!r}")
    return line


def sender(value: object, where: str) -> str:
    """The From address: one address, not empty."""
    found = address(value, where)
    if not found:
        raise ConfigError(f"{where}: expected an email address, got an empty value")
    return found


def patterns(check: Callable[[str], str | None]) -> Parser:
    """Regular expressions, one per line (a flag may be repeated), each accepted by ``check``."""

    def parse(value: object, where: str) -> tuple[str, ...]:
        items = value.splitlines() if isinstance(value, str) else value
        if not isinstance(items, (list, tuple)):
            raise ConfigError(f"{where}: expected one regular expression per line, got {value!r}")
        found: list[str] = []
        for item in items:
            pattern = text(item, where)
            if not pattern.strip():
                continue
            problem = check(pattern)
            if problem:
                raise ConfigError(f"{where}: invalid regular expression {pattern!r}: {problem}")
            found.append(pattern)
        return tuple(found)

    return parse


def path(value: object, where: str) -> str:
    """A path (a pathlib.Path is as good as its text)."""
    found = _path_text(value, where)
    if not found or "\x00" in found:
        raise ConfigError(f"{where}: expected a path, got {value!r}")
    return found


def optional_path(value: object, where: str) -> str:
    """A path, or empty for "none" (``LOGNOTIFY_TERMINATION_LOG=""``: never)."""
    found = _path_text(value, where)
    if "\x00" in found:
        raise ConfigError(f"{where}: expected a path, got {value!r}")
    return found


def directory(value: object, where: str) -> str:
    """An existing directory."""
    found = _path_text(value, where)
    if not os.path.isdir(found):
        raise ConfigError(f"{where}: expected a directory, got {found!r}")
    return found


def ca_file(value: object, where: str) -> str:
    """A readable PEM bundle with at least one usable certificate."""
    found = _path_text(value, where)
    if not os.path.isfile(found) or not os.access(found, os.R_OK):
        raise ConfigError(f"{where}: expected a readable file, got {found!r}")
    import ssl  # only when a CA file is set: lognotify -- true must start fast

    try:
        ssl.create_default_context().load_verify_locations(cafile=found)
    except (ssl.SSLError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise ConfigError(
            f"{where}: {found!r} holds no usable PEM certificate ({reason})"
        ) from None
    return found


def secret(value: object, where: str) -> str:
    """A password: never echoed in an error."""
    if not isinstance(value, str):
        raise ConfigError(f"{where}: expected text")
    return value


def _path_text(value: object, where: str) -> str:
    return text(os.fspath(value) if isinstance(value, os.PathLike) else value, where).strip()
