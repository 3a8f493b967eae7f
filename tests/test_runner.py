"""The runner's own helpers; its runs of real commands are tested through the CLI."""

from __future__ import annotations

import shlex

from hypothesis import given
from hypothesis import strategies as st

from lognotify.run.runner import _joined


@given(st.lists(st.text(max_size=12)))
def test_the_command_line_is_joined_as_shlex_joins_it(argv: list[str]) -> None:
    assert _joined(argv) == shlex.join(argv)


def test_a_word_with_a_quote_or_a_space_is_quoted_for_a_shell() -> None:
    assert _joined(["sh", "-c", "echo 'hi' $X", ""]) == "sh -c 'echo '\"'\"'hi'\"'\"' $X' ''"
