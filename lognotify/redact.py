"""Secrets out of every report: environment secrets, the SMTP password, URL passwords, patterns.

The live passthrough of a command's output is never altered; only what lognotify writes into
a report goes through here.
"""

from __future__ import annotations

import html
import re

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

REDACTED = "[REDACTED]"
MIN_SECRET = 4
_SECRET_NAME = re.compile(
    r"PASSWORD|PASSWD|SECRET|TOKEN|API_KEY|APIKEY|PRIVATE_KEY|CREDENTIAL|AUTH", re.IGNORECASE
)
# scheme://user:password@host -> scheme://user:[REDACTED]@host
_URL_PASSWORD = re.compile(r"(?P<keep>\b[A-Za-z][A-Za-z0-9+.-]*://[^\s:/?#@]*:)[^\s/?#@]+(?=@)")


def secret_values(environ: Mapping[str, str]) -> list[str]:
    """The values of environment variables whose names say they hold a secret."""
    return [value for name, value in environ.items() if _SECRET_NAME.search(name)]


class Redactor:
    """Replaces every secret in text or bytes with ``[REDACTED]``."""

    def __init__(
        self, secrets: Iterable[str] = (), patterns: Iterable[str] = (), *, always: Iterable[str] = ()
    ) -> None:
        """``secrets`` of MIN_SECRET characters or more are redacted wherever they appear;
        those in ``always`` (the SMTP password) whatever their length, a shorter one where
        it stands as a word of its own (not every "ab" of the text)."""
        always = [secret for secret in always if secret]
        secrets = [*secrets, *always]
        literals: set[str] = set()
        for secret in secrets:
            # A multi-line secret (a private key) is redacted line by line, so redaction never
            # changes how many lines a text has.
            for piece in [secret, *secret.splitlines()] if "\n" in secret else [secret]:
                piece = piece.strip("\r\n") if "\n" in piece else piece
                if len(piece) >= MIN_SECRET and "\n" not in piece:
                    literals.add(piece)
                    literals.add(html.escape(piece))  # as it reads inside the HTML part
        self._literals = sorted(literals, key=len, reverse=True)
        self._literal_re = (
            re.compile("|".join(map(re.escape, self._literals))) if self._literals else None
        )
        self._patterns = [re.compile(pattern) for pattern in patterns]
        self._patterns += [
            re.compile(rf"(?<![^\W_]){re.escape(secret)}(?![^\W_])")
            for secret in always
            if len(secret) < MIN_SECRET and "\n" not in secret
        ]

    def text(self, text: str) -> str:
        """``text`` with every secret replaced."""
        if not text:
            return text
        text = _URL_PASSWORD.sub(rf"\g<keep>{REDACTED}", text)
        if self._literal_re is not None:
            text = self._literal_re.sub(REDACTED, text)
        for pattern in self._patterns:
            text = pattern.sub(REDACTED, text)
        return text

    def bytes(self, data: bytes) -> bytes:
        """``data`` with every secret replaced; bytes that are not UTF-8 are kept as they are."""
        return self.text(data.decode("utf-8", "surrogateescape")).encode("utf-8", "surrogateescape")

    def cut_edges(self, before: str, after: str) -> tuple[str, str]:
        """Redact a secret cut in two where output was omitted between ``before`` and ``after``.

        The end of ``before`` may be the start of a secret, the start of ``after`` its end.
        """
        for secret in self._literals:
            for size in range(len(secret) - 1, MIN_SECRET - 1, -1):
                if before.endswith(secret[:size]):
                    before = before[:-size] + REDACTED
                    break
            for size in range(len(secret) - 1, MIN_SECRET - 1, -1):
                if after.startswith(secret[-size:]):
                    after = REDACTED + after[size:]
                    break
        return before, after
