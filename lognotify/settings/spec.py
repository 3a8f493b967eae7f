"""A setting's description: its keyword, variable, flag, parser and who takes it.

The settings themselves are ``settings.table``'s rows.
"""

from __future__ import annotations

from lognotify.record import Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Literal

    from lognotify.settings.parsers import Parser

    Scope = Literal["all", "cli", "library", "watch", "env"]


def check_redact(pattern: str) -> str | None:
    """None when ``pattern`` can be a ``redact`` pattern, else why not."""
    from lognotify.redact import check_pattern  # RE2 is loaded only when a pattern is set

    return check_pattern(pattern)


def check_error_pattern(pattern: str) -> str | None:
    """None when ``pattern`` can be an extra error pattern, else why not."""
    from lognotify.errorrule import check_pattern

    return check_pattern(pattern)


class Spec(Record):
    """One setting. ``flag`` None: no command-line flag (a keyword, or the environment only)."""

    keyword: str
    env: str
    parse: Parser
    flag: str | None = None
    group: str = ""  # "" (Settings itself), "smtp", "kubernetes" or "watch"
    scope: Scope = "all"
    metavar: str = ""
    help: str = ""
    repeatable: bool = False
    empty_is_value: bool = False  # an empty value means something ("never"), not "unset"

    @property
    def field(self) -> str:
        """The field of the group's record that this setting fills."""
        prefix = f"{self.group}_"
        return self.keyword[len(prefix) :] if self.keyword.startswith(prefix) else self.keyword

    def argument(self) -> dict[str, Any]:
        """``argparse.add_argument``'s keywords for this setting's flag."""
        action = "append" if self.repeatable else "store"
        return {"dest": self.keyword, "metavar": self.metavar, "help": self.help, "action": action}
