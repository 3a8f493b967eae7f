"""Console: lognotify's own lines on stderr, each on a line of its own."""

from __future__ import annotations

import io

from lognotify.console import REPORT_BEGINS, REPORT_ENDS, Console


def test_each_line_starts_with_lognotify_and_is_one_line() -> None:
    err = io.StringIO()
    Console(err).say("no SMTP host set;\nreport   written")
    assert err.getvalue() == "lognotify: no SMTP host set; report written\n"


def test_a_line_after_output_that_ended_mid_line_starts_on_its_own() -> None:
    err = io.StringIO()
    console = Console(err)
    console.after_output({2})
    console.say("first")
    console.say("second")
    assert err.getvalue() == "\nlognotify: first\nlognotify: second\n"


def test_quiet_drops_what_is_not_a_warning() -> None:
    err = io.StringIO()
    console = Console(err)
    console.quiet = True
    console.say("report sent to ops@example.com")
    console.warn("could not send the report")
    assert err.getvalue() == "lognotify: could not send the report\n"


def test_the_report_text_is_framed_by_two_marker_lines() -> None:
    err = io.StringIO()
    Console(err).report_text("The job failed.\nline 2")
    assert err.getvalue() == f"{REPORT_BEGINS}\nThe job failed.\nline 2\n{REPORT_ENDS}\n"


def test_stdout_blocks_start_on_a_line_of_their_own() -> None:
    out = io.BytesIO()
    console = Console(io.StringIO())
    console.after_output({1})
    console.stdout_block(b"Subject: x\n", out)
    assert out.getvalue() == b"\nSubject: x\n"


def test_a_closed_stderr_is_not_the_jobs_problem() -> None:
    err = io.StringIO()
    err.close()
    Console(err).say("nobody hears this")  # no exception
