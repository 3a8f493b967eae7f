"""lognotify: mail a failed batch job's log, as cron's MAILTO did, for Kubernetes and Python.

Library mode::

    from lognotify import capture_and_notify

    with capture_and_notify(job_name="nightly-etl"):
        run_etl()

Wrapper mode: ``lognotify [OPTIONS] -- COMMAND [ARGS...]`` (see ``lognotify --help``).
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = [
    "Capture",
    "ConfigError",
    "DeliveryError",
    "LognotifyError",
    "TeeHandler",
    "__version__",
    "capture_and_notify",
]

TYPE_CHECKING = False
if TYPE_CHECKING:
    from lognotify.capture import Capture
    from lognotify.errors import ConfigError, DeliveryError, LognotifyError
    from lognotify.handler import TeeHandler
    from lognotify.library import capture_and_notify

# Imported on first use, so that the command-line wrapper (which imports this package first)
# starts without loading logging and friends: start-up time is a feature of a wrapper.
_LAZY = {
    "Capture": "lognotify.capture",
    "ConfigError": "lognotify.errors",
    "DeliveryError": "lognotify.errors",
    "LognotifyError": "lognotify.errors",
    "TeeHandler": "lognotify.handler",
    "capture_and_notify": "lognotify.library",
}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'lognotify' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
