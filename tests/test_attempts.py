"""Which attempt of its Job a run is, and whether Kubernetes will try again."""

from __future__ import annotations

import pytest

from lognotify.kubernetes.attempts import attempt_of
from lognotify.settings.model import KubernetesSettings


def info(
    failures: int | None, backoff: int | None, final: set[int] = frozenset()
) -> KubernetesSettings:  # type: ignore[assignment]
    return KubernetesSettings(
        failures=failures, backoff_limit=backoff, final_exit_codes=frozenset(final)
    )


@pytest.mark.parametrize(
    ("failures", "backoff", "number", "of", "final", "header", "words"),
    [
        (0, 2, 1, 3, False, "1/3", "attempt 1 of 3"),
        (1, 2, 2, 3, False, "2/3", "attempt 2 of 3"),
        (2, 2, 3, 3, True, "3/3", "attempt 3 of 3"),
        (1, None, 2, None, True, "2", "attempt 2"),  # only the failures known: final
        (None, 2, None, None, True, None, None),  # only the limit known: nothing to say
        (None, None, None, None, True, None, None),
    ],
)
def test_the_attempt_is_failures_plus_one_of_the_backoff_limit_plus_one(
    failures: int | None,
    backoff: int | None,
    number: int | None,
    of: int | None,
    final: bool,
    header: str | None,
    words: str | None,
) -> None:
    attempt = attempt_of(info(failures, backoff), exit_code=3, reason_code="exit")
    assert (attempt.number, attempt.of, attempt.final) == (number, of, final)
    assert (attempt.header, attempt.words) == (header, words)


@pytest.mark.parametrize("reason", ["terminated", "timeout"])
def test_a_run_stopped_from_outside_or_timed_out_is_final(reason: str) -> None:
    assert attempt_of(info(0, 5), exit_code=143, reason_code=reason).final


def test_an_exit_status_the_pod_failure_policy_fails_the_job_on_is_final() -> None:
    assert attempt_of(info(0, 5, {2, 124}), exit_code=2, reason_code="exit").final
    assert not attempt_of(info(0, 5, {2, 124}), exit_code=3, reason_code="exit").final
