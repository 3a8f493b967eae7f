"""Redaction: which values are secrets, and how they leave text and bytes."""

from __future__ import annotations

import re
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lognotify import redact
from lognotify.redact import REDACTED, Redactor, secret_values

TOKEN = REDACTED.encode()


def test_secret_named_variables_are_found() -> None:
    env = {
        "DB_PASSWORD": "a",
        "MYSQL_PASSWD": "b",
        "AWS_SECRET_ACCESS_KEY": "c",
        "GH_TOKEN": "d",
        "STRIPE_API_KEY": "e",
        "SENDGRID_APIKEY": "f",
        "SSH_PRIVATE_KEY": "g",
        "GOOGLE_APPLICATION_CREDENTIALS": "h",
        "BASIC_AUTH": "i",
        "HOME": "/root",
        "USER": "me",
    }
    assert sorted(secret_values(env)) == list("abcdefghi")


def test_literals_urls_and_patterns_are_redacted() -> None:
    redactor = Redactor(["hunter2!", "abc"], [r"tok_[a-z0-9]+"])
    text = "pw=hunter2! url=postgres://etl:pg-pass@db:5432/x key=tok_9f8e short=abc"
    assert redactor.text(text) == (
        f"pw={REDACTED} url=postgres://etl:{REDACTED}@db:5432/x key={REDACTED} short=abc"
    )


def test_a_multiline_secret_is_redacted_line_by_line() -> None:
    key = "-----BEGIN KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END KEY-----"
    redactor = Redactor([key])
    text = f"found:\n{key}\nafter"
    out = redactor.text(text)
    assert "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC" not in out
    assert out.count("\n") == text.count("\n")


def test_the_html_escaped_form_is_redacted_too() -> None:
    assert Redactor(["p&ss<word>"]).text("x p&amp;ss&lt;word&gt; y") == f"x {REDACTED} y"


def test_a_secret_cut_where_output_was_omitted_is_redacted_on_both_sides() -> None:
    redactor = Redactor(["correct-horse-battery"])
    before, after = redactor.cut_edges("log ... correct-hor", "se-battery more")
    assert before == f"log ... {REDACTED}"
    assert after == f"{REDACTED} more"


def test_bytes_that_are_not_utf8_survive_redaction() -> None:
    data = b"\xff\xfe secret-value \x80"
    assert Redactor(["secret-value"]).bytes(data) == b"\xff\xfe [REDACTED] \x80"


def test_a_short_smtp_password_is_redacted_where_it_stands_alone() -> None:
    redactor = Redactor([], [], always=["Zq9"])
    assert redactor.text("the smtp password is Zq9, see") == f"the smtp password is {REDACTED}, see"
    assert redactor.text("Zq9x and aZq9 are other words") == "Zq9x and aZq9 are other words"
    assert Redactor(["Zq9"]).text("Zq9") == "Zq9"  # an environment value that short is not


# Overlapping secrets, and line breaks


def test_overlapping_secrets_are_redacted_whole() -> None:
    redactor = Redactor(["correcthorse", "horsebatterystaple"])
    assert redactor.text("pw: correcthorsebatterystaple!") == f"pw: {REDACTED}!"
    assert redactor.text("correcthorse horsebatterystaple") == f"{REDACTED} {REDACTED}"


def test_a_secret_that_overlaps_itself_is_redacted_whole() -> None:
    assert Redactor(["abcab"]).text("xabcabcabcabx") == f"x{REDACTED}x"
    assert Redactor(["----"]).text("a ---------- b") == f"a {REDACTED} b"


def test_a_secret_a_pattern_and_a_shape_that_overlap_become_one_redaction() -> None:
    redactor = Redactor(["s3cr3t-value"], [r"value-[0-9]+"])
    assert redactor.text("k=s3cr3t-value-42 ok") == f"k={REDACTED} ok"


def test_a_match_never_takes_a_line_break() -> None:
    text = "a BEGIN one\ntwo\r\nthree END b\nlast"
    out = Redactor([], [r"(?s)BEGIN.*END"]).text(text)
    assert out == f"a {REDACTED}\n{REDACTED}\r\n{REDACTED} b\nlast"


# URL passwords


@pytest.mark.parametrize(
    ("url", "redacted"),
    [
        ("postgres://etl:p@ss-Word-99@db/x", f"postgres://etl:{REDACTED}@db/x"),
        ("mysql://u:a@b:c@@host:3306?x=1", f"mysql://u:{REDACTED}@host:3306?x=1"),
        ("redis://:only-pass@cache:6379/0", f"redis://:{REDACTED}@cache:6379/0"),
        ("amqp://guest:gu:est@mq#frag@x", f"amqp://guest:{REDACTED}@mq#frag@x"),
    ],
)
def test_a_url_password_ends_at_the_authoritys_last_at(url: str, redacted: str) -> None:
    assert Redactor().text(f"dsn {url} up") == f"dsn {redacted} up"


@pytest.mark.parametrize(
    "text",
    [
        "http://host/a:b@c",  # the authority ended at /
        "http://host?q=a:b@c",  # at ?
        "http://user@host:8080/x",  # no password
        "ssh git@github.com:org/repo.git",  # no scheme
    ],
)
def test_what_is_not_a_url_password_stays(text: str) -> None:
    assert Redactor(builtin=False).text(text) == text


# Linear time, and the patterns RE2 refuses


@pytest.mark.timeout(10)
def test_a_catastrophic_pattern_finishes() -> None:
    assert Redactor([], [r"(a+)+$"]).text("a" * 100_000) == REDACTED
    assert Redactor([], [r"(x+x+)+y"]).text("x" * 100_000) == "x" * 100_000


def test_a_pattern_anchors_at_each_line_alike_in_text_and_bytes() -> None:
    # The bodies are redacted as text, the attachment as the whole log's bytes: ^ and $ must
    # mean a line's start and end in both, or a secret hidden in one shows in the other.
    redactor = Redactor(patterns=[r"token=\w+$", r"^key \w+"])
    log = "token=abc123\ndone token=zzz999\nkey k1 stays? no\nmy key k2 stays\n"
    want = f"{REDACTED}\ndone {REDACTED}\n{REDACTED} stays? no\nmy key k2 stays\n"
    assert redactor.text(log) == want
    assert redactor.text(log.removesuffix("\n")) == want.removesuffix("\n")
    assert redactor.bytes(log.encode()) == want.encode()


@pytest.mark.timeout(10)
def test_a_secret_repeated_a_million_times_is_one_redaction() -> None:
    assert Redactor(["aaaa"]).text("a" * 1_000_000 + "!") == f"{REDACTED}!"


def test_check_pattern_accepts_what_re2_compiles() -> None:
    assert redact.check_pattern(r"(?i)passwort:\s*\S+") is None
    assert redact.check_pattern(r"\bsk-[A-Za-z0-9]{20,}") is None


@pytest.mark.parametrize("pattern", [r"(?<=key=)\w+", r"secret(?!s)", r"(\w+)=\1", r"(?<!x)y"])
def test_check_pattern_says_re2_has_no_lookaround_nor_backreferences(pattern: str) -> None:
    reason = redact.check_pattern(pattern)
    assert reason is not None
    assert "\n" not in reason
    assert "RE2" in reason
    assert "lookaround" in reason
    assert "backreferences" in reason


@pytest.mark.parametrize("pattern", ["(unclosed", "a{2000}", "x*", "(secret)?", ""])
def test_check_pattern_refuses_a_broken_or_empty_matching_pattern(pattern: str) -> None:
    reason = redact.check_pattern(pattern)
    assert reason
    assert "\n" not in reason
    with pytest.raises(ValueError, match="redact pattern"):
        Redactor([], [pattern])


def test_a_pattern_is_matched_as_unicode_text() -> None:
    redactor = Redactor([], [r"passwört=[^,]+", r"[äöü]{3}"])
    assert redactor.text("passwört=grün, äöü!") == f"{REDACTED}, {REDACTED}!"


# The attachment: raw bytes with escape codes, carriage returns, invalid UTF-8


@pytest.mark.parametrize(
    "raw",
    [
        b"Hunt\x1b[1mer2Secret77",  # a colour change inside
        b"Hunt\x1b[38;5;196mer2\x1b[0mSecret77",
        b"Hunter2\x1b]0;a title\x07Secret77",  # OSC to BEL
        b"Hunter2\x1b]8;;https://x/\x1b\\Secret77",  # OSC to ST
        b"Hunter2\x1b(BSecret77",  # another ESC sequence
        b"Hun\rter2\x08Secret\x0077",  # carriage return, backspace, NUL
        b"Hunter2\xc2\x9bSecret77",  # a C1 control
    ],
)
def test_a_secret_that_reads_whole_once_escapes_are_dropped_is_redacted(raw: bytes) -> None:
    data = b"\xff before \x1b[32mok\x1b[0m " + raw + b" after \xfe\n2nd line\n"
    out = Redactor(["Hunter2Secret77"]).bytes(data)
    assert out == b"\xff before \x1b[32mok\x1b[0m [REDACTED] after \xfe\n2nd line\n"


def test_a_secret_hidden_in_an_escape_sequence_is_redacted_too() -> None:
    redactor = Redactor(["Hunter2Secret77"])
    assert redactor.bytes(b"\x1b]0;Hunter2Secret77\x07x") == b"\x1b]0;[REDACTED]\x07x"
    assert redactor.bytes(b"\x1bHunter2Secret77") == b"\x1b[REDACTED]"  # ESC H would take the H


def test_text_is_read_as_a_terminal_shows_it_too() -> None:
    redactor = Redactor(["Hunter2Secret77"])
    assert redactor.text("x Hunt\x1b[1mer2Secret77 y\n") == f"x {REDACTED} y\n"


def test_a_token_shape_with_escapes_inside_is_redacted() -> None:
    data = b"Authorization: Bearer \x1b[1mabcdefghijklmnop0123\x1b[0m\n"
    assert Redactor().bytes(data) == b"Authorization: Bearer [REDACTED]\n"


# Built-in token shapes

JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
SHAPES = [
    ("Authorization: Bearer abc.def-ghi", "Authorization: Bearer [REDACTED]"),
    ("authorization: basic dXNlcjpwYXNzd29yZA==", "authorization: basic [REDACTED]"),
    ("Proxy-Authorization: Basic dXNlcjpw", "Proxy-Authorization: Basic [REDACTED]"),
    ('{"Authorization": "Token 1234abcd"}', '{"Authorization": "Token [REDACTED]"}'),
    ("HTTP_AUTHORIZATION=Bearer xyz", "HTTP_AUTHORIZATION=Bearer [REDACTED]"),
    ("Authorization: 0123456789abcdef", "Authorization: [REDACTED]"),
    ("token: bearer q1w2e3", "token: bearer [REDACTED]"),
    ("access_token=Bearer q1w2e3", "access_token=Bearer [REDACTED]"),
    (f"curl -H 'X-Auth: Bearer {JWT}'", "curl -H 'X-Auth: Bearer [REDACTED]'"),
    ("key AKIAIOSFODNN7EXAMPLE used", "key [REDACTED] used"),
    ("ASIAIOSFODNN7EXAMPLE", "[REDACTED]"),
    (
        "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "aws_secret_access_key = [REDACTED]",
    ),
    (
        '"SecretAccessKey": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"',
        '"SecretAccessKey": "[REDACTED]"',
    ),
    ("AWS_SESSION_TOKEN=IQoJb3JpZ2luX2VjEJr//////////wEaCXVz", "AWS_SESSION_TOKEN=[REDACTED]"),
    ("ghp_" + "a1B2" * 9, "[REDACTED]"),
    ("x gho_" + "Z" * 36 + " y", "x [REDACTED] y"),
    ("ghs_" + "0" * 36, "[REDACTED]"),
    ("github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz", "[REDACTED]"),
    ("glpat-xxxxxxxxxxxxxxxxxxxx", "[REDACTED]"),
    ("gldt-0123456789abcdefABCD", "[REDACTED]"),
    ("runner glrt-t1_0123456789abcdefghij", "runner [REDACTED]"),
    ("GR1348941abcdefghijABCDEFGHIJ", "[REDACTED]"),
    ("xoxb-123456789012-1234567890123-abcdefABCDEF", "[REDACTED]"),
    ("xoxp-1234-5678-90ab", "[REDACTED]"),
    (
        "https://hooks.slack.com/services/T000/B000/XXXXXXXXXXXXXXXX",
        "https://hooks.slack.com/services/[REDACTED]",
    ),
    (f"jwt={JWT};", "jwt=[REDACTED];"),
    ("sk_live_4eC39HqLyjWDarjtT1zdp7dc", "[REDACTED]"),
    ("rk_live_0123456789abcdef", "[REDACTED]"),
    ("key=AIzaSyA1234567890abcdefghijklmnopqrstuv", "key=[REDACTED]"),
    ("npm_" + "a" * 36, "[REDACTED]"),
    ("pypi-AgEIcHlwaS5vcmc" + "x" * 60, "[REDACTED]"),
    ("SG." + "a" * 22 + "." + "b" * 43, "[REDACTED]"),
]


@pytest.mark.parametrize(("text", "redacted"), SHAPES)
def test_a_builtin_token_shape_is_redacted(text: str, redacted: str) -> None:
    assert Redactor().text(text) == redacted


@pytest.mark.parametrize(("text", "_"), SHAPES)
def test_builtin_false_leaves_token_shapes(text: str, _: str) -> None:
    assert Redactor(builtin=False).text(text) == text


def test_the_table_of_shapes_names_each_once() -> None:
    names = [name for name, _ in redact.BUILTIN_SHAPES]
    assert len(names) == len(set(names))
    assert "private-key" in names
    assert "jwt" in names


@pytest.mark.parametrize(
    "text", ["Authorization: Bearer", "bearer token", "the authorization failed", "AKIA too short"]
)
def test_words_that_only_look_like_a_shape_stay(text: str) -> None:
    assert Redactor().text(text) == text


PEM_BODY = ["MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7", "  indented+line/==", ""]


def test_a_private_key_block_keeps_its_markers_and_loses_every_body_line() -> None:
    block = ["-----BEGIN RSA PRIVATE KEY-----", *PEM_BODY, "-----END RSA PRIVATE KEY-----"]
    text = "\n".join(["before", *block, "after"])
    assert Redactor().text(text).split("\n") == [
        "before",
        block[0],
        REDACTED,
        REDACTED,
        "",
        block[-1],
        "after",
    ]


def test_a_private_key_with_no_end_is_redacted_to_the_end_of_the_text() -> None:
    text = "\n".join(["before", "-----BEGIN OPENSSH PRIVATE KEY-----", *PEM_BODY, "tail"])
    out = Redactor().text(text).split("\n")
    assert out == [
        "before",
        "-----BEGIN OPENSSH PRIVATE KEY-----",
        REDACTED,
        REDACTED,
        "",
        REDACTED,
    ]


def test_a_private_key_end_with_no_begin_is_redacted_from_the_start_of_the_text() -> None:
    text = "\n".join([*PEM_BODY, "-----END PRIVATE KEY-----", "after", "-----END PRIVATE KEY-----"])
    out = Redactor().text(text).split("\n")
    assert out == [REDACTED, REDACTED, "", *text.split("\n")[3:]]  # the second END is no start


def test_a_private_key_on_one_line_is_redacted_between_its_markers() -> None:
    text = '"-----BEGIN EC PRIVATE KEY-----\\nMHcCAQEE\\n-----END EC PRIVATE KEY-----"'
    assert Redactor().text(text) == (
        f'"-----BEGIN EC PRIVATE KEY-----{REDACTED}-----END EC PRIVATE KEY-----"'
    )


def test_a_coloured_private_key_block_is_redacted_and_the_coloured_lines_after_it_kept() -> None:
    begin, end = "\x1b[1m-----BEGIN PRIVATE KEY-----\x1b[0m", "-----END PRIVATE KEY-----"
    after = ["\x1b[32mINFO\x1b[0m loaded", "\x1b[31mERROR\x1b[0m failed"]
    text = "\n".join([begin, "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC", end, *after])
    assert Redactor().text(text).split("\n") == [begin, REDACTED, end, *after]


# Environment and SMTP secrets


def test_an_environment_value_shorter_than_four_characters_is_not_redacted() -> None:
    assert Redactor(["abc", "abcd"]).text("abc abcd") == f"abc {REDACTED}"


def test_a_short_smtp_password_is_redacted_as_a_word_whatever_its_length() -> None:
    redactor = Redactor([], [], always=["q", "p4"])
    assert redactor.text("q p4 (p4) quiet p4x") == f"{REDACTED} {REDACTED} ({REDACTED}) quiet p4x"


def test_the_form_jinja_escapes_into_the_html_part_is_redacted() -> None:
    assert Redactor(['it\'s"x"']).text("v=it&#39;s&#34;x&#34;") == f"v={REDACTED}"


def test_a_secret_with_a_control_character_is_redacted_also_as_it_reads() -> None:
    redactor = Redactor(["pass\x1b[0mword"])
    assert redactor.text("a pass\x1b[0mword b password c") == f"a {REDACTED} b {REDACTED} c"


# Properties

SECRET = st.text(
    string.ascii_letters + string.digits + "!#%&'*+-./:;=?@[]^_{|}~ ", min_size=4, max_size=16
)
FILLER = st.text(string.printable.replace("\x0b", "").replace("\x0c", ""), max_size=40)
ESCAPES = [
    b"\x1b[1m",
    b"\x1b[0m",
    b"\x1b[38;5;196m",
    b"\x1b[2K",
    b"\x1b]0;title\x07",
    b"\x1b]8;;u\x1b\\",
    b"\x1b(B",
    b"\x1b7",
    b"\r",
    b"\x08",
    b"\x00",
    b"\x7f",
    b"\xc2\x85",
]


def shown(data: bytes) -> bytes:
    """What a terminal prints of ``data``, written apart from the module: no escape sequence,
    no control character but \\t and \\n."""
    out, at = bytearray(), 0
    while at < len(data):
        byte = data[at]
        if byte == 0x1B and data[at + 1 : at + 2] == b"[":  # CSI: parameters, then a final byte
            at += 2
            while at < len(data) and not 0x40 <= data[at] <= 0x7E:
                at += 1
            at += 1
        elif byte == 0x1B and data[at + 1 : at + 2] in (b"]", b"P", b"X", b"^", b"_"):
            ends = [data.find(end, at) for end in (b"\x07", b"\x1b\\", b"\n")]
            at = min([end for end in ends if end >= 0] or [len(data)])  # a string, to BEL or ST
            at += {0x07: 1, 0x1B: 2}.get(data[at] if at < len(data) else 0, 0)
        elif byte == 0x1B:  # ESC, intermediate bytes, a final byte
            at += 1
            while at < len(data) and 0x20 <= data[at] <= 0x2F:
                at += 1
            at += 1
        elif data[at : at + 2] in {bytes([0xC2, c]) for c in range(0x80, 0xA0)}:
            at += 2
        elif (byte < 0x20 and byte not in b"\t\n") or byte == 0x7F:
            at += 1
        else:
            out.append(byte)
            at += 1
    return bytes(out)


def visible(secret: str, out: bytes) -> bool:
    """Whether ``secret`` is in ``out`` other than as part of a [REDACTED] (which may hold it)."""
    return secret.encode() in out.replace(TOKEN, b"\n") or (
        secret not in REDACTED and secret.encode() in out
    )


def redacted_from(original: bytes, out: bytes) -> bool:
    """Whether ``out`` is ``original`` with some spans, none across a line, made [REDACTED]."""
    pieces = [re.escape(piece) for piece in out.split(TOKEN)]
    return re.fullmatch(b"[^\n]+?".join(pieces), original, re.DOTALL) is not None


@settings(max_examples=150, deadline=None)
@given(SECRET.filter(lambda text: len(text) >= 8), st.lists(SECRET, max_size=2), st.data())
def test_no_secret_survives_in_text_and_text_around_is_kept(
    whole: str, others: list[str], data: st.DataObject
) -> None:
    # Pieces of one string that the text holds whole: secrets that overlap there
    ends = st.tuples(st.integers(0, len(whole) - 4), st.integers(4, len(whole)))
    pieces = [whole[a : a + b] for a, b in data.draw(st.lists(ends, min_size=1, max_size=3))]
    secrets = [piece for piece in pieces if len(piece) >= 4] + others
    shown = [whole, *data.draw(st.permutations(secrets))]
    fillers = data.draw(st.lists(FILLER, min_size=len(shown) + 1, max_size=len(shown) + 1))
    text = fillers[0] + "".join(
        part + filler for part, filler in zip(shown, fillers[1:], strict=False)
    )
    redactor = Redactor(secrets)
    out = redactor.text(text)
    assert not [secret for secret in secrets if visible(secret, out.encode())]
    assert out.count("\n") == text.count("\n")
    assert redacted_from(text.encode(), out.encode())
    assert redactor.text(out) == out


def union_redacted(text: str, secrets: list[str]) -> str:
    """``text`` with the union of all occurrences of ``secrets`` replaced, written plainly."""
    hidden = [False] * len(text)
    for secret in secrets:
        for at in range(len(text)):
            if text.startswith(secret, at):
                hidden[at : at + len(secret)] = [True] * len(secret)
    out = [
        REDACTED if hide and not (at and hidden[at - 1]) else "" if hide else char
        for at, (char, hide) in enumerate(zip(text, hidden, strict=False))
    ]
    return "".join(out)


PLAIN = string.ascii_letters + string.digits + " -_.!\n"


@settings(max_examples=200, deadline=None)
@given(st.text(PLAIN.strip(), min_size=8, max_size=20), st.data())
def test_every_occurrence_of_every_secret_is_redacted_whole(
    whole: str, data: st.DataObject
) -> None:
    ends = st.tuples(st.integers(0, len(whole) - 4), st.integers(4, len(whole)))
    secrets = [whole[a : a + b] for a, b in data.draw(st.lists(ends, min_size=2, max_size=4))]
    secrets = [secret for secret in secrets if len(secret) >= 4 and secret.strip() == secret]
    filler = st.text(PLAIN, max_size=12)
    text = "".join(data.draw(st.lists(st.sampled_from([whole, *secrets]) | filler, max_size=8)))
    assert Redactor(secrets, builtin=False).text(text) == union_redacted(text, secrets)


@settings(max_examples=150, deadline=None)
@given(st.lists(SECRET, min_size=1, max_size=3), st.data())
def test_no_secret_survives_in_bytes_even_with_escape_codes_inside(
    secrets: list[str], data: st.DataObject
) -> None:
    parts = []
    for secret in secrets:
        raw = secret.encode()
        cuts = sorted(data.draw(st.lists(st.integers(1, len(raw) - 1), max_size=3)))
        codes = data.draw(
            st.lists(st.sampled_from(ESCAPES), min_size=len(cuts), max_size=len(cuts))
        )
        pieces = [raw[a:b] for a, b in zip([0, *cuts], [*cuts, len(raw)], strict=False)]
        parts.append(
            b"".join(piece + code for piece, code in zip(pieces, [*codes, b""], strict=False))
        )
    fillers = [
        data.draw(FILLER).encode() + data.draw(st.sampled_from([b"", *ESCAPES, b"\xff\xfe"]))
        for _ in range(len(parts) + 1)
    ]
    raw = fillers[0] + b"".join(
        part + filler for part, filler in zip(parts, fillers[1:], strict=False)
    )
    redactor = Redactor(secrets)
    out = redactor.bytes(raw)
    for secret in secrets:
        assert not visible(secret, out)
        assert not visible(secret, shown(out))
    assert out.count(b"\n") == raw.count(b"\n")
    assert redacted_from(raw, out)
    assert redactor.bytes(out) == out


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=200), st.lists(SECRET, max_size=3))
def test_any_text_keeps_its_lines_and_redacting_twice_is_once(
    text: str, secrets: list[str]
) -> None:
    redactor = Redactor(secrets, [r"[0-9]{3,}"], always=["Zq9"])
    out = redactor.text(text)
    assert out.count("\n") == text.count("\n")
    assert redactor.text(out) == out
