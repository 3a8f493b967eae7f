"""The parsers: a value as people write it (a variable, a flag, a mounted file, a keyword)
becomes a typed one, or a ConfigError naming where it came from. Pure."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lognotify.errors import ConfigError
from lognotify.settings import parsers as p


def refused(parse: Callable[[object, str], object], value: object) -> str:
    with pytest.raises(ConfigError) as caught:
        parse(value, "LOGNOTIFY_X")
    message = str(caught.value)
    assert message.startswith("LOGNOTIFY_X: ")
    assert "\n" not in message
    return message


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30", 30.0),
        ("2.5", 2.5),
        (".5", 0.5),
        ("90s", 90.0),
        ("5m", 300.0),
        ("1h", 3600.0),
        ("1.5h", 5400.0),
        ("250ms", 0.25),
        (" 10 s ", 10.0),
        (7, 7.0),
        (0.5, 0.5),
    ],
)
def test_durations_are_read_as_people_write_them(text: object, seconds: float) -> None:
    assert p.seconds(zero_ok=False)(text, "LOGNOTIFY_X") == seconds


@pytest.mark.parametrize("text", ["soon", "1d", "-5", "1y", "\u00b2", "nan", "", "5 minutes"])
def test_what_is_not_a_duration_is_refused(text: str) -> None:
    assert "duration" in refused(p.seconds(zero_ok=True), text)


def test_zero_is_a_duration_only_where_it_means_something() -> None:
    assert p.seconds(zero_ok=True)("0", "LOGNOTIFY_KILL_GRACE") == 0.0  # SIGKILL at once
    assert "above 0" in refused(p.seconds(zero_ok=False), "0")
    assert "0 or more" in refused(p.seconds(zero_ok=True), math.nan)
    assert "duration" in refused(p.seconds(zero_ok=True), True)


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("1048576", 1 << 20),
        ("512K", 512 << 10),
        ("1M", 1 << 20),
        ("1g", 1 << 30),
        ("10KiB", 10 << 10),
        ("2mb", 2 << 20),
        ("100b", 100),
        (" 7 ", 7),
        (4096, 4096),
    ],
)
def test_sizes_are_read_as_people_write_them(text: object, size: int) -> None:
    assert p.size(text, "LOGNOTIFY_MAX_BYTES") == size


@pytest.mark.parametrize("text", ["lots", "1.5M", "-1", "\u00b2K", "1T", True, -1])
def test_what_is_not_a_size_is_refused(text: object) -> None:
    assert "size in bytes" in refused(p.size, text)


@given(st.integers(min_value=0, max_value=1 << 40))
def test_a_size_in_plain_digits_is_itself(number: int) -> None:
    assert p.size(str(number), "LOGNOTIFY_MAX_BYTES") == number


@pytest.mark.parametrize("value", ["25", 587, " 465 ", "65535", "1"])
def test_ports_are_1_to_65535(value: object) -> None:
    assert p.port(value, "LOGNOTIFY_SMTP_PORT") == int(str(value).strip())


@pytest.mark.parametrize("value", ["0", "65536", "abc", "\u00b2", "\u0662\u0665", True, 25.0, ""])
def test_what_is_not_a_port_is_refused(value: object) -> None:
    assert "port number from 1 to 65535" in refused(p.port, value)


def test_choices_take_any_case_and_name_the_choices_when_refused() -> None:
    parse = p.choice("starttls", "ssl", "none")
    assert parse(" SSL ", "LOGNOTIFY_X") == "ssl"
    assert "expected one of starttls, ssl, none; got 'tls'" in refused(parse, "tls")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("on", True),
        ("OFF", False),
        ("yes", True),
        ("no", False),
        ("1", True),
        ("0", False),
        ("true", True),
        (" False ", False),
        (True, True),
        (False, False),
    ],
)
def test_on_and_off_in_the_usual_spellings(value: object, expected: bool) -> None:
    assert p.on_off(value, "LOGNOTIFY_PASSTHROUGH") is expected


def test_what_is_neither_on_nor_off_is_refused() -> None:
    assert "expected on or off; got 'maybe'" in refused(p.on_off, "maybe")


@pytest.mark.parametrize(("value", "expected"), [("3", 3), (" 0 ", 0), ("", None), (" ", None)])
def test_counts_from_the_downward_api_are_integers_or_unknown(
    value: str, expected: int | None
) -> None:
    assert p.count(value, "LOGNOTIFY_K8S_FAILURES") == expected


@pytest.mark.parametrize("value", ["two", "-1", "1.0", "\u00b2"])
def test_a_count_that_is_not_a_non_negative_integer_is_refused(value: str) -> None:
    assert "non-negative integer" in refused(p.count, value)


def test_exit_codes_are_a_set_of_statuses() -> None:
    assert p.exit_codes("2, 124,,", "W") == frozenset({2, 124})
    assert p.exit_codes("", "W") == frozenset()
    assert p.exit_codes([1, "2"], "W") == frozenset({1, 2})
    assert "0 to 255" in refused(p.exit_codes, "2,300")


def test_words_are_split_on_commas_and_repeated_flags() -> None:
    assert p.words("batch, etl ,,", "W") == ("batch", "etl")
    assert p.words(["a,b", " c "], "W") == ("a", "b", "c")
    assert "control characters" in refused(p.words, "a\nb")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("ops@example.com", ("ops@example.com",)),
        (
            "a@example.com, Ops Team <ops@example.com>",
            ("a@example.com", "Ops Team <ops@example.com>"),
        ),
        (
            '"Ops, Team" <ops@example.com>, b@example.org\n\n',
            ('"Ops, Team" <ops@example.com>', "b@example.org"),
        ),
        (["a@b.c, d@e.f", "g@h.i"], ("a@b.c", "d@e.f", "g@h.i")),
        ("", ()),
    ],
)
def test_recipient_lists_take_display_names_quoted_commas_and_repeated_flags(
    value: object, expected: tuple[str, ...]
) -> None:
    assert p.addresses(value, "LOGNOTIFY_TO") == expected


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("not an address", "email address"),
        ("ops@example.com\r\nBcc: evil@example.com", "line breaks"),
        ("ops@example.com\x00", "control characters"),
        ("a@b@c", "email address"),
        ("<ops@example.com", "email address"),
    ],
)
def test_what_is_not_an_address_is_refused(value: str, words: str) -> None:
    assert words in refused(p.addresses, value)


def test_the_sender_is_one_address_and_not_empty() -> None:
    assert p.sender("Batch <batch@example.com>", "W") == "Batch <batch@example.com>"
    assert "empty value" in refused(p.sender, "  ")
    assert "line breaks" in refused(p.sender, "me@example.com\nX-Evil: 1")


def test_patterns_are_one_per_line_and_each_is_checked() -> None:
    parse = p.patterns(lambda pattern: "unbalanced" if "(" in pattern else None)
    assert parse("tok_[a-z]+\n\nkey=\\w+\n", "W") == ("tok_[a-z]+", "key=\\w+")
    assert parse(["a", "b"], "W") == ("a", "b")
    assert "invalid regular expression '(x': unbalanced" in refused(parse, "(x")


def test_text_and_single_lines() -> None:
    assert p.text(" as it is \n", "W") == " as it is \n"
    assert "expected text, got int" in refused(p.text, 5)
    assert p.single_line("  smtp.example.com ", "W") == "smtp.example.com"
    assert "single line" in refused(p.single_line, "host\nX: y")
    assert p.name("  pod-1 \n", "W") == "pod-1"  # a name from outside is trimmed, not refused


def test_paths(tmp_path: Path) -> None:
    assert p.path(tmp_path / "out", "W") == str(tmp_path / "out")
    assert "expected a path" in refused(p.path, "")
    assert "expected a path" in refused(p.path, "a\x00b")
    assert p.optional_path("", "W") == ""  # empty: never (the termination log)
    assert p.directory(str(tmp_path), "W") == str(tmp_path)
    assert "expected a directory" in refused(p.directory, str(tmp_path / "missing"))


def test_a_ca_file_must_hold_a_usable_certificate(tmp_path: Path) -> None:
    import trustme

    good = tmp_path / "ca.pem"
    trustme.CA().cert_pem.write_to_path(str(good))
    assert p.ca_file(good, "W") == str(good)
    bad = tmp_path / "bad.pem"
    bad.write_text("this is not a certificate\n")
    assert "no usable PEM certificate" in refused(p.ca_file, str(bad))
    assert "readable file" in refused(p.ca_file, str(tmp_path / "missing.pem"))


def test_a_password_is_never_echoed_in_its_error() -> None:
    assert p.secret("hunter2", "W") == "hunter2"
    message = refused(p.secret, 12345678)
    assert "12345678" not in message
