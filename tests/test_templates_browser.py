"""The built-in bodies: what happened first, error and stderr lines marked, checked in text and
in a real headless Chromium at 1000 x 1400 and 400 px, light and dark, with and without <style>.

The reports are real: RunResults made as the runner, the library and the watcher make them,
through ``make_report``. Screenshots go to a folder the run prints (``LOGNOTIFY_SCREENSHOTS``
chooses it); ``scripts/screenshots`` makes the README's from ``long_shell_job``.
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
import signal
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser import Browser, BrowserUnavailable
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from lognotify.capture import STDERR, STDOUT, Capture
from lognotify.handler import TeeHandler
from lognotify.kubernetes.attempts import Attempt, attempt_of
from lognotify.kubernetes.cgroup import format_bytes
from lognotify.kubernetes.watch.model import Incident, PodAttempt
from lognotify.library import DEFAULT_FORMAT
from lognotify.outcome import Memory, RunResult, command_reason, library_reason
from lognotify.report import Made, make_report, templates
from lognotify.report.model import Pod, Report
from lognotify.report.shown import ShownLine
from lognotify.settings.model import KubernetesSettings, Settings
from lognotify.text import iso
from lognotify.watcher import incident_result

STARTED = 1_790_000_000.0  # 2026-09-21T14:13:20Z
MIB = 1024 * 1024
POD = KubernetesSettings(
    pod="nightly-sync-29001230-x7k2p",
    namespace="batch",
    node="node-a-3",
    job="nightly-sync-29001230",
    failures=2,
    backoff_limit=2,
)
FIRST_SCREEN, PHONE = (1000, 1400), (400, 900)
BODIES = ("body.txt.j2", "body.html.j2")


def _report(result: RunResult, settings: Settings | None = None, **options: Any) -> Made:
    settings = settings or Settings()
    return make_report(result, settings, hostname="worker-7", now=result.ended, **options)


def _command(chunks: list[tuple[bytes, int]], max_bytes: int = 1 << 20, **facts: Any) -> RunResult:
    capture = Capture(max_bytes)
    for data, stream in chunks:
        capture.append(data, stream)
    exit_code = facts.pop("exit_code", 3)
    return RunResult(
        mode="command",
        command="/app/sync.sh --full",
        program="sync.sh",
        exit_code=exit_code,
        reason=command_reason(exit_code=exit_code, **facts),
        started=STARTED,
        ended=STARTED + 754.2,
        output=capture.snapshot(),
        signal=facts.get("signal"),
        memory=facts.get("memory"),
    )


def shell_line(row: int, every: int) -> tuple[str, int]:
    """Row ``row`` of the long job's output, and its stream."""
    stamp = f"2026-09-21T14:{13 + row // 400:02d}:{row % 60:02d}Z"
    if row % every == 0:
        customer = f"customer {10_000 + row}"
        return (
            f"{stamp} ERROR sync: row {row}: invalid amount 'N/A' for {customer}; skipped",
            STDERR,
        )
    if row == 4990:
        return "FATAL: cannot write /data/out/customers.csv: No space left on device", STDERR
    if row > 4990:
        return f"{stamp} INFO sync: cleaning up /data/tmp/part-{row:05d}", STDOUT
    where = f"customer {10_000 + row}, region eu-west-1"
    return f"{stamp} INFO sync: processed row {row}/5000 ({where})", STDOUT


def long_shell_job(every: int = 997) -> Made:
    """5,000 lines; an error on stderr every ``every`` rows; the cause, FATAL, near the end."""
    chunks = []
    for row in range(1, 5001):
        text, stream = shell_line(row, every)
        chunks.append(((text + "\n").encode(), stream))
    attempt = attempt_of(POD, exit_code=3, reason_code="exit")
    return _report(_command(chunks, 128 * 1024), Settings(kubernetes=POD), attempt=attempt)


def many_errors() -> Made:
    return long_shell_job(every=97)


def python_exception() -> Made:
    handler = TeeHandler(capture=Capture(), echo=False)
    handler.setFormatter(logging.Formatter(DEFAULT_FORMAT))
    log = logging.Logger("etl")
    log.addHandler(handler)
    log.info("loading batch %s", 42)
    log.warning("row 7: amount missing, using 0")
    log.error("row 9: customer <unknown> & no region")
    try:
        rows = [{"amount": "12.50"}, {"amount": "N/A"}]
        log.info("total %s", sum(float(row["amount"]) for row in rows))
    except ValueError as exc:
        exception = f"{type(exc).__name__}: {exc}"
        trace = "".join(traceback.format_exception(exc))
    reason = library_reason(exit_code=1, exception=exception, error_reported=True)
    result = RunResult(
        mode="library",
        command="python etl.py --batch 42",
        program="etl.py",
        exit_code=1,
        reason=reason,
        started=STARTED,
        ended=STARTED + 3.25,
        output=handler.capture.snapshot(),
        exception=exception,
        traceback=trace,
        error_reported=True,
    )
    return _report(result, Settings(job_name="nightly-etl"))


def out_of_memory() -> Made:
    memory = Memory(limit_bytes=512 * MIB, peak_bytes=511 * MIB + 300_000, oom_killed=True)
    chunks = [
        (b"loading partition %d: %d MiB in memory\n" % (n, n * 48), STDOUT) for n in range(12)
    ]
    result = _command(chunks, exit_code=137, signal=signal.SIGKILL, memory=memory)
    return _report(result, Settings(kubernetes=POD), attempt=Attempt(number=2, of=3, final=False))


def short_output() -> Made:
    chunks = [
        (b"starting <sync> & friends\n", STDOUT),
        (b"<script>alert('x')</script>\n", STDOUT),
        (b"warning: cache is cold\n", STDERR),
        (b"error: disk quota exceeded\n", STDERR),
    ]
    return _report(_command(chunks, exit_code=2))


def empty_output() -> Made:
    return _report(_command([], exit_code=1))


def watch_attempts() -> Made:
    attempts = tuple(
        PodAttempt(
            pod=f"nightly-sync-29001230-{n}q7zk",
            node=f"node-b-{n}",
            started=start,
            ended=start + 61,
            exit_code=137,
            signal=None,
            reason="OOMKilled",
            message="container exceeded its limit of 512Mi" if n == 3 else None,
        )
        for n, start in ((1, STARTED), (2, STARTED + 90), (3, STARTED + 200))
    )
    capture = Capture()
    capture.append(b"".join(b"copying shard %d\n" % n for n in range(40)))
    last = attempts[-1]
    incident = Incident(
        kind="job-failed",
        key="uid-1",
        namespace="batch",
        job="nightly-sync-29001230",
        cronjob="nightly-sync",
        pod=last.pod,
        node=last.node,
        container="sync",
        reason_code="oom",
        exit_code=137,
        signal=None,
        message="",
        attempts=attempts,
        started=STARTED,
        ended=STARTED + 261,
        output=capture.snapshot(),
    )
    pod = Pod(
        pod=last.pod, namespace="batch", node=last.node, job=incident.job, cronjob="nightly-sync"
    )
    return _report(incident_result(incident), pod=pod, attempts=attempts)


SCENARIOS = {
    "long-shell-job": long_shell_job,
    "many-errors": many_errors,
    "python-exception": python_exception,
    "out-of-memory": out_of_memory,
    "short-output": short_output,
    "empty-output": empty_output,
    "watch-attempts": watch_attempts,
}


def html_of(made: Made) -> str:
    """The HTML part of a report's message."""
    part = made.message.get_body(("html",))
    assert part is not None
    return str(part.get_content())


def text_of(made: Made) -> str:
    """The text part of a report's message."""
    part = made.message.get_body(("plain",))
    assert part is not None
    return str(part.get_content())


def digits(report: Report) -> int:
    numbers = [line.number for line in report.error_lines]
    return max(len(str(report.output.total_lines)), len(str(max(numbers, default=0))))


def expected_boxes(report: Report) -> dict[str, list[ShownLine | None]]:
    """The lines each ``.lines`` box shows, in order; None stands for a gap marker."""
    out = report.output
    boxes: dict[str, list[ShownLine | None]] = {}
    if report.error_lines:
        errors: list[ShownLine | None] = list(report.error_lines)
        if report.error_lines_total > len(errors):
            errors.insert(5, None)
        boxes["error-lines"] = errors
    elif not out.empty:
        boxes["last-lines"] = list((out.head_lines + out.tail_lines)[-5:])
    if not out.empty:
        boxes["output"] = [*out.head_lines, *([None] if out.omitted else []), *out.tail_lines]
    return boxes


@functools.cache
def _macros(name: str) -> Any:
    """The module of a built-in body (its macros), rendered once."""
    template = templates.builtin_environment(name.endswith(".html.j2")).get_template(name)
    return template.make_module(empty_output().report.context())


# --- the text part, no browser needed -----------------------------------------------------------


@pytest.mark.parametrize("name", SCENARIOS)
def test_the_text_body_opens_with_the_reason_then_the_error_lines_then_details(name: str) -> None:
    made = SCENARIOS[name]()
    text, report = text_of(made), made.report
    assert text.splitlines()[0] == f"{report.status_word} {report.job}: {report.reason}"
    details = text.index("\nDetails\n")
    for line in report.error_lines:  # each with its number, a "!", and its stream's mark
        mark = ":" if line.stream == "stderr" else "|"
        assert text.index(f"{line.number:>{digits(report)}} !{mark} {line.text}\n") < details
    if report.exception:
        assert text.index(report.exception) < details


def test_the_text_body_marks_error_and_stderr_lines_of_the_excerpt() -> None:
    made = long_shell_job()
    text, out, width = text_of(made), made.report.output, digits(made.report)
    excerpt = text[text.index("\n------\n") :]
    assert f"\n{5000:>{width}}  | " in excerpt
    assert f"\n{4990:>{width}} !: FATAL: cannot write" in excerpt
    for line in (*out.head_lines, *out.tail_lines):
        marks = ("!" if line.error else " ") + (":" if line.stream == "stderr" else "|")
        assert f"\n{line.number:>{width}} {marks} {line.text}\n" in excerpt


def test_error_lines_of_the_omitted_middle_are_in_what_happened_with_their_numbers() -> None:
    made = long_shell_job()
    report, text, html = made.report, text_of(made), html_of(made).replace("&#39;", "'")
    shown = {line.number for line in (*report.output.head_lines, *report.output.tail_lines)}
    middle = [line for line in report.error_lines if line.number not in shown]
    assert [line.number for line in middle] == [997, 1994, 2991, 3988]
    for line in middle:
        assert f"{line.number} !: {line.text}" in text
        assert f"{line.number} </span>{line.text}" in html


def test_more_error_lines_than_shown_are_counted_and_the_gap_is_said() -> None:
    made = many_errors()
    report, text = made.report, text_of(made)
    total = report.error_lines_total
    assert total == 5000 // 97 + 1
    assert len(report.error_lines) == 20
    assert f"{total} error lines in all: the first 5 and the last 15:" in text
    assert f"... {total - 20} more error lines ..." in text
    assert f"{total} error lines in all" in html_of(made)


def test_the_output_headline_says_all_kept_only_when_the_attachment_holds_it_all() -> None:
    short, long = short_output(), long_shell_job()
    assert f"all kept in {short.report.attachment_name}" in text_of(short)
    out = long.report.output
    assert out.kept_bytes < out.total_bytes
    for body in (text_of(long), html_of(long)):
        assert "all kept" not in body
        assert f"{out.kept_bytes:,} bytes of it (its start and its end) kept in" in body
        assert f"{out.total_bytes:,} bytes, 5,000 lines" in body


def test_memory_and_the_attempt_are_in_both_bodies() -> None:
    made = out_of_memory()
    assert made.report.reason == "ran out of memory (limit 512 MiB, peak 511 MiB)"
    for body in (text_of(made), html_of(made)):
        assert "limit 512 MiB, peak 511 MiB, killed by the OOM killer" in body
        assert "attempt 2 of 3: Kubernetes will retry" in body


def test_the_attempts_of_a_watched_job_are_listed_with_utc_times() -> None:
    made = watch_attempts()
    text, html = text_of(made), html_of(made)
    assert " 1. nightly-sync-29001230-1q7zk on node-b-1\n" in text
    assert "    2026-09-21T14:13:20Z to 2026-09-21T14:14:21Z: exit 137, OOMKilled\n" in text
    assert "    container exceeded its limit of 512Mi\n" in text
    assert "2026-09-21T14:16:40Z<br>2026-09-21T14:17:41Z" in html
    assert html.count("exit 137<br>OOMKilled") == 3


@given(st.integers(min_value=0, max_value=1 << 62))
@hypothesis_settings(max_examples=300, deadline=None)
def test_the_templates_size_macro_words_bytes_as_the_reason_does(count: int) -> None:
    for name in BODIES:
        assert str(_macros(name).size(count)) == format_bytes(count)


@given(st.floats(min_value=0, max_value=8e9))
@hypothesis_settings(max_examples=300, deadline=None)
def test_the_templates_utc_macro_is_iso_8601_of_the_epoch_time(epoch: float) -> None:
    for name in BODIES:
        assert str(_macros(name).utc(epoch)) == iso(epoch)


def test_a_custom_template_that_fails_is_named_in_both_bodies(tmp_path: Path) -> None:
    (tmp_path / "body.html.j2").write_text("{{ no_such_variable }}")
    made = _report(_command([(b"x\n", STDOUT)]), Settings(template_dir=str(tmp_path)))
    text, html = text_of(made), html_of(made)
    assert "Note: a custom template failed, so the built-in one was used:" in text
    assert "A custom template failed, so the built-in one was used:" in html
    for body in (text, html):
        assert "body.html.j2: UndefinedError" in body


def test_the_built_in_bodies_render_the_same_in_the_sandbox_of_custom_ones(tmp_path: Path) -> None:
    for name in BODIES:  # a user who starts from a copy of them
        shutil.copy(templates.BUILTIN / name, tmp_path / name)
    for build in (python_exception, watch_attempts, long_shell_job):
        context = build().report.context()
        copied, builtin = (
            templates.render(context, template_dir=str(tmp_path)),
            templates.render(context),
        )
        assert copied.errors == ()
        assert (copied.text, copied.html) == (builtin.text, builtin.html)


@pytest.mark.parametrize("name", SCENARIOS)
def test_the_html_part_is_light(name: str) -> None:
    html = html_of(SCENARIOS[name]())
    assert len(html.encode()) < 100_000  # under Gmail's 102 KB clip
    for heavy in ("<img", "@font-face", "@import", "url(", "<script", "https:", "http:"):
        assert heavy not in html


# --- the HTML part in a real browser ------------------------------------------------------------

_ROWS_JS = """return [...document.querySelectorAll('.lines')].map((box) => [
  [...box.classList].filter((name) => name !== 'lines').join(' '),
  [...box.children].map((row) => [row.className, row.textContent])])"""
Pages = dict[str, tuple[Made, Path]]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    try:
        started = Browser.start()
    except BrowserUnavailable as exc:
        if os.environ.get("CI") == "true":  # CI installs chromium: there, this is a failure
            pytest.fail(f"no browser in CI: {exc}")
        pytest.skip(str(exc))
    with started:
        yield started


@pytest.fixture(scope="module")
def shots(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    chosen = os.environ.get("LOGNOTIFY_SCREENSHOTS")
    folder = Path(chosen) if chosen else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    if capture is not None and reporter is not None:
        with capture.global_and_fixture_disabled():
            reporter.write_line(f"\nscreenshots of the HTML reports: {folder}")
    return folder


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> Pages:
    folder = tmp_path_factory.mktemp("reports")
    made = {name: build() for name, build in SCENARIOS.items()}
    for name, one in made.items():
        (folder / f"{name}.html").write_text(html_of(one), encoding="utf-8")
    return {name: (one, folder / f"{name}.html") for name, one in made.items()}


@pytest.mark.parametrize("size", [FIRST_SCREEN, PHONE], ids=["1000x1400", "400x900"])
@pytest.mark.parametrize("name", SCENARIOS)
def test_the_reason_and_first_error_line_are_on_the_first_screen_and_nothing_scrolls_sideways(
    browser: Browser, pages: Pages, shots: Path, name: str, size: tuple[int, int]
) -> None:
    made, page = pages[name]
    browser.viewport(*size)
    browser.load(page)
    width, height = browser.inner_size()
    assert (width, height) == size
    browser.screenshot(shots / f"{name}-{width}.png")
    assert browser.rect(".reason")["bottom"] <= height
    assert browser.texts(".reason")[0].lower() == made.report.reason.lower()
    if made.report.error_lines:
        first = browser.rect(".error-lines .error")
        assert first["top"] > 0
        assert first["bottom"] <= height
    assert browser.scroll_width() <= width, f"{name} scrolls sideways at {width} px"


@pytest.mark.parametrize("name", SCENARIOS)
def test_every_line_shown_carries_its_stderr_and_error_marks_and_its_number(
    browser: Browser, pages: Pages, name: str
) -> None:
    made, page = pages[name]
    browser.viewport(*PHONE)
    browser.load(page)
    shown = dict(browser.js(_ROWS_JS))
    expected = expected_boxes(made.report)
    assert list(shown) == list(expected)
    width = digits(made.report)
    for box, lines in expected.items():
        assert len(shown[box]) == len(lines), box
        for (classes, text), line in zip(shown[box], lines, strict=True):
            if line is None:
                assert classes == "gap"
                continue
            want = {"error"} if line.error else set()
            want |= {"stderr"} if line.stream == "stderr" else set()
            assert set(classes.split()) == want, (box, line)
            assert text == f"{line.number:>{width}} {line.text}", box
    every = [line for box in expected.values() for line in box if line is not None]
    assert browser.count(".stderr") == sum(line.stream == "stderr" for line in every)
    assert browser.count(".error") == sum(line.error for line in every)


def test_the_error_lines_of_the_omitted_middle_are_on_the_first_screen(
    browser: Browser, pages: Pages
) -> None:
    browser.viewport(*FIRST_SCREEN)
    browser.load(pages["long-shell-job"][1])
    rows = browser.texts(".error-lines .error")
    assert [row.split()[0] for row in rows] == ["997", "1994", "2991", "3988", "4985", "4990"]
    assert "FATAL: cannot write /data/out/customers.csv" in rows[-1]
    assert all(rect["bottom"] <= 1400 for rect in browser.rects(".error-lines .error"))


def test_captured_markup_is_shown_as_text(browser: Browser, pages: Pages) -> None:
    browser.load(pages["short-output"][1])
    rows = browser.texts(".output > div")
    assert rows[0].endswith("starting <sync> & friends")
    assert rows[1].endswith("<script>alert('x')</script>")
    assert browser.count("script, sync") == 0


@pytest.mark.parametrize("look", ["light", "dark", "light-inline-only", "dark-inline-only"])
@pytest.mark.parametrize("name", ["long-shell-job", "python-exception", "watch-attempts"])
def test_every_text_is_readable_in_light_and_dark_with_or_without_the_style_element(
    browser: Browser, pages: Pages, shots: Path, name: str, look: str
) -> None:
    dark = look.startswith("dark")
    browser.viewport(*FIRST_SCREEN, dark=dark)
    browser.load(pages[name][1])
    if look.endswith("inline-only"):  # as clients that drop <style> show it
        browser.strip_styles()
    assert browser.js("return matchMedia('(prefers-color-scheme: dark)').matches") is dark
    poor = [found for found in browser.contrasts() if found["ratio"] < 4.5]
    assert not poor, poor[:5]
    if look == "dark":
        style = "return getComputedStyle(document.querySelector('.ln')).backgroundColor"
        assert browser.js(style) == "rgb(13, 17, 23)"  # the dark palette applies
        browser.screenshot(shots / f"{name}-1000-dark.png")
