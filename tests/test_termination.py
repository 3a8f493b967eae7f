"""The termination message: one line for `kubectl describe pod`, only where Kubernetes reads it."""

from __future__ import annotations

from pathlib import Path

from lognotify.kubernetes.termination import MAX_BYTES, termination_line, write_termination_log


def test_the_line_says_the_job_the_reason_and_what_became_of_the_report() -> None:
    line = termination_line(job="etl", short_reason="exit 3", report="report sent <1.2@host>")
    assert line == "lognotify: FAILED etl (exit 3); report sent <1.2@host>"


def test_the_line_is_one_line_of_at_most_4096_bytes() -> None:
    line = termination_line(
        job="e\nt\rl", short_reason="x", report="report not sent: " + "é" * 5000
    )
    assert "\n" not in line
    assert "\r" not in line
    assert len(line.encode()) <= MAX_BYTES
    assert line.endswith("...")


def test_an_existing_file_is_replaced_and_a_missing_one_is_not_made(tmp_path: Path) -> None:
    log = tmp_path / "termination-log"
    log.write_text("an older, longer message from before\n")
    assert write_termination_log(str(log), "lognotify: FAILED etl (exit 3); report saved /x")
    assert log.read_text() == "lognotify: FAILED etl (exit 3); report saved /x"
    missing = tmp_path / "missing"
    assert not write_termination_log(str(missing), "x")
    assert not missing.exists()


def test_a_file_that_cannot_be_written_is_passed_over(tmp_path: Path) -> None:
    assert not write_termination_log(str(tmp_path), "a folder")  # not a file
    assert not write_termination_log("", "never")
