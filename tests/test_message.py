"""compose(): a rendered report becomes one email: headers, text and HTML parts, the gzipped log."""

from __future__ import annotations

import calendar
import email
import gzip
from email.message import EmailMessage
from typing import Any

import pytest
from helpers import html_body, parse, result_of, text_body

from lognotify.kubernetes.attempts import Attempt
from lognotify.report import make_report
from lognotify.report.message import compose, size
from lognotify.settings import Settings, load_settings

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
    "X-Lognotify-Reason",  # the contract's additions
}
# The headers a report may carry at the top level: the contract's, MIME's, and Auto-Submitted.
ALLOWED_HEADERS = CONTRACT_HEADERS | {"MIME-Version", "Content-Type", "Auto-Submitted"}


def make_settings(environ: dict[str, str] | None = None, **overrides: object) -> Settings:
    given: dict[str, object] = {
        "to": "ops@example.com, oncall@example.com",
        "sender": "lognotify@example.com",
        "job_name": "nightly-etl",
    }
    given.update(overrides)
    return load_settings(given, environ or {})  # an explicit environ: the developer's stays out


def composed(
    output: bytes = b"",
    *,
    environ: dict[str, str] | None = None,
    hostname: str = "worker-1",
    exit_code: int = 3,
    attempt: Attempt | None = None,
    **overrides: object,
) -> EmailMessage:
    """The message as made (not parsed back)."""
    settings = make_settings(environ, **overrides)
    result = result_of(
        output,
        exit_code=exit_code,
        max_bytes=settings.max_bytes,
        started=STARTED,
        ended=STARTED + 12.5,
    )
    made = make_report(result, settings, hostname=hostname, attempt=attempt)
    return made.message


def build(output: bytes = b"", **options: Any) -> EmailMessage:
    """The message as bytes, parsed back: what a mail client would see."""
    return parse(composed(output, **options).as_bytes())


def attachments(message: EmailMessage) -> list[EmailMessage]:
    return list(message.iter_attachments())


def alternatives(message: EmailMessage) -> EmailMessage:
    """The multipart/alternative part (the message itself when there is no attachment)."""
    if message.get_content_type() == "multipart/alternative":
        return message
    (part,) = [p for p in message.iter_parts() if p.get_content_type() == "multipart/alternative"]
    return part  # type: ignore[return-value]


# --- headers, parts, attachment --------------------------------------------------------------


def test_report_carries_every_header_of_the_contract() -> None:
    message = build(b"loading batch 42\nboom\n")

    assert set(message.keys()) >= CONTRACT_HEADERS
    assert message["Subject"] == "[lognotify] FAILED nightly-etl (exit 3) on worker-1"
    assert message["From"] == "lognotify@example.com"
    assert [a.addr_spec for a in message["To"].addresses] == [
        "ops@example.com",
        "oncall@example.com",
    ]
    assert message["Date"].datetime.utcoffset().total_seconds() == 0
    assert message["Message-ID"].startswith("<")
    assert message["Message-ID"].endswith(">")
    assert message["X-Lognotify-Job"] == "nightly-etl"
    assert message["X-Lognotify-Status"] == "failure"
    assert message["X-Lognotify-Exit-Code"] == "3"
    assert message["X-Lognotify-Reason"] == "exit"
    assert message["Auto-Submitted"] == "auto-generated"
    assert "X-Lognotify-Attempt" not in message  # no attempt numbers known


def test_success_report_says_success_and_exit_code_zero() -> None:
    message = build(b"all good\n", exit_code=0, notify_on="always")

    assert message["X-Lognotify-Status"] == "success"
    assert message["X-Lognotify-Exit-Code"] == "0"
    assert message["X-Lognotify-Reason"] == "success"
    assert message["Subject"].startswith("[lognotify] OK nightly-etl")


@pytest.mark.parametrize(
    ("attempt", "header"),
    [(Attempt(number=2, of=3, final=False), "2/3"), (Attempt(number=2), "2"), (Attempt(), None)],
)
def test_the_attempt_header_says_which_attempt_of_how_many(
    attempt: Attempt, header: str | None
) -> None:
    message = build(b"x\n", attempt=attempt)
    assert message["X-Lognotify-Attempt"] == header


def test_no_recipients_still_gives_a_to_header() -> None:
    message = build(b"x\n", to="")
    assert message["To"] == "undisclosed-recipients:;"


def test_body_is_multipart_alternative_with_plain_text_and_html() -> None:
    message = build(b"loading batch 42\nTraceback: <boom> & co\n")

    assert message.get_content_type() == "multipart/mixed"
    body = alternatives(message)
    kinds = [part.get_content_type() for part in body.iter_parts()]
    assert kinds == ["text/plain", "text/html"]
    text, html = text_body(body), html_body(body)
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
    message = composed(b"x\n")

    first = parse(message.as_bytes())["Message-ID"]
    assert parse(message.as_bytes())["Message-ID"] == first
    assert first.endswith("@worker-1>")
    assert parse(composed(b"x\n").as_bytes())["Message-ID"] != first


def test_compose_takes_the_rendered_text_as_it_is() -> None:
    settings = make_settings()
    made = make_report(result_of(b"x\n", started=STARTED), settings, hostname="worker-1")
    rendered = made.rendered.replace(
        subject="Line\r\nBcc: x@example.com", text="plain", html="<p>h</p>"
    )
    message = parse(compose(made.report, rendered, settings, now=STARTED).as_bytes())
    assert message["Subject"] == "Line Bcc: x@example.com"
    assert "Bcc" not in message
    assert text_body(alternatives(message)) == "plain\n"
    assert message["Date"] == "Fri, 17 May 2024 03:04:05 +0000"
    assert attachments(message) == []  # no attachment given: none attached
    assert size(made.message) == len(made.message.as_bytes())


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
        assert not {"\r", "\n"} & set(value), (name, value)
        for char in "\u2028\u2029\x85\x0b\x0c":
            assert char not in value, (name, value)
    head = raw.split(b"\n\n", 1)[0]
    for line in head.split(b"\n"):
        # each physical line starts a header, or continues a folded one
        assert line[:1] in (b" ", b"\t") or b":" in line, line


@pytest.mark.parametrize("name", EVIL)
def test_line_breaks_in_the_job_name_are_neutralised(name: str) -> None:
    raw = composed(b"boom\n", job_name=name).as_bytes()
    message = parse(raw)

    assert_clean_headers(message, raw)
    assert message["X-Lognotify-Job"].startswith("nightly ")
    assert "Bcc: victim@example.com" in str(message["X-Lognotify-Job"]) or "body injected" in str(
        message["X-Lognotify-Job"]
    )
    (attachment,) = attachments(message)
    assert "\n" not in str(attachment.get_filename())
    assert "\r" not in str(attachment.get_filename())


@pytest.mark.parametrize("subject", [*EVIL, "{{ job }}\r\nX-Injected: yes"])
def test_line_breaks_in_the_subject_template_are_neutralised(subject: str) -> None:
    raw = composed(b"boom\n", subject=subject).as_bytes()
    message = parse(raw)

    assert_clean_headers(message, raw)
    assert "X-Injected" not in message
    assert message["Subject"].startswith("nightly")


@pytest.mark.parametrize(
    "name",
    ["etl\x00nul", "etl\x1b]0;pwned\x07title", "etl\x7fdel\x9bcsi", "etl\u202egnp.exe"],
    ids=["NUL", "OSC", "DEL-and-C1", "bidi-override"],
)
def test_control_characters_in_anything_that_reaches_a_header_are_neutralised(name: str) -> None:
    raw = composed(
        b"boom\n", job_name=name, environ={"LOGNOTIFY_POD_NAME": f"pod-{name}"}
    ).as_bytes()
    message = parse(raw)

    assert_clean_headers(message, raw)
    for header in ("Subject", "X-Lognotify-Job"):
        value = str(message[header])
        assert not any(ord(char) < 32 or 0x7F <= ord(char) <= 0x9F for char in value), value
        assert "\u202e" not in value
    assert message["X-Lognotify-Job"].startswith("etl ")


def test_line_breaks_in_anything_that_reaches_a_header_are_neutralised() -> None:
    message = composed(
        b"x\n", job_name="etl\r\nBcc: evil@example.com", subject="a\nb\u2028c {{ job }}"
    )
    raw = message.as_bytes()
    assert b"\nBcc:" not in raw
    assert message["Subject"] == "a b c etl Bcc: evil@example.com"
    assert message["X-Lognotify-Job"] == "etl Bcc: evil@example.com"
    assert message.get_all("Bcc") is None


def test_line_breaks_in_the_pod_name_and_hostname_are_neutralised() -> None:
    evil = "pod-1\r\nX-Injected: yes"
    raw = composed(
        b"boom\n", environ={"LOGNOTIFY_POD_NAME": evil}, hostname="host\r\nX-Injected: yes"
    ).as_bytes()
    message = parse(raw)

    assert_clean_headers(message, raw)
    assert "X-Injected" not in message
    assert "pod-1 X-Injected: yes" in message["Subject"]


def test_a_long_subject_is_folded_but_reads_as_one_line() -> None:
    raw = composed(b"boom\n", subject="word " * 200).as_bytes()
    message = parse(raw)

    assert_clean_headers(message, raw)
    assert message["Subject"].startswith("word word")
    assert len(message["Subject"]) <= 250


def test_a_subject_and_job_name_longer_than_78_characters_are_written_on_one_line() -> None:
    # The stdlib folds "Subject: [lognotify] ..." before its first word when the line is long,
    # and readers then show a leading space; a long job name would be RFC 2047-encoded.
    job = "customer-export-for-the-emea-region-with-a-rather-long-cronjob-name"
    raw = composed(b"boom\n", job_name=job).as_bytes()  # as sent, and as saved
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
    raw = composed("Grüße from the job\n".encode(), job_name="nächtlich-etl ✓").as_bytes()
    message = parse(raw)

    assert_clean_headers(message, raw)
    # smtplib never declares BODY=8BITMIME for an ASCII envelope: 8-bit bodies must not go out
    raw.decode("ascii")
    assert "Grüße from the job" in text_body(alternatives(message))
    assert message["X-Lognotify-Job"] == "nächtlich-etl ✓"
    assert "nächtlich-etl ✓" in message["Subject"]
    (attachment,) = attachments(message)
    assert attachment.get_filename() == f"n_chtlich-etl_-{STAMP}.log.gz"
