"""settings.spec: what one row of the settings table says, and the flag argparse gets of it."""

from __future__ import annotations

import argparse

from lognotify.settings import parsers as p
from lognotify.settings.spec import Spec, check_error_pattern, check_redact
from lognotify.settings.table import SPECS


def test_a_grouped_setting_fills_its_records_field_without_the_prefix() -> None:
    spec = Spec(keyword="smtp_host", env="LOGNOTIFY_SMTP_HOST", parse=p.single_line, group="smtp")
    assert spec.field == "host"
    assert Spec(keyword="to", env="LOGNOTIFY_TO", parse=p.addresses).field == "to"


def test_a_repeatable_flag_appends_and_argparse_takes_its_keywords() -> None:
    spec = Spec(
        keyword="redact",
        env="LOGNOTIFY_REDACT",
        parse=p.words,
        flag="--redact",
        metavar="REGEX",
        help="also redact this",
        repeatable=True,
    )
    parser = argparse.ArgumentParser()
    parser.add_argument(spec.flag or "", **spec.argument())
    assert parser.parse_args(["--redact", "a", "--redact", "b"]).redact == ["a", "b"]


def test_the_pattern_checks_say_why_in_one_line_or_nothing() -> None:
    assert check_redact("secret-[0-9]+") is None
    assert "RE2" in (check_redact("(?=x)") or "")
    assert check_error_pattern("^WARN ") is None
    assert "empty" in (check_error_pattern("x*") or "")


def test_every_setting_has_one_row_and_each_variable_is_lognotifys() -> None:
    assert len({spec.keyword for spec in SPECS}) == len(SPECS)
    assert len({spec.env for spec in SPECS}) == len(SPECS)
    assert all(spec.env.startswith("LOGNOTIFY_") for spec in SPECS)
