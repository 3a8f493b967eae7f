"""Which attempt of its Job a run is, and whether Kubernetes will try again after it fails.

A Job retries a failed pod up to its backoff limit; one failure must not become N mails. The
numbers come from the Downward API (``LOGNOTIFY_K8S_FAILURES``: failures of this index so far;
``LOGNOTIFY_K8S_BACKOFF_LIMIT``), and the Job's podFailurePolicy may fail the Job at once on
some exit statuses (``LOGNOTIFY_K8S_FINAL_EXIT_CODES``). Pure.
"""

from __future__ import annotations

from lognotify.record import Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from lognotify.settings.model import KubernetesSettings

#: Reasons after which Kubernetes does not start another attempt of the run lognotify saw.
_FINAL_REASONS = frozenset({"terminated", "timeout"})


class Attempt(Record):
    """This run is attempt ``number`` of ``of`` (each may be unknown); ``final``: no other
    attempt follows if it fails."""

    number: int | None = None
    of: int | None = None
    final: bool = True

    @property
    def header(self) -> str | None:
        """``X-Lognotify-Attempt``: ``2/3``, ``2`` when only the failures are known, else None."""
        if self.number is None:
            return None
        return f"{self.number}/{self.of}" if self.of is not None else str(self.number)

    @property
    def words(self) -> str | None:
        """``attempt 2 of 3`` (``attempt 2``), or None when unknown."""
        if self.number is None:
            return None
        return (
            f"attempt {self.number} of {self.of}"
            if self.of is not None
            else f"attempt {self.number}"
        )


def attempt_of(info: KubernetesSettings, *, exit_code: int, reason_code: str) -> Attempt:
    """The attempt this run is, and whether it is the last one allowed."""
    if info.failures is None:
        return Attempt()  # unknown: every failure is reported
    number = info.failures + 1
    of = None if info.backoff_limit is None else info.backoff_limit + 1
    final = (
        of is None
        or number >= of
        or exit_code in info.final_exit_codes
        or reason_code in _FINAL_REASONS
    )
    return Attempt(number=number, of=of, final=final)
