"""The templates: the built-in bodies (what happened first, then the details and the output),
a user's own in the sandbox, checked before the job starts, and the fallback between them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from helpers import line_classes, render, result_of

from lognotify.capture import STDERR
from lognotify.errors import ConfigError
from lognotify.kubernetes.attempts import Attempt
from lognotify.outcome import Memory
from lognotify.report import templates
from lognotify.settings import load_settings

POD = {
    "LOGNOTIFY_POD_NAME": "nightly-etl-29001230-x7k2p",
    "LOGNOTIFY_POD_NAMESPACE": "batch",
    "LOGNOTIFY_NODE_NAME": "node-3",
    "LOGNOTIFY_K8S_JOB_NAME": "nightly-etl-29001230",
}


def plain() -> object:
    return load_settings({"job_name": "etl"}, {})


# --- the built-in subject ---------------------------------------------------------------------


def test_the_default_subject_says_status_job_reason_and_where() -> None:
    report = render(result_of(b"x\n"), load_settings({}, POD))
    assert report.subject == "[lognotify] FAILED nightly-etl (exit 3) on nightly-etl-29001230-x7k2p"


@pytest.mark.parametrize(
    ("facts", "status", "subject"),
    [
        ({"exit_code": 0}, None, "[lognotify] OK etl (exit 0) on vm"),
        ({"exit_code": 0, "error_reported": True}, None, "[lognotify] ERRORS etl (exit 0) on vm"),
        (
            {"exit_code": 143, "signal": 15, "stopped_by": 15},
            None,
            "[lognotify] FAILED etl (SIGTERM) on vm",
        ),
        (
            {"exit_code": 124, "timed_out": True, "timeout": 90.0},
            None,
            "[lognotify] FAILED etl (timed out after 1m 30s) on vm",
        ),
        ({"exit_code": 0}, "test", "[lognotify] TEST etl (exit 0) on vm"),
    ],
    ids=["success", "errors", "terminated", "timeout", "test"],
)
def test_the_default_subject_words_each_kind_of_ending(
    facts: dict[str, Any], status: str | None, subject: str
) -> None:
    report = render(result_of(b"x\n", **facts), plain(), status=status, hostname="vm")
    assert report.subject == subject


def test_a_failed_attempt_that_kubernetes_will_retry_says_so_in_the_subject() -> None:
    attempt = Attempt(number=1, of=3, final=False)
    report = render(result_of(b"x\n"), plain(), attempt=attempt, hostname="vm")
    assert report.subject == "[lognotify] FAILED etl (exit 3, attempt 1 of 3, will retry) on vm"
    assert "on vm, attempt 1 of 3 (Kubernetes will retry); ended" in report.text
    assert "Attempt:    attempt 1 of 3: Kubernetes will retry" in report.text
    last = render(result_of(b"x\n"), plain(), attempt=Attempt(number=3, of=3), hostname="vm")
    assert "will retry" not in last.subject
    assert "Attempt:    attempt 3 of 3, the last" in last.text


# --- the built-in bodies: what happened first ----------------------------------------------


def test_the_text_body_opens_with_the_reason_then_where_and_when() -> None:
    report = render(result_of(b"loading\n"), plain(), hostname="vm")
    first, second = report.text.splitlines()[:2]
    assert first == "FAILED etl: exited with status 3"
    assert second == "on vm; ended 2026-09-21T14:14:22Z after 1m 2s"


def test_error_lines_come_first_with_their_numbers_and_streams() -> None:
    output = [(b"starting\n", 1), (b"ERROR: disk full\n", 2), (b"retrying\n", 1)]
    output += [(b"Traceback (most recent call last):\n", 1)]
    report = render(result_of(streams=output), plain())
    text = report.text
    summary = text.index("2 lines look like errors:\n2 !: ERROR: disk full\n4 !| Traceback")
    assert summary < text.index("Details\n-------")
    # the output, every line with its number, its error mark and its stream
    assert "\n1  | starting\n2 !: ERROR: disk full\n3  | retrying\n4 !| Traceback" in text
    assert [line.number for line in report.report.error_lines] == [2, 4]


def test_of_many_error_lines_the_first_5_and_the_last_15_are_shown_with_the_count() -> None:
    output = [(b"line %d\n" % n, 1) for n in range(5)]
    output += [(b"ERROR number %d\n" % n, 2 if n % 2 else 1) for n in range(30)]
    report = render(result_of(streams=output), plain())
    text = report.text
    assert "30 error lines in all: the first 5 and the last 15:\n 6 !| ERROR number 0\n" in text
    assert (
        "10 !| ERROR number 4\n      ... 10 more error lines ...\n21 !: ERROR number 15\n" in text
    )
    head = text.split("Details")[0]
    assert "ERROR number 5\n" not in head
    assert "35 !: ERROR number 29\n" in head
    assert report.report.error_lines_total == 30
    assert len(report.report.error_lines) == 20


def test_without_error_lines_the_last_lines_are_shown_first() -> None:
    output = b"".join(b"step %d\n" % n for n in range(8))
    text = render(result_of(output), plain()).text
    assert "No line of the output looks like an error. Its last lines:\n4  | step 3\n" in text
    assert "8  | step 7\n\nDetails" in text


def test_a_run_that_printed_nothing_says_so() -> None:
    text = render(result_of(b""), plain()).text
    assert "\nIt printed nothing.\n" in text
    assert "\n(no output)\n" in text


def test_the_bodies_show_times_in_utc_iso_8601_and_the_duration() -> None:
    report = render(result_of(b"x\n"), plain())
    for body in (report.text, report.html):
        assert "2026-09-21T14:13:20Z" in body
        assert "2026-09-21T14:14:22Z" in body
        assert "1m 2s" in body


def test_the_bodies_say_where_in_kubernetes_and_how_to_look_further() -> None:
    report = render(result_of(b"x\n"), load_settings({}, POD))
    for body in (report.text, report.html):
        for expected in (
            "nightly-etl-29001230-x7k2p",
            "batch",
            "node-3",
            "kubectl logs -n batch nightly-etl-29001230-x7k2p",
            "kubectl describe pod -n batch nightly-etl-29001230-x7k2p",
            "kubectl describe job -n batch nightly-etl-29001230",
            "kubectl describe cronjob -n batch nightly-etl",
        ):
            assert expected in body, expected
    assert "CronJob:    nightly-etl\n" in report.text


def test_an_out_of_memory_kill_gives_the_limit_and_the_peak() -> None:
    memory = Memory(limit_bytes=64 << 20, peak_bytes=63 << 20, oom_killed=True)
    result = result_of(b"", exit_code=137, signal=9, memory=memory)
    report = render(result, plain(), hostname="vm")
    assert report.subject == "[lognotify] FAILED etl (out of memory) on vm"
    assert report.text.startswith("FAILED etl: ran out of memory (limit 64 MiB, peak 63 MiB)\n")
    assert "Memory:     limit 64 MiB, peak 63 MiB, killed by the OOM killer" in report.text
    assert "limit 64 MiB, peak 63 MiB, killed by the OOM killer" in report.html


def test_the_exception_and_its_frame_come_first_and_the_traceback_last() -> None:
    trace = (
        "Traceback (most recent call last):\n"
        '  File "etl.py", line 7, in load_rows\n'
        "    raise ValueError('bad row 7')\n"
        "ValueError: bad row 7\n"
    )
    result = result_of(
        b"INFO loading\n",
        mode="library",
        exit_code=1,
        exception="ValueError: bad row 7",
        traceback=trace,
    )
    report = render(result, plain())
    text = report.text
    assert text.startswith("FAILED etl: raised ValueError: bad row 7\n")
    frame = text.index('  File "etl.py", line 7, in load_rows\n    raise ValueError(')
    assert frame < text.index("Details") < text.index("Traceback\n---------\n" + trace)
    assert "in load_rows" in report.html
    assert "ValueError: bad row 7" in report.html


# --- the HTML part ------------------------------------------------------------------------------


def test_html_escapes_captured_text_and_marks_error_and_stderr_lines() -> None:
    output = [(b"<script>alert('x')</script>\n", 1), (b"oops & <b>bold</b>\n", STDERR)]
    output += [(b"ERROR failed\n", 1), (b"ERROR: on stderr\n", STDERR)]
    report = render(result_of(streams=output), plain())
    assert "<script>" not in report.html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in report.html
    assert "<script>alert('x')</script>" in report.text
    # The contract's additions: a stderr line that does not look like an error is marked as
    # stderr, not as an error (before, every stderr line was both).
    assert line_classes(report.html, "oops & <b>bold</b>") == {"stderr"}
    assert line_classes(report.html, "ERROR failed") == {"error"}
    assert line_classes(report.html, "ERROR: on stderr") == {"error", "stderr"}
    assert line_classes(report.html, "<script>") == set()
    assert line_classes(report.html, "ERROR failed", section="error-lines") == {"error"}


@pytest.mark.parametrize(
    "line",
    [
        "error: linker command failed",
        "[error] disk full",
        "level=error msg=boom",
        "fatal: not a git repository",
        "ValueError: bad row",
        "psycopg2.OperationalError: gone",
        "npm ERR! code ELIFECYCLE",
        "Segmentation fault (core dumped)",
        "ERROR something",
    ],
)
def test_common_error_lines_are_highlighted(line: str) -> None:
    report = render(result_of(f"fine\n{line}\n".encode()), plain())
    assert "error" in line_classes(report.html, line)
    assert line_classes(report.html, "fine") == set()  # an ordinary line is not highlighted
    assert f"2 !| {line}\n" in report.text


def test_the_html_part_leads_with_the_reason_and_says_the_reason_code() -> None:
    html = render(result_of(b"x\n"), plain()).html
    assert html.index('<h1 class="reason"') < html.index("Details</h2>")
    assert ">Exited with status 3</h1>" in html
    assert "X-Lognotify-Reason: exit" in html


# --- a user's own templates ---------------------------------------------------------------------


def test_custom_templates_replace_the_built_in_ones_one_by_one(tmp_path: Path) -> None:
    (tmp_path / "subject.txt.j2").write_text("{{ job }} broke with {{ exit_code }}")
    (tmp_path / "body.txt.j2").write_text("custom text for {{ job }}: {{ reason }}")
    settings = load_settings({"template_dir": str(tmp_path), "job_name": "j"}, {})
    report = render(result_of(b"x\n"), settings)
    assert report.subject == "j broke with 3"
    # the redesign's wording; the message adds the final newline a text part needs
    assert report.made.rendered.text == "custom text for j: exited with status 3"
    assert report.text == "custom text for j: exited with status 3\n"
    assert report.html.startswith("<!DOCTYPE html>")  # the built-in HTML template still
    assert report.template_errors == ()


@pytest.mark.parametrize(
    ("source", "why"),
    [("{{ no_such_variable }}", "UndefinedError"), ("{{ 1 // 0 }}", "ZeroDivisionError")],
)
def test_a_template_that_fails_to_render_falls_back_and_the_report_says_which_and_why(
    tmp_path: Path, source: str, why: str
) -> None:
    (tmp_path / "body.html.j2").write_text(source)
    report = render(result_of(b"x\n"), load_settings({"template_dir": str(tmp_path)}, {}))
    assert report.html.startswith("<!DOCTYPE html>")
    assert report.template_errors
    assert report.template_errors[0].startswith(f"body.html.j2: {why}")
    assert f"body.html.j2: {why}" in report.text
    assert f"body.html.j2: {why}" in report.html


@pytest.mark.parametrize(
    ("name", "source", "line", "words"),
    [
        ("body.html.j2", "<p>\n{% if %}</p>", 2, "Expected an expression"),
        # An unknown filter is found when the template is compiled: a configuration error now,
        # before the job starts, not a fallback after it failed.
        ("body.txt.j2", "ok\n\n{{ job | no_such_filter }}", 3, "no_such_filter"),
        ("subject.txt.j2", "{{ job", 1, "unexpected end of template"),
    ],
)
def test_a_template_that_cannot_compile_is_a_configuration_error_naming_file_and_line(
    tmp_path: Path, name: str, source: str, line: int, words: str
) -> None:
    (tmp_path / name).write_text(source)
    with pytest.raises(ConfigError) as caught:
        templates.check(None, str(tmp_path))
    message = str(caught.value)
    assert message.startswith(f"{tmp_path / name}: line {line}: ")
    assert words in message
    assert "\n" not in message


def test_a_subject_that_cannot_compile_is_a_configuration_error_naming_the_setting() -> None:
    with pytest.raises(ConfigError, match=r"^subject \(LOGNOTIFY_SUBJECT\): line 1: "):
        templates.check("{{ nope", None)
    templates.check("{{ job }} failed", None)  # a good one passes
    templates.check(None, None)


def test_a_subject_that_cannot_compile_at_render_time_falls_back_too() -> None:
    # check() refuses it before the job; should it reach the report anyway, the report goes out
    report = render(result_of(b"x\n"), load_settings({"subject": "{{ oops", "job_name": "j"}, {}))
    assert report.subject.startswith("[lognotify] FAILED j")
    assert "LOGNOTIFY_SUBJECT" in report.text


def test_a_template_dir_changed_after_the_check_still_gives_the_built_in_report(
    tmp_path: Path,
) -> None:
    (tmp_path / "body.txt.j2").write_text("{% for %}")
    report = render(result_of(b"x\n"), load_settings({"template_dir": str(tmp_path)}, {}))
    assert report.text.startswith("FAILED sync.sh: exited with status 3\n")
    assert f"{tmp_path}: TemplateSyntaxError" in report.text


def test_a_subject_that_renders_to_nothing_falls_back_to_the_default() -> None:
    settings = load_settings({"subject": "{% if false %}x{% endif %}", "job_name": "etl"}, {})
    report = render(result_of(b"x\n"), settings)
    assert report.subject.startswith("[lognotify] FAILED etl (exit 3)")


def test_a_users_templates_run_in_the_sandbox(tmp_path: Path) -> None:
    marker = tmp_path / "escaped"
    attack = f"{{{{ cycler.__init__.__globals__.os.popen('touch {marker}').read() }}}}"
    (tmp_path / "body.txt.j2").write_text(attack)
    settings = load_settings({"template_dir": str(tmp_path), "subject": attack}, {})
    report = render(result_of(b"x\n"), settings)
    assert not marker.exists()
    assert report.subject.startswith("[lognotify] FAILED sync.sh")  # the built-in ones instead
    assert report.text.startswith("FAILED sync.sh: exited with status 3\n")
    assert len(report.template_errors) == 2
    assert all("SecurityError" in error for error in report.template_errors)


def test_a_user_template_sees_the_documented_variables(tmp_path: Path) -> None:
    (tmp_path / "body.txt.j2").write_text(
        "{{ reason_code }} {{ exit_code }} {{ output.total_lines }} {{ error_lines_total }} "
        "{% for line in output.head_lines %}{{ line.number }}:{{ line.stream }}:{{ line.text }}"
        "{{ '!' if line.error }};{% endfor %} {{ attempt.number }} {{ memory.oom_killed }}"
    )
    output = [(b"ok\n", 1), (b"ERROR x\n", 2)]
    report = render(result_of(streams=output), load_settings({"template_dir": str(tmp_path)}, {}))
    assert report.made.rendered.text == "exit 3 2 1 1:stdout:ok;2:stderr:ERROR x!; None False"
