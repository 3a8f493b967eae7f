"""What ``--dry-run`` prints: the report as a person reads it, or the exact MIME."""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from email.message import EmailMessage

_SHOWN_HEADERS = ("Subject", "From", "To", "Date", "Message-ID")


def preview(message: EmailMessage, *, mime: bool = False) -> bytes:
    """The headers, the text body, then one line for the HTML part and one for the
    attachment, with their sizes; with ``mime``, the message exactly as it would be sent."""
    if mime:
        return message.as_bytes()
    lines = [f"{name}: {message[name]}" for name in _SHOWN_HEADERS if message[name] is not None]
    lines += [
        f"{name}: {value}" for name, value in message.items() if name.startswith("X-Lognotify-")
    ]
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    lines.append("")
    body = text.get_content() if text is not None else ""
    lines.append(body.rstrip("\n"))
    lines.append("")
    if html is not None:
        size = len(html.get_content().encode("utf-8"))
        lines.append(f"[HTML part: {size:,} bytes; --dry-run=mime shows the message as sent]")
    for part in message.iter_attachments():
        data = part.get_content()
        lines.append(f"[attachment: {part.get_filename()}, {len(data):,} bytes gzipped]")
    return ("\n".join(lines) + "\n").encode("utf-8", "surrogateescape")
