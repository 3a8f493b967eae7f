"""report.shown: the output as a report shows it, redacted, error lines marked, and the log to
attach; made from real captures."""

from __future__ import annotations

from lognotify.capture import STDERR, Capture
from lognotify.errorrule import ErrorRule
from lognotify.excerpt import excerpt
from lognotify.redact import REDACTED, Redactor
from lognotify.report import shown


def _capture(*parts: tuple[bytes, int]) -> Capture:
    capture = Capture()
    for data, stream in parts:
        capture.append(data, stream)
    return capture


def test_lines_are_readable_redacted_and_marked_where_they_look_like_errors() -> None:
    snapshot = _capture(
        (b"loading \x1b[1mbatch\x1b[0m 42 with hunter2hunter2\n", 1),
        (b"ERROR: db down\n", STDERR),
    ).snapshot()
    output = shown.output(excerpt(snapshot), Redactor(["hunter2hunter2"]), None)
    texts = [(line.number, line.text, line.stream, line.error) for line in output.head_lines]
    assert texts == [
        (1, f"loading batch 42 with {REDACTED}", "stdout", False),
        (2, "ERROR: db down", "stderr", True),
    ]
    assert (output.total_lines, output.omitted, output.empty) == (2, "", False)


def test_a_users_rule_marks_its_lines_too() -> None:
    snapshot = _capture((b"WARN disk at 91%\nall good\n", 1)).snapshot()
    output = shown.output(excerpt(snapshot), Redactor(), ErrorRule(["^WARN "]))
    assert [line.error for line in output.head_lines] == [True, False]


def test_the_tracked_error_lines_are_redacted_and_counted() -> None:
    snapshot = _capture((b"ok\nFATAL: password hunter2hunter2 refused\n", 1)).snapshot()
    lines, total = shown.error_lines(snapshot, Redactor(["hunter2hunter2"]))
    assert [(line.number, line.text) for line in lines] == [
        (2, f"FATAL: password {REDACTED} refused")
    ]
    assert total == 1


def test_the_log_to_attach_keeps_the_bytes_with_the_secrets_out() -> None:
    snapshot = _capture((b"token hunter2hunter2\n\xff raw bytes\n", 1)).snapshot()
    log = shown.log(snapshot, Redactor(["hunter2hunter2"]))
    assert log.head + log.tail == f"token {REDACTED}\n".encode() + b"\xff raw bytes\n"
    assert log.omitted_bytes == 0
    assert not log.empty


def test_an_empty_output_is_said_to_be_empty() -> None:
    output = shown.output(excerpt(Capture().snapshot()), Redactor(), None)
    assert output.empty
    assert output.head_lines == output.tail_lines == ()
    assert shown.log(Capture().snapshot(), Redactor()).empty
