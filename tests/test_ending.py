"""How a Python block ended: its exit status, the exception's words and its traceback."""

from __future__ import annotations

import sys

import pytest

from lognotify.ending import block_ending, describe, script_name


def raised(exc: BaseException) -> tuple[int, str | None, str | None]:
    try:
        raise exc
    except BaseException as caught:
        return block_ending(caught, caught.__traceback__)


@pytest.mark.parametrize(
    ("exc", "status", "words"),
    [
        (SystemExit(0), 0, None),
        (SystemExit(None), 0, None),
        (SystemExit(4), 4, None),
        (SystemExit(True), 1, None),
        (SystemExit("bye"), 1, "SystemExit: bye"),
        (KeyboardInterrupt(), 130, "KeyboardInterrupt"),
    ],
)
def test_system_exit_and_ctrl_c_end_as_python_would(
    exc: BaseException, status: int, words: str | None
) -> None:
    code, exception, trace = raised(exc)
    assert (code, exception, trace) == (status, words, None)


def test_an_exception_is_1_with_its_words_and_traceback() -> None:
    code, exception, trace = raised(ValueError("bad row 7"))
    assert (code, exception) == (1, "ValueError: bad row 7")
    assert trace is not None
    assert trace.startswith("Traceback")
    assert "bad row 7" in trace
    assert block_ending(None, None) == (0, None, None)


def test_describe_names_a_class_outside_builtins_with_its_module() -> None:
    class Broken(Exception):
        def __str__(self) -> str:
            raise RuntimeError("cannot describe itself")

    assert describe(OSError("gone")) == "OSError: gone"
    assert describe(Broken()).endswith("Broken: <unprintable>")
    assert describe(KeyError()) == "KeyError"


def test_the_script_name_is_the_job_name_to_fall_back_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "argv", ["/app/nightly_etl.py"])
    assert script_name() == "nightly_etl"
    monkeypatch.setattr(sys, "argv", ["-c"])
    assert script_name() == "python"
    monkeypatch.setattr(sys, "argv", ["/app/etl/__main__.py"])
    assert script_name() == "etl"
