"""Every exit status lognotify chooses itself, in one place.

Otherwise lognotify exits with the command's own status, or 128+N when a signal N ended it.
"""

from __future__ import annotations

OK = 0
#: --test-email: the server did not take the sample report (or a custom template failed).
TEST_FAILED = 1
#: A watch pass could not reach the Kubernetes API.
API_UNREACHABLE = 1
#: A setting is malformed: nothing was started.
CONFIG_ERROR = 2
#: --timeout stopped the command (as timeout(1) does).
TIMEOUT = 124
#: The command exists but cannot be executed.
NOT_EXECUTABLE = 126
#: The command was not found.
NOT_FOUND = 127
#: Killed by signal N: SIGNAL_BASE + N (143 for SIGTERM, 130 for SIGINT).
SIGNAL_BASE = 128


def for_signal(signum: int) -> int:
    """The status of a process killed by ``signum``, as a shell reports it."""
    return SIGNAL_BASE + signum
