"""The rule that says whether a line looks like an error: its cases, extra patterns, RE2."""

from __future__ import annotations

import subprocess
import sys

import pytest
from error_samples import FLAGGED, NOT_FLAGGED

from lognotify.errorrule import ErrorRule, check_pattern, looks_like_error


@pytest.mark.parametrize("line", FLAGGED)
def test_a_real_error_line_looks_like_an_error(line: str) -> None:
    assert looks_like_error(line)


@pytest.mark.parametrize("line", NOT_FLAGGED)
def test_an_ordinary_line_does_not_look_like_an_error(line: str) -> None:
    assert not looks_like_error(line)


def test_extra_patterns_add_to_the_built_in_rule() -> None:
    rule = ErrorRule(["WARN", r"(?i)deadlock detected", r"^E "])
    assert rule.matches("WARN disk 91% full")
    assert rule.matches("DEADLOCK DETECTED on table x")
    assert rule.matches("E something")
    assert not rule.matches("an E in the middle")
    assert rule.matches("ERROR: still the built-in rule")
    assert not rule.matches("INFO fine")


def test_a_bad_pattern_gets_a_one_line_reason_and_is_refused() -> None:
    reason = check_pattern("(unclosed")
    assert reason
    assert "missing )" in reason
    assert "\n" not in reason
    assert "every line" in (check_pattern("x*") or "")
    assert check_pattern(r"\bWARN\b") is None
    with pytest.raises(ValueError, match="unclosed"):
        ErrorRule(["(unclosed"])


def test_neither_importing_nor_making_a_rule_loads_re2() -> None:
    code = (
        "import sys; from lognotify.errorlines import ErrorLines;"
        "from lognotify.errorrule import ErrorRule;"
        "ErrorLines(ErrorRule()).finish(); print('re2' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
