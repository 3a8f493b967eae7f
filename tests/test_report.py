"""make_report(): a RunResult becomes one email within 2 MiB, its bodies and attachment agreeing
on what was kept, and no secret left in it, whole or cut."""

from __future__ import annotations

import gzip
import os

import pytest
from helpers import render, result_of

from lognotify.capture import Capture
from lognotify.outcome import RunResult, command_reason, library_reason
from lognotify.report import MAX_MESSAGE_BYTES, make_report
from lognotify.settings import load_settings

TWO_MIB = 2 * 1024 * 1024


def test_the_attachment_is_the_gzipped_log_named_after_job_and_time() -> None:
    settings = load_settings({"job_name": "nightly etl/v2"}, {})
    message = render(result_of(b"hello\n"), settings).message
    (part,) = list(message.iter_attachments())
    assert part.get_filename() == "nightly_etl_v2-20260921T141320Z.log.gz"
    assert part.get_content_type() == "application/gzip"
    assert gzip.decompress(part.get_content()) == b"hello\n"


def test_an_empty_capture_gets_no_attachment() -> None:
    report = render(result_of(b""), load_settings({}, {}))
    assert report.message.get_content_type() == "multipart/alternative"
    assert list(report.message.iter_attachments()) == []
    assert report.report.attachment_name is None
    assert "(no output)" in report.text


def test_the_output_headline_says_whether_the_attachment_holds_all_of_it() -> None:
    lines = b"".join(b"line %05d\n" % n for n in range(1000))  # 11,000 bytes
    settings = load_settings({"job_name": "etl"}, {})
    whole = render(result_of(lines), settings)
    cut = render(result_of(lines, max_bytes=5_000), settings)
    # The wording of the redesign: bytes and lines, then what the attachment holds.
    for body in (whole.text, whole.html):
        assert "11,000 bytes, 1,000 lines, all kept in etl-20260921T141320Z.log.gz" in body
    for body in (cut.text, cut.html):
        assert "all kept" not in body
        # 5,000 bytes kept, less the two lines cut where the rest was left out (7 + 10 bytes)
        assert (
            "11,000 bytes, 1,000 lines; 4,983 bytes of it (its start and its end) kept in "
            "etl-20260921T141320Z.log.gz"
        ) in body
    assert len(cut.log) < 5_000 + 100


def test_a_large_output_shows_head_and_tail_with_what_was_omitted() -> None:
    lines = b"".join(b"line %d\n" % n for n in range(200_000))
    report = render(result_of(lines, max_bytes=100_000), load_settings({}, {}))
    # each line with its number in the whole output (the redesign's gutter)
    assert "     1  | line 0\n" in report.text
    assert "200000  | line 199999\n" in report.text
    assert "bytes (" in report.text
    assert "lines) omitted ...]" in report.text
    assert "| line 100000\n" not in report.text


def test_the_omitted_count_is_exact_whatever_lines_the_excerpt_ends_on() -> None:
    # 600 lines, the 100th of them empty: the bodies show 100 + 300, and say 200 are left out.
    lines = [b"line %d" % n for n in range(600)]
    lines[99] = b""
    output = b"\n".join(lines) + b"\n"
    report = render(result_of(output), load_settings({}, {}))
    middle = b"\n".join(lines[100:300]) + b"\n"
    marker = f"[... {len(middle):,} bytes (200 lines) omitted ...]"
    assert f" 99  | line 98\n100  | \n       {marker}\n301  | line 300\n" in report.text


def test_progress_bars_escapes_and_control_bytes_are_made_readable() -> None:
    output = b"\x1b[31mred\x1b[0m\n0%\r50%\r100%\nnul\x00byte \xff\n"
    report = render(result_of(output), load_settings({}, {}))
    assert "1  | red\n2  | 100%\n3  | nul\\x00byte \ufffd\n" in report.text
    assert report.log == output  # the attachment keeps the bytes as they were


def test_the_bodies_never_say_all_kept_when_the_attachment_had_to_leave_some_out() -> None:
    # 8 MB kept by --max-bytes 8M cannot fit in a 2 MiB message: the attachment leaves its
    # middle out, and the bodies, rendered again, say how much it holds (issue 9's bug).
    noise = os.urandom(8 << 20)
    settings = load_settings({"max_bytes": 8 << 20, "job_name": "etl"}, {})
    report = render(result_of(noise, max_bytes=8 << 20), settings)
    kept = report.report.output.kept_bytes
    assert kept < len(noise)
    for body in (report.text, report.html):
        assert "all kept" not in body
        assert f"{kept:,} bytes of it (its start and its end) kept in" in body
    marker = report.log.partition(b"[... ")[2].partition(b" bytes")[0]
    assert int(marker.replace(b",", b"")) == len(noise) - kept


@pytest.mark.parametrize("max_bytes", [1 << 20, 8 << 20])
def test_the_message_stays_under_2_mib_with_incompressible_output(max_bytes: int) -> None:
    noise = os.urandom(max_bytes * 2)
    settings = load_settings({"max_bytes": max_bytes}, {})
    message = render(result_of(noise, max_bytes=max_bytes), settings).message
    assert len(message.as_bytes()) < TWO_MIB
    on_the_wire = message.as_bytes(policy=message.policy.clone(linesep="\r\n"))
    assert len(on_the_wire) <= MAX_MESSAGE_BYTES + 16 * 1024 < TWO_MIB + 1
    (part,) = list(message.iter_attachments())
    log = gzip.decompress(part.get_content())
    assert log.startswith(noise[:1000])
    assert log.endswith(noise[-1000:])
    assert b"omitted" in log


def test_a_huge_exception_and_command_line_keep_the_message_under_2_mib() -> None:
    # A bulk insert's error carries every parameter; a generated argument list can be megabytes.
    params = ", ".join(f"({n}, 'row-{n}')" for n in range(40_000))
    words = f"ValueError: insert failed [parameters: {params}]"
    result = RunResult(
        mode="library",
        command="python etl.py " + "x" * 2_000_000,
        program="etl",
        exit_code=1,
        reason=library_reason(exit_code=1, exception=words),
        started=1_790_000_000.0,
        ended=1_790_000_001.0,
        exception=words,
        traceback=f'Traceback (most recent call last):\n  File "etl.py", line 1\n{words}\n',
        output=Capture().snapshot(),
    )
    report = render(result, load_settings({"job_name": "etl"}, {}))
    assert len(report.message.as_bytes()) < TWO_MIB
    start = "ValueError: insert failed [parameters: (0, "
    assert f"{start}'row-0')" in report.text
    assert f"{start}&#39;row-0&#39;)" in report.html
    for body in (report.text, report.html):
        assert "characters omitted" in body
    assert len(report.subject) <= 250


def test_bytes_that_are_not_utf8_in_the_command_or_names_still_make_a_report() -> None:
    result = RunResult(
        mode="command",
        command="sh -c 'exit 1' caf\udce9.csv",
        program="sh",
        exit_code=1,
        reason=command_reason(exit_code=1),
        started=1_790_000_000.0,
        ended=1_790_000_001.0,
        output=Capture().snapshot(),
    )
    environ = {"LOGNOTIFY_JOB_NAME": "a\udc85b", "LOGNOTIFY_POD_NAME": "p\udcffod"}
    report = render(result, load_settings({}, environ))
    raw = report.message.as_bytes()  # encodes: nothing unencodable is left
    assert "caf\\xe9.csv" in report.text
    assert "caf\\xe9.csv" in report.html
    assert report.job == "a\\x85b"
    assert "p\\xffod" in report.subject
    assert b"X-Lognotify-Job: a\\x85b" in raw


def test_a_secret_that_is_also_a_word_of_the_template_leaves_the_markup_alone() -> None:
    environ = {"SECRET_KEY_BASE": "span", "TOKEN_KIND": "failure"}
    report = render(result_of(b"the span of failure\n"), load_settings({}, environ))
    assert "<[REDACTED]" not in report.html
    assert "</span>" in report.html
    assert "Status:" in report.text
    assert "(failure)" in report.text
    assert "the [REDACTED] of [REDACTED]" in report.text  # the job's output is redacted
    assert "the [REDACTED] of [REDACTED]" in report.html
    assert report.message["X-Lognotify-Status"] == "failure"


def test_a_secret_cut_by_a_colour_code_is_redacted_in_the_bodies() -> None:
    environ = {"API_TOKEN": "hunter22xyz"}
    report = render(result_of(b"v=hunt\x1b[0mer22xyz\n"), load_settings({}, environ))
    for body in (report.text, report.html):
        assert "hunter22xyz" not in body
        assert "v=[REDACTED]" in body


def test_the_smtp_password_is_redacted_wherever_it_shows() -> None:
    settings = load_settings(
        {
            "smtp_host": "smtp.example.com",
            "to": "ops@example.com",
            "smtp_user": "etl",
            "smtp_password": "pw-Correct-Horse-9",
            "job_name": "etl",
        },
        {},
    )
    report = render(result_of(b"login with pw-Correct-Horse-9\n"), settings)
    raw = report.message.as_bytes()
    assert b"pw-Correct-Horse-9" not in raw
    assert b"pw-Correct-Horse-9" not in report.log
    assert "login with [REDACTED]" in report.text


URL_SECRET = "Pa55w0rdLongSecret99"
PATTERN_SECRET = "sess-abcdefghijklmnopqrst"
ENV_SECRET = "env-secret-0123456789"


@pytest.mark.parametrize("where", ["head end", "tail start"])
def test_no_secret_is_shown_cut_where_output_was_left_out(where: str) -> None:
    # The secret variable reaches the report through the settings now (they read the
    # environment once); before the redesign it was an argument of render().
    environ = {"DB_PASSWORD": ENV_SECRET}
    settings = load_settings({"max_bytes": 1000, "redact": [r"sess-[a-z]{20}"]}, environ)
    line = f"postgresql://u:{URL_SECRET}@db {PATTERN_SECRET} {ENV_SECRET}"
    fragments = [URL_SECRET[k:] for k in range(len(URL_SECRET) - 3)]
    fragments += [URL_SECRET[:-k] for k in range(1, len(URL_SECRET) - 3)]
    fragments += [PATTERN_SECRET[1:], PATTERN_SECRET[:-1], PATTERN_SECRET[5:]]
    fragments += [ENV_SECRET[:-1], ENV_SECRET[1:]]
    for shift in range(len(line) + 2):
        if where == "head end":  # the head keeps 250 bytes: the line straddles byte 250
            output = b"x" * (250 - shift) + f"{line} word\n".encode() + b"filler line\n" * 200
        else:  # the tail keeps the last 750 bytes: the line straddles where it starts
            output = b"filler line\n" * 200 + f"a {line} b\n".encode() + b"z" * (750 - shift)
        report = render(result_of(output, max_bytes=1000), settings)
        log = report.log.decode("utf-8", "replace")
        for shown in (report.text, report.html, log):
            leaked = [fragment for fragment in fragments if fragment in shown]
            assert not leaked, f"shift {shift}: {leaked} shown"


def test_the_lines_cut_where_output_was_left_out_are_counted_as_omitted() -> None:
    output = b"".join(b"line %04d\n" % n for n in range(1000))  # 10,000 bytes
    report = render(result_of(output, max_bytes=1005), load_settings({}, {}))
    log = report.log.decode()
    head, marker, tail = log.partition("[... ")
    # max_bytes 1005: the head's 251 bytes end 1 byte into line 25, the tail's 754 start 4
    # bytes before the end of line 924; both cut lines go, and are counted as left out.
    assert head.endswith("line 0024\n")
    assert tail.split("\n", 1)[1].startswith("line 0925\n")
    assert "9,000 bytes (900 lines) omitted ...]" in marker + tail
    assert log.endswith("line 0999\n")
    assert report.report.output.kept_bytes == 1000


def test_a_head_that_ends_on_a_line_keeps_all_its_lines() -> None:
    output = b"".join(b"line %04d\n" % n for n in range(1000))  # 10,000 bytes
    report = render(result_of(output, max_bytes=1000), load_settings({}, {}))
    head = report.log.decode().partition("[... ")[0]
    assert head == "".join(f"line {n:04d}\n" for n in range(25))  # the head's 250 bytes, whole


def test_the_same_result_and_time_make_the_same_report_but_a_new_message_id() -> None:
    settings = load_settings({"job_name": "etl"}, {})
    first = make_report(result_of(b"x\n"), settings, now=1_790_000_100.0, hostname="h")
    again = make_report(result_of(b"x\n"), settings, now=1_790_000_100.0, hostname="h")
    assert first.report == again.report
    assert first.rendered == again.rendered
    assert first.message["Date"] == again.message["Date"] == "Mon, 21 Sep 2026 14:15:00 +0000"
    assert first.message["Message-ID"] != again.message["Message-ID"]
    assert first.message["Message-ID"].endswith("@h>")
