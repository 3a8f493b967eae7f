"""The outbox: reports kept where no one but their user can read, follow or replace them."""

from __future__ import annotations

import os
import stat
import tempfile
from email.message import EmailMessage
from pathlib import Path

import pytest

from lognotify.delivery.outbox import default_folder, write_outbox


def message() -> EmailMessage:
    mail = EmailMessage()
    mail["X-Lognotify-Job"] = "nightly etl"
    mail.set_content("the report\n")
    return mail


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def test_the_default_outbox_is_private_to_its_user_whatever_the_umask(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    old = os.umask(0)
    try:
        path = write_outbox(message())
    finally:
        os.umask(old)
    assert path.parent == default_folder() == tmp_path / f"lognotify-outbox-{os.getuid()}"
    assert mode(path.parent) == 0o700
    assert mode(path) == 0o600
    assert path.name.endswith(".eml")
    assert "nightly_etl" in path.name
    assert path.read_bytes() == message().as_bytes()


def test_a_usable_outbox_is_not_said_to_be_passed_over(tmp_path: Path) -> None:
    why: list[str] = []
    path = write_outbox(message(), str(tmp_path / "outbox"), passed_over=why)
    assert path.parent == tmp_path / "outbox"
    assert why == []


def test_a_chosen_outbox_and_its_missing_parents_are_made_0700(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        path = write_outbox(message(), str(tmp_path / "a" / "b" / "outbox"))
    finally:
        os.umask(old)
    assert mode(tmp_path / "a") == mode(tmp_path / "a" / "b") == mode(path.parent) == 0o700


def test_a_symbolic_link_planted_where_the_outbox_goes_is_never_followed(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.mkdir()
    (tmp_path / "outbox").symlink_to(target)
    why: list[str] = []
    path = write_outbox(message(), str(tmp_path / "outbox"), passed_over=why)
    assert list(target.iterdir()) == []
    assert why == [
        f"the outbox {tmp_path / 'outbox'} was passed over: not a folder (or a symbolic link)"
    ]
    assert mode(path.parent) == 0o700
    assert path.parent.name.startswith(f"lognotify-outbox-{os.getuid()}-")


def test_a_file_where_the_folder_should_be_sends_the_report_somewhere_private(
    tmp_path: Path,
) -> None:
    (tmp_path / "outbox").write_text("not a folder")
    why: list[str] = []
    path = write_outbox(message(), str(tmp_path / "outbox"), passed_over=why)
    assert path.exists()
    assert why == [
        f"the outbox {tmp_path / 'outbox'} was passed over: not a folder (or a symbolic link)"
    ]
    assert mode(path.parent) == 0o700
    assert (tmp_path / "outbox").read_text() == "not a folder"


def test_an_outbox_of_ours_left_open_to_others_is_closed_before_a_report_goes_in(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "outbox"
    folder.mkdir()
    folder.chmod(0o777)
    path = write_outbox(message(), str(folder))
    assert path.parent == folder
    assert mode(folder) == 0o700


@pytest.mark.skipif(os.getuid() != 0, reason="needs root to make a folder another user owns")
def test_a_folder_another_user_made_is_never_written_into(tmp_path: Path) -> None:
    folder = tmp_path / "outbox"
    folder.mkdir(mode=0o777)
    folder.chmod(0o777)
    os.chown(folder, 12345, 12345)
    path = write_outbox(message(), str(folder))
    assert list(folder.iterdir()) == []
    assert path.parent != folder
    assert mode(path.parent) == 0o700
