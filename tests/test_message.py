"""compose(): a rendered report becomes one email: headers, text and HTML parts, the gzipped log."""

from __future__ import annotations

import calendar
import email
import email.policy
import gzip
import os
from email.message import EmailMessage

import pytest

from lognotify.capture import Capture
from lognotify.message import compose
from lognotify.report import render
from lognotify.result import RunResult
from lognotify.settings import Settings, load_settings

MiB = 1 << 20
STARTED = calendar.timegm((2024, 5, 17, 3, 4, 5))
STAMP = "20240517T030405Z"
CONTRACT_HEADERS = {
    "Subject",
    "From",
    "To",
    "Date",
    "Message-ID",
    "X-Lognotify-Job",
    "X-Lognotify-Status",
    "X-Lognotify-Exit-Code",
}
# The headers a report may carry at the top level: the contract's, MIME's, and Auto-Submitted.
ALLOWED_HEADERS = CONTRACT_HEADERS | {"MIME-Version", "Content-Type", "Auto-Submitted"}


def run_result(output: bytes = b"", *, exit_code: int = 3, max_bytes: int = MiB) -> RunResult:
    capture = Capture(max_bytes)
    capture.append(output)
    return RunResult(
        mode="cli",
        command="/app/sync.sh --full",
        program="sync.sh",
        exit_code=exit_code,
        started=STARTED,
        ended=STARTED + 12.5,
        output=capture.snapshot(),
    )


def make_settings(**overrides: object) -> Settings:
    given: dict[str, object] = {
        "to": "ops@example.com, oncall@example.com",
        "sender": "lognotify@example.com",
        "job_name": "nightly-etl",
    }
    given.update(overrides)
    return load_settings(given, {})  # an explicit environ: the developer's does not leak in


def build(
    output: bytes = b"",
    *,
    environ: dict[str, str] | None = None,
    hostname: str = "worker-1",
    **overrides: object,
) -> EmailMessage:
    """Render and compose, then parse the bytes back: what a mail client would see."""
    settings = make_settings(**overrides)
    result = run_result(output, max_bytes=settings.max_bytes)
    report = render(result, settings, environ=environ or {}, hostname=hostname)
    message = compose(report, settings, hostname=hostname)
    return parse(message.as_bytes())


def parse(raw: bytes) -> EmailMessage:
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def attachments(message: EmailMessage) -> list[EmailMessage]:
    return list(message.iter_attachments())


def alternatives(message: EmailMessage) -> EmailMessage:
    """The multipart/alternative part (the message itself when there is no attachment)."""
    if message.get_content_type() == "multipart/alternative":
        return message
    (part,) = [p for p in message.iter_parts() if p.get_content_type() == "multipart/alternative"]
    return part


# --- headers, parts, attachment --------------------------------------------------------------


def test_report_carries_every_header_of_the_contract() -> None:
    message = build(b"loading batch 42\nboom\n")

    assert CONTRACT_HEADERS <= set(message.keys())
    assert message["Subject"] == "[lognotify] FAILED nightly-etl (exit 3) on worker-1"
    assert message["From"] == "lognotify@example.com"
    assert [a.addr_spec for a in message["To"].addresses] == [
        "ops@example.com",
        "oncall@example.com",
    ]
    assert message["Date"].datetime.utcoffset().total_seconds() == 0
    assert message["Message-ID"].startswith("<") and message["Message-ID"].endswith(">")
    assert message["X-Lognotify-Job"] == "nightly-etl"
    assert message["X-Lognotify-Status"] == "failure"
    assert message["X-Lognotify-Exit-Code"] == "3"


def test_success_report_says_success_and_exit_code_zero() -> None:
    settings = make_settings(notify_on="always")
    report = render(run_result(b"all good\n", exit_code=0), settings, environ={})
    message = parse(compose(report, settings).as_bytes())

    assert message["X-Lognotify-Status"] == "success"
    assert message["X-Lognotify-Exit-Code"] == "0"
    assert message["Subject"].startswith("[lognotify] OK nightly-etl")


def test_body_is_multipart_alternative_with_plain_text_and_html() -> None:
    message = build(b"loading batch 42\nTraceback: <boom> & co\n")

    assert message.get_content_type() == "multipart/mixed"
    body = alternatives(message)
    kinds = [part.get_content_type() for part in body.iter_parts()]
    assert kinds == ["text/plain", "text/html"]
    text = body.get_body(("plain",)).get_content()
    html = body.get_body(("html",)).get_content()
    for shown in (text, html):
        assert "nightly-etl" in shown
        assert "loading batch 42" in shown
    assert "Traceback: <boom> & co" in text
    assert "Traceback: &lt;boom&gt; &amp; co" in html
    assert "<boom>" not in html


def test_output_is_attached_gzipped_as_job_and_utc_timestamp() -> None:
    output = b"loading batch 42\n\xff not utf-8 \x00\nboom\n"
    message = build(output)

    (attachment,) = attachments(message)
    assert attachment.get_content_type() == "application/gzip"
    assert attachment.get_filename() == f"nightly-etl-{STAMP}.log.gz"
    assert gzip.decompress(attachment.get_content()) == output


def test_empty_output_gets_no_attachment() -> None:
    message = build(b"")

    assert attachments(message) == []
    assert message.get_content_type() == "multipart/alternative"
    assert message["X-Lognotify-Status"] == "failure"


def test_message_id_is_fixed_once_composed() -> None:
    settings = make_settings()
    message = compose(render(run_result(b"x\n"), settings, environ={}), settings)

    first = parse(message.as_bytes())["Message-ID"]
    assert parse(message.as_bytes())["Message-ID"] == first
    other = compose(render(run_result(b"x\n"), settings, environ={}), settings)
    assert parse(other.as_bytes())["Message-ID"] != first


# --- the 2 MiB bound -------------------------------------------------------------------------


@pytest.mark.parametrize("max_bytes", [1 * MiB, 8 * MiB], ids=["max_bytes=1MiB", "max_bytes=8MiB"])
def test_message_stays_under_2_mib_with_incompressible_output(max_bytes: int) -> None:
    output = os.urandom(max_bytes + MiB)  # more than is kept: the capture cuts its middle too
    settings = make_settings(max_bytes=max_bytes)
    report = render(run_result(output, max_bytes=max_bytes), settings, environ={})
    message = compose(report, settings)

    assert len(message.as_bytes()) < 2 * MiB
    on_the_wire = message.as_bytes(policy=message.policy.clone(linesep="\r\n"))
    assert len(on_the_wire) < 2 * MiB

    (attachment,) = attachments(parse(message.as_bytes()))
    log = gzip.decompress(attachment.get_content())
    assert log.startswith(output[:8192])
    assert log.endswith(output[-8192:])
    assert b"omitted" in log
    assert len(log) < len(output)


# --- no header injection ---------------------------------------------------------------------

EVIL = [
    "nightly\r\nBcc: victim@example.com",
    "nightly\nBcc: victim@example.com",
    "nightly\rBcc: victim@example.com",
    "nightly\r\n\r\nbody injected",
    "nightly\u2028Bcc: victim@example.com",
    "nightly\x85Bcc: victim@example.com",
    "nightly\x0bBcc: victim@example.com\x0c",
]


def assert_clean_headers(message: EmailMessage, raw: bytes) -> None:
    """Only expected headers, no value with a line break, nothing injected into the body."""
    assert set(message.keys()) <= ALLOWED_HEADERS
    assert "Bcc" not in message
    for name, value in message.items():
        assert "\r" not in value and "\n" not in value, (name, value)
        for char in "\u2028\u2029\x85\x0b\x0c":
            assert char not in value, (name, value)
    head = raw.split(b"\n\n", 1)[0]
    for line in head.split(b"\n"):
        # each physical line starts a header, or continues a folded one
        assert line[:1] in (b" ", b"\t") or b":" in line, line


@pytest.mark.parametrize("name", EVIL)
def test_line_breaks_in_the_job_name_are_neutralised(name: str) -> None:
    raw = build(b"boom\n", job_name=name).as_bytes()
    message = parse(raw)

    assert_clean_headers(message, raw)
    assert message["X-Lognotify-Job"].startswith("nightly ")
    assert "Bcc: victim@example.com" in message["X-Lognotify-Job"] or "body injected" in (
        message["X-Lognotify-Job"]
    )
    (attachment,) = attachments(message)
    assert "\n" not in attachment.get_filename() and "\r" not in attachment.get_filename()


@pytest.mark.parametrize("subject", [*EVIL, "{{ job }}\r\nX-Injected: yes"])
def test_line_breaks_in_the_subject_template_are_neutralised(subject: str) -> None:
    raw = build(b"boom\n", subject=subject).as_bytes()
    message = parse(raw)

    assert_clean_headers(message, raw)
    assert "X-Injected" not in message
    assert message["Subject"].startswith("nightly")


def test_line_breaks_in_the_pod_name_and_hostname_are_neutralised() -> None:
    evil = "pod-1\r\nX-Injected: yes"
    raw = build(
        b"boom\n", environ={"LOGNOTIFY_POD_NAME": evil}, hostname="host\r\nX-Injected: yes"
    ).as_bytes()
    message = parse(raw)

    assert_clean_headers(message, raw)
    assert "X-Injected" not in message
    assert "pod-1 X-Injected: yes" in message["Subject"]


def test_a_long_subject_is_folded_but_reads_as_one_line() -> None:
    raw = build(b"boom\n", subject="word " * 200).as_bytes()
    message = parse(raw)

    assert_clean_headers(message, raw)
    assert message["Subject"].startswith("word word")
    assert len(message["Subject"]) <= 250


def test_a_subject_and_job_name_longer_than_78_characters_are_written_on_one_line() -> None:
    # The stdlib folds "Subject: [lognotify] ..." before its first word when the line is long,
    # and readers then show a leading space; a long job name would be RFC 2047-encoded.
    job = "customer-export-for-the-emea-region-with-a-rather-long-cronjob-name"
    settings = make_settings(job_name=job)
    report = render(run_result(b"boom\n"), settings, environ={}, hostname="worker-1")
    raw = compose(report, settings, hostname="worker-1").as_bytes()  # as sent, and as saved
    subject = f"[lognotify] FAILED {job} (exit 3) on worker-1"
    assert f"Subject: {subject}\n".encode() in raw
    assert f"\nX-Lognotify-Job: {job}\n".encode() in raw
    for parsed in (parse(raw), email.message_from_bytes(raw)):  # modern and compat32 parsers
        assert str(parsed["Subject"]).startswith(subject)
        assert parsed["X-Lognotify-Job"] == job
    for part in parse(raw).walk():  # encoded bodies stay within RFC 2045's 76 characters
        if not part.is_multipart():
            assert max(len(line) for line in str(part.get_payload()).splitlines()) <= 76


def test_a_non_ascii_job_name_survives_and_the_message_stays_7bit_clean() -> None:
    raw = build("Grüße from the job\n".encode(), job_name="nächtlich-etl ✓").as_bytes()
    message = parse(raw)

    assert_clean_headers(message, raw)
    # smtplib never declares BODY=8BITMIME for an ASCII envelope: 8-bit bodies must not go out
    raw.decode("ascii")
    assert "Grüße from the job" in alternatives(message).get_body(("plain",)).get_content()
    assert message["X-Lognotify-Job"] == "nächtlich-etl ✓"
    assert "nächtlich-etl ✓" in message["Subject"]
    (attachment,) = attachments(message)
    assert attachment.get_filename() == f"n_chtlich-etl_-{STAMP}.log.gz"
