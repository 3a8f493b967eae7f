"""Redaction: which values are secrets, and how they leave text."""

from __future__ import annotations

from lognotify.redact import REDACTED, Redactor, secret_values


def test_secret_named_variables_are_found() -> None:
    env = {
        "DB_PASSWORD": "a", "MYSQL_PASSWD": "b", "AWS_SECRET_ACCESS_KEY": "c", "GH_TOKEN": "d",
        "STRIPE_API_KEY": "e", "SENDGRID_APIKEY": "f", "SSH_PRIVATE_KEY": "g",
        "GOOGLE_APPLICATION_CREDENTIALS": "h", "BASIC_AUTH": "i", "HOME": "/root", "USER": "me",
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
    assert before == f"log ... {REDACTED}" and after == f"{REDACTED} more"


def test_bytes_that_are_not_utf8_survive_redaction() -> None:
    data = b"\xff\xfe secret-value \x80"
    assert Redactor(["secret-value"]).bytes(data) == b"\xff\xfe [REDACTED] \x80"


def test_a_short_smtp_password_is_redacted_where_it_stands_alone() -> None:
    redactor = Redactor([], [], always=["Zq9"])
    assert redactor.text("the smtp password is Zq9, see") == f"the smtp password is {REDACTED}, see"
    assert redactor.text("Zq9x and aZq9 are other words") == "Zq9x and aZq9 are other words"
    assert Redactor(["Zq9"]).text("Zq9") == "Zq9"  # an environment value that short is not
