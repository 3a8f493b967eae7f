"""What --dry-run prints: the headers and the text body as a person reads them, then one line
each for the HTML part and the attachment; or, with mime, the message exactly as sent."""

from __future__ import annotations

from helpers import parse, report_message

from lognotify.report.preview import preview
from lognotify.settings import load_settings


def settings() -> object:
    return load_settings({"job_name": "etl", "to": "ops@example.com"}, {})


def test_the_preview_shows_headers_then_the_text_body_then_one_line_per_other_part() -> None:
    message = report_message(settings(), b"caf\xc3\xa9 ERROR here\n")
    shown = preview(message).decode()
    lines = shown.splitlines()
    assert lines[0] == "Subject: [lognotify] FAILED etl (exit 3) on worker-1"
    assert lines[1:5] == [
        f"From: {message['From']}",
        "To: ops@example.com",
        f"Date: {message['Date']}",
        f"Message-ID: {message['Message-ID']}",
    ]
    assert "X-Lognotify-Job: etl" in lines
    assert "X-Lognotify-Reason: exit" in lines
    body = shown.split("\n\n", 1)[1]
    assert body.startswith("FAILED etl: exited with status 3\n")
    assert "1 !| café ERROR here" in body  # readable, not quoted-printable
    html_size = len(message.get_body(("html",)).get_content().encode())  # type: ignore[union-attr]
    assert f"[HTML part: {html_size:,} bytes; --dry-run=mime shows the message as sent]" in lines
    (attached,) = message.iter_attachments()
    size = len(attached.get_content())
    assert lines[-1] == f"[attachment: {attached.get_filename()}, {size:,} bytes gzipped]"
    assert "Content-Transfer-Encoding" not in shown
    assert "base64" not in shown


def test_without_output_the_preview_has_no_attachment_line() -> None:
    shown = preview(report_message(settings(), b"")).decode()
    assert "[attachment:" not in shown
    assert shown.rstrip().endswith("bytes; --dry-run=mime shows the message as sent]")


def test_mime_is_the_message_exactly_as_it_would_be_sent() -> None:
    message = report_message(settings(), b"x\n")
    raw = preview(message, mime=True)
    assert raw == message.as_bytes()
    assert parse(raw)["Message-ID"] == message["Message-ID"]
