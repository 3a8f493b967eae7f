"""Rendering: templates, fallback, the output excerpt, headers and the size bound."""

from __future__ import annotations

import gzip
import os
from html import escape
from pathlib import Path

import pytest

from helpers import line_classes, render, result_of

from lognotify.capture import STDERR, Capture
from lognotify.outcome import RunResult, command_reason, library_reason
from lognotify.settings import load_settings


def result_with(
    output: bytes = b"", *, exit_code: int = 3, streams: list[tuple[bytes, int]] | None = None,
    max_bytes: int = 1 << 20,
) -> RunResult:  # fmt: skip
    return result_of(output, exit_code=exit_code, streams=streams, max_bytes=max_bytes)  # type: ignore[return-value]


def test_the_default_subject_says_status_job_reason_and_where() -> None:
    report = render(result_with(b"x\n"), load_settings({"job_name": "nightly-etl"}, {"LOGNOTIFY_POD_NAME": "nightly-etl-29001230-x7k2p"}))
    assert report.subject == "[lognotify] FAILED nightly-etl (exit 3) on nightly-etl-29001230-x7k2p"


def test_the_bodies_show_times_in_utc_iso_8601_and_the_duration() -> None:
    report = render(result_with(b"x\n"), load_settings({}, {}))
    for body in (report.text, report.html):
        assert "2026-09-21T14:13:20Z" in body and "2026-09-21T14:14:22Z" in body
        assert "1m 2s" in body


def test_html_escapes_captured_text_and_marks_error_lines() -> None:
    output = [(b"<script>alert('x')</script>\n", 1), (b"oops & <b>bold</b>\n", STDERR), (b"ERROR failed\n", 1)]
    report = render(result_with(streams=output), load_settings({}, {}))
    assert "<script>" not in report.html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in report.html
    assert 'class="error stderr">oops &amp; &lt;b&gt;bold&lt;/b&gt;</span>' in report.html
    assert 'class="error stdout">ERROR failed</span>' in report.html
    assert "<script>alert('x')</script>" in report.text


def test_a_large_output_shows_head_and_tail_with_what_was_omitted() -> None:
    lines = b"".join(b"line %d\n" % n for n in range(200_000))
    report = render(result_with(lines, max_bytes=100_000), load_settings({}, {}))
    assert "line 0\n" in report.text and "line 199999\n" in report.text
    assert "bytes (" in report.text and "lines) omitted ...]" in report.text
    assert "line 100000\n" not in report.text


def test_the_output_headline_says_whether_the_attachment_holds_all_of_it() -> None:
    lines = b"".join(b"line %05d\n" % n for n in range(1000))  # 11,000 bytes
    settings = load_settings({"job_name": "etl"}, {})
    whole = render(result_with(lines), settings)
    cut = render(result_with(lines, max_bytes=5_000), settings)
    for body in (whole.text, whole.html):
        assert "11,000 bytes, all kept in etl-20260921T141320Z.log.gz" in body
    for body in (cut.text, cut.html):
        assert "all kept" not in body
        # 5,000 bytes kept, less the two lines cut where the rest was left out (7 + 10 bytes)
        assert "11,000 bytes; 4,983 of them kept in etl-20260921T141320Z.log.gz: its start and its end" in body


def test_progress_bars_escapes_and_control_bytes_are_made_readable() -> None:
    output = b"\x1b[31mred\x1b[0m\n0%\r50%\r100%\nnul\x00byte \xff\n"
    report = render(result_with(output), load_settings({}, {}))
    assert "red\n100%\nnul\\x00byte \ufffd\n" in report.text
    assert report.log == output


def test_custom_templates_replace_the_built_in_ones_one_by_one(tmp_path: Path) -> None:
    (tmp_path / "subject.txt.j2").write_text("{{ job }} broke with {{ exit_code }}")
    (tmp_path / "body.txt.j2").write_text("custom text for {{ job }}: {{ reason }}")
    report = render(result_with(b"x\n"), load_settings({"template_dir": str(tmp_path), "job_name": "j"}, {}))
    assert report.subject == "j broke with 3"
    assert report.text == "custom text for j: exit status 3"
    assert "<html>" in report.html  # the built-in HTML template still
    assert report.template_errors == ()


@pytest.mark.parametrize(
    ("source", "why"),
    [
        ("{% if %}", "TemplateSyntaxError"),
        ("{{ no_such_variable }}", "UndefinedError"),
        ("{{ 1 // 0 }}", "ZeroDivisionError"),
    ],
)
def test_a_broken_template_falls_back_and_the_report_says_which_and_why(tmp_path: Path, source: str, why: str) -> None:
    (tmp_path / "body.html.j2").write_text(source)
    report = render(result_with(b"x\n"), load_settings({"template_dir": str(tmp_path)}, {}))
    assert "<html>" in report.html
    assert report.template_errors and report.template_errors[0].startswith(f"body.html.j2: {why}")
    assert f"body.html.j2: {why}" in report.text and f"body.html.j2: {why}" in report.html


def test_a_broken_subject_setting_falls_back_too() -> None:
    report = render(result_with(b"x\n"), load_settings({"subject": "{{ oops", "job_name": "j"}, {}))
    assert report.subject.startswith("[lognotify] FAILED j")
    assert "LOGNOTIFY_SUBJECT" in report.text


def test_line_breaks_in_anything_that_reaches_a_header_are_neutralised() -> None:
    settings = load_settings({"job_name": "etl\r\nBcc: evil@example.com", "subject": "a\nb\u2028c {{ job }}"}, {})
    message = render(result_with(b"x\n"), settings).message
    raw = message.as_bytes()
    assert b"\nBcc:" not in raw and b"\r\nBcc:" not in raw
    assert message["Subject"] == "a b c etl Bcc: evil@example.com"
    assert message["X-Lognotify-Job"] == "etl Bcc: evil@example.com"
    assert message.get_all("Bcc") is None


def test_the_attachment_is_the_gzipped_log_named_after_job_and_time() -> None:
    settings = load_settings({"job_name": "nightly etl/v2"}, {})
    message = render(result_with(b"hello\n"), settings).message
    (part,) = list(message.iter_attachments())
    assert part.get_filename() == "nightly_etl_v2-20260921T141320Z.log.gz"
    assert part.get_content_type() == "application/gzip"
    assert gzip.decompress(part.get_content()) == b"hello\n"


def test_an_empty_capture_gets_no_attachment() -> None:
    settings = load_settings({}, {})
    message = render(result_with(b""), settings).message
    assert message.get_content_type() == "multipart/alternative"
    assert list(message.iter_attachments()) == []
    assert "(no output)" in message.get_body(("plain",)).get_content()


@pytest.mark.parametrize("max_bytes", [1 << 20, 8 << 20])
def test_the_message_stays_under_2_mib_with_incompressible_output(max_bytes: int) -> None:
    noise = os.urandom(max_bytes * 2)
    settings = load_settings({"max_bytes": max_bytes}, {})
    message = render(result_with(noise, max_bytes=max_bytes), settings).message
    raw = message.as_bytes()
    assert len(raw) < 2 * 1024 * 1024
    (part,) = list(message.iter_attachments())
    log = gzip.decompress(part.get_content())
    assert log.startswith(noise[:1000]) and log.endswith(noise[-1000:])


def test_the_omitted_count_is_exact_whatever_lines_the_excerpt_ends_on() -> None:
    # 600 lines, the 100th of them empty: the bodies show 100 + 300, and say 200 are left out.
    lines = [b"line %d" % n for n in range(600)]
    lines[99] = b""
    output = b"\n".join(lines) + b"\n"
    report = render(result_with(output), load_settings({}, {}))
    middle = b"\n".join(lines[100:300]) + b"\n"
    assert f"[... {len(middle):,} bytes (200 lines) omitted ...]" in report.text
    assert "line 98\n\n[... " in report.text and "omitted ...]\nline 300\n" in report.text


def test_a_huge_exception_and_command_line_keep_the_message_under_2_mib() -> None:
    # A bulk insert's error carries every parameter; a generated argument list can be megabytes.
    message_text = "insert failed [parameters: " + ", ".join(f"({n}, 'row-{n}')" for n in range(40_000)) + "]"
    result = RunResult(
        mode="library", command="python etl.py " + "x" * 2_000_000, program="etl", exit_code=1,
        reason=library_reason(exit_code=1, exception=f"ValueError: {message_text}"),
        started=1_790_000_000.0, ended=1_790_000_001.0, exception=f"ValueError: {message_text}",
        traceback=f"Traceback (most recent call last):\n  File \"etl.py\", line 1\nValueError: {message_text}\n",
        output=Capture().snapshot(),
    )
    settings = load_settings({"job_name": "etl"}, {})
    report = render(result, settings)
    raw = report.message.as_bytes()
    assert len(raw) < 2 * 1024 * 1024
    for body in (report.text, report.html):
        assert "ValueError: insert failed [parameters: (0, &#39;row-0&#39;)" in body or "ValueError: insert failed [parameters: (0, 'row-0')" in body
        assert "characters omitted" in body
    assert len(report.subject) <= 250


def test_bytes_that_are_not_utf8_in_the_command_or_names_still_make_a_report() -> None:
    result = RunResult(
        mode="command", command="sh -c 'exit 1' caf\udce9.csv", program="sh", exit_code=1,
        reason=command_reason(exit_code=1),
        started=1_790_000_000.0, ended=1_790_000_001.0, output=Capture().snapshot(),
    )
    settings = load_settings({}, {"LOGNOTIFY_JOB_NAME": "a\udc85b", "LOGNOTIFY_POD_NAME": "p\udcffod"})
    report = render(result, settings)
    raw = report.message.as_bytes()  # encodes: nothing unencodable is left
    assert "caf\\xe9.csv" in report.text and "caf\\xe9.csv" in report.html
    assert report.job == "a\\x85b" and "p\\xffod" in report.subject
    assert b"X-Lognotify-Job: a\\x85b" in raw


def test_a_secret_that_is_also_a_word_of_the_template_leaves_the_markup_alone() -> None:
    environ = {"SECRET_KEY_BASE": "span", "TOKEN_KIND": "failure"}
    report = render(result_with(b"the span of failure\n"), load_settings({}, environ))
    assert "<[REDACTED]" not in report.html and "</span>" in report.html
    assert "Status:" in report.text and "failure" in report.text  # our own words are kept
    assert "the [REDACTED] of [REDACTED]" in report.text  # the job's output is redacted
    assert "the [REDACTED] of [REDACTED]" in report.html


def test_a_subject_that_renders_to_nothing_falls_back_to_the_default() -> None:
    settings = load_settings({"subject": "{% if false %}x{% endif %}", "job_name": "etl"}, {})
    report = render(result_with(b"x\n"), settings)
    assert report.subject.startswith("[lognotify] FAILED etl (exit 3)")


@pytest.mark.parametrize(
    "line",
    [
        "error: linker command failed", "[error] disk full", "level=error msg=boom",
        "fatal: not a git repository", "ValueError: bad row", "psycopg2.OperationalError: gone",
        "npm ERR! code ELIFECYCLE", "Segmentation fault (core dumped)", "ERROR something",
    ],
)
def test_common_error_lines_are_highlighted(line: str) -> None:
    report = render(result_with(f"fine\n{line}\n".encode()), load_settings({}, {}))
    lines = report.html.splitlines()
    assert any(f'class="error stdout">{escape(line)}</span>' in html_line for html_line in lines)
    assert "fine" in lines  # an ordinary line is not highlighted


def test_a_secret_cut_by_a_colour_code_is_redacted_in_the_bodies() -> None:
    environ = {"API_TOKEN": "hunter22xyz"}
    report = render(result_with(b"v=hunt\x1b[0mer22xyz\n"), load_settings({}, environ))
    for body in (report.text, report.html):
        assert "hunter22xyz" not in body
        assert "v=[REDACTED]" in body


URL_SECRET = "Pa55w0rdLongSecret99"
PATTERN_SECRET = "sess-abcdefghijklmnopqrst"
ENV_SECRET = "env-secret-0123456789"


@pytest.mark.parametrize("where", ["head end", "tail start"])
def test_no_secret_is_shown_cut_where_output_was_left_out(where: str) -> None:
    settings = load_settings({"max_bytes": 1000, "redact": [r"sess-[a-z]{20}"]}, {})
    environ = {"DB_PASSWORD": ENV_SECRET}
    line = f"postgresql://u:{URL_SECRET}@db {PATTERN_SECRET} {ENV_SECRET}"
    fragments = [URL_SECRET[k:] for k in range(len(URL_SECRET) - 3)]
    fragments += [URL_SECRET[:-k] for k in range(1, len(URL_SECRET) - 3)]
    fragments += [PATTERN_SECRET[1:], PATTERN_SECRET[:-1], PATTERN_SECRET[5:], ENV_SECRET[:-1], ENV_SECRET[1:]]
    for shift in range(0, len(line) + 2):
        if where == "head end":  # the head keeps 250 bytes: the line straddles byte 250
            output = b"x" * (250 - shift) + f"{line} word\n".encode() + b"filler line\n" * 200
        else:  # the tail keeps the last 750 bytes: the line straddles where it starts
            output = b"filler line\n" * 200 + f"a {line} b\n".encode() + b"z" * (750 - shift)
        report = render(result_with(output, max_bytes=1000), settings)
        log = report.log.decode("utf-8", "replace")
        for shown in (report.text, report.html, log):
            leaked = [fragment for fragment in fragments if fragment in shown]
            assert not leaked, f"shift {shift}: {leaked} shown"


def test_the_lines_cut_where_output_was_left_out_are_counted_as_omitted() -> None:
    output = b"".join(b"line %04d\n" % n for n in range(1000))  # 10,000 bytes
    report = render(result_with(output, max_bytes=1005), load_settings({}, {}))
    log = report.log.decode()
    head, marker, tail = log.partition("[... ")
    # max_bytes 1005: the head's 251 bytes end 1 byte into line 25, the tail's 754 start 4
    # bytes before the end of line 924; both cut lines go, and are counted as left out.
    assert head.endswith("line 0024\n") and tail.split("\n", 1)[1].startswith("line 0925\n")
    assert "9,000 bytes (900 lines) omitted ...]" in marker + tail
    assert log.endswith("line 0999\n")


def test_compiled_templates_are_kept_and_a_damaged_entry_is_compiled_afresh(tmp_path: Path) -> None:
    from lognotify.report import _builtin_environment

    folder = tmp_path / "cache"
    context = {"status_word": "TEST", "job": "etl", "short_reason": "a test", "where": "vm"}
    first = _builtin_environment(html=False, folders=[folder]).get_template("subject.txt.j2")
    (entry,) = folder.glob("*.jinja")
    kept = _builtin_environment(html=False, folders=[folder]).get_template("subject.txt.j2")
    entry.write_bytes(entry.read_bytes()[:40])  # cut short, as a full disk would leave it
    damaged = _builtin_environment(html=False, folders=[folder]).get_template("subject.txt.j2")
    assert first.render(context) == kept.render(context) == damaged.render(context)
    assert "[lognotify] TEST etl" in first.render(context)


def test_a_compiled_template_is_never_taken_from_a_folder_others_can_write(tmp_path: Path) -> None:
    import jinja2

    from lognotify.report import BUILTIN_TEMPLATES, _builtin_environment

    folder = tmp_path / "shared"
    folder.mkdir()
    folder.chmod(0o777)  # anyone may have put an entry here
    environment = _builtin_environment(html=False, folders=[folder])
    name = "subject.txt.j2"
    source = (BUILTIN_TEMPLATES / name).read_text()
    filename = str(BUILTIN_TEMPLATES / name)
    cache = environment.bytecode_cache
    assert cache is not None
    planted = cache.get_bucket(environment, name, filename, source)  # the real key and checksum
    planted.code = environment.compile("planted code ran", name, filename)
    with open(folder / f"{planted.key}.jinja", "wb") as entry:
        planted.write_bytecode(entry)

    template = environment.get_template(name)

    assert template.render(status_word="TEST", job="etl", short_reason="x", where="vm") == (
        "[lognotify] TEST etl (x) on vm\n"
    )
    assert isinstance(template, jinja2.Template)


def test_a_head_that_ends_on_a_line_keeps_all_its_lines() -> None:
    output = b"".join(b"line %04d\n" % n for n in range(1000))  # 10,000 bytes
    report = render(result_with(output, max_bytes=1000), load_settings({}, {}))
    head = report.log.decode().partition("[... ")[0]
    assert head == "".join(f"line {n:04d}\n" for n in range(25))  # the head's 250 bytes, whole
