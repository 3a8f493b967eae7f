"""Starting the command: its environment byte for byte, but for lognotify's own secret."""

from __future__ import annotations

import errno

from lognotify.run.spawn import child_environment, spawn_failure


def test_the_smtp_password_is_withheld_and_everything_else_kept_byte_for_byte() -> None:
    environ = {
        b"LOGNOTIFY_SMTP_PASSWORD": b"s3cret",
        b"LOGNOTIFY_SMTP_PASSWORD_FILE": b"/x",
        b"LANG": b"de_DE.ISO-8859-1",
        b"WEIRD": b"caf\xe9",
    }
    env = child_environment(environ, original=b"")
    assert env == {
        b"LOGNOTIFY_SMTP_PASSWORD_FILE": b"/x",
        b"LANG": b"de_DE.ISO-8859-1",
        b"WEIRD": b"caf\xe9",
    }


def test_an_lc_ctype_that_python_added_is_taken_out_and_one_that_was_given_kept() -> None:
    coerced = {b"PATH": b"/bin", b"LC_CTYPE": b"C.UTF-8"}
    assert child_environment(coerced, original=b"PATH=/bin\0") == {b"PATH": b"/bin"}
    given = b"PATH=/bin\0LC_CTYPE=C.UTF-8\0"
    assert child_environment(coerced, original=given) == coerced
    chosen = {b"LC_CTYPE": b"de_DE.UTF-8"}  # not what coercion sets: never touched
    assert child_environment(chosen, original=b"") == chosen


def test_spawn_failures_are_127_and_126_with_the_reason() -> None:
    assert spawn_failure("nope", FileNotFoundError(errno.ENOENT, "x")) == (
        127,
        "not-found",
        "command not found: nope",
    )
    status, code, note = spawn_failure("/etc", OSError(errno.EACCES, "Permission denied"))
    assert (status, code, note) == (126, "not-executable", "cannot execute /etc: permission denied")
