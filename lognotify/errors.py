"""The one exception root of lognotify, and its two kinds."""

from __future__ import annotations


class LognotifyError(Exception):
    """Base of every error lognotify raises on its own behalf."""


class ConfigError(LognotifyError, ValueError):
    """A setting is malformed; the message names the setting and what was expected."""


class DeliveryError(LognotifyError):
    """The report could not be delivered, for good; the message carries the server's reason."""
