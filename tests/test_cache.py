"""The template cache: compiled built-in templates kept in a private folder of the user's, read
only from folders no one else can write, and never written inside the installed package."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import jinja2
import pytest

from lognotify.report.cache import (
    PACKAGE,
    TemplateCache,
    private_folder,
    trusted,
    user_folder,
)
from lognotify.report.templates import BUILTIN, NAMES, builtin_environment

CONTEXT = {
    "status_word": "TEST",
    "job": "etl",
    "short_reason": "a test",
    "where": "vm",
    "attempt": {"number": None, "final": True},
}


@pytest.fixture
def umask_000() -> Iterator[None]:
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


def subject(cache: TemplateCache) -> jinja2.Template:
    return builtin_environment(False, cache).get_template("subject.txt.j2")


def test_compiled_templates_are_kept_and_a_damaged_entry_is_compiled_afresh(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "cache"
    first = subject(TemplateCache(read=[folder], write=folder))
    (entry,) = folder.glob("*.jinja")
    kept = subject(TemplateCache(read=[folder], write=folder))
    entry.write_bytes(entry.read_bytes()[:40])  # cut short, as a full disk would leave it
    damaged = subject(TemplateCache(read=[folder], write=folder))
    assert first.render(CONTEXT) == kept.render(CONTEXT) == damaged.render(CONTEXT)
    assert first.render(CONTEXT) == "[lognotify] TEST etl (a test) on vm\n"


def test_a_kept_entry_is_what_is_run_the_next_time(tmp_path: Path) -> None:
    # Proof that the cache is really read: an entry planted by its owner, in a private folder,
    # is taken instead of compiling the source.
    folder = tmp_path / "cache"
    private_folder(folder)
    plant(folder, "planted code ran")
    assert subject(TemplateCache(read=[folder], write=None)).render(CONTEXT) == "planted code ran"


def plant(folder: Path, text: str) -> None:
    """An entry for the built-in subject template that renders ``text``."""
    environment = builtin_environment(False, TemplateCache(read=[], write=None))
    name = "subject.txt.j2"
    filename = str(BUILTIN / name)
    source = (BUILTIN / name).read_text()
    cache = environment.bytecode_cache
    assert cache is not None
    bucket = cache.get_bucket(environment, name, filename, source)  # the real key and checksum
    bucket.code = environment.compile(text, name, filename)
    with open(folder / f"{bucket.key}.jinja", "wb") as entry:
        bucket.write_bytecode(entry)


def test_a_compiled_template_is_never_taken_from_a_folder_others_can_write(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "shared"
    folder.mkdir()
    folder.chmod(0o777)  # anyone may have put an entry here
    plant(folder, "planted code ran")
    template = subject(TemplateCache(read=[folder], write=folder))
    assert template.render(CONTEXT) == "[lognotify] TEST etl (a test) on vm\n"
    assert not trusted(folder)


def test_a_linked_folder_is_not_trusted(tmp_path: Path) -> None:
    real = tmp_path / "real"
    private_folder(real)
    plant(real, "planted code ran")
    link = tmp_path / "link"
    link.symlink_to(real)
    assert trusted(real)
    assert not trusted(link)
    assert subject(TemplateCache(read=[link], write=None)).render(CONTEXT).startswith("[lognotify]")


def test_the_cache_is_written_to_the_users_folder_never_inside_the_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    before = sorted(os.listdir(PACKAGE)) if PACKAGE.exists() else []
    cache = TemplateCache()
    assert cache.write == user_folder() == tmp_path / "xdg" / "lognotify"
    assert cache.read == [PACKAGE, cache.write]
    for name in NAMES:
        builtin_environment(name.endswith(".html.j2"), cache).get_template(name)
    after = sorted(os.listdir(PACKAGE)) if PACKAGE.exists() else []
    assert after == before
    entries = list((tmp_path / "xdg" / "lognotify").glob("*.jinja"))
    assert entries or before  # written there, unless the package's compiled ones were taken


def test_the_default_cache_folder_falls_back_to_the_home_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert user_folder() == tmp_path / ".cache" / "lognotify"


def test_every_folder_and_entry_is_private_whatever_the_umask(
    tmp_path: Path, umask_000: None
) -> None:
    folder = tmp_path / "home" / ".cache" / "lognotify"
    subject(TemplateCache(read=[folder], write=folder))
    for made in (tmp_path / "home", tmp_path / "home" / ".cache", folder):
        assert stat.S_IMODE(made.stat().st_mode) == 0o700, made
    (entry,) = folder.glob("*.jinja")
    assert stat.S_IMODE(entry.stat().st_mode) == 0o600
    assert not list(folder.glob(".*partial"))


def test_a_cache_that_cannot_be_written_is_simply_not_used(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    template = subject(TemplateCache(read=[blocker / "cache"], write=blocker / "cache"))
    assert template.render(CONTEXT) == "[lognotify] TEST etl (a test) on vm\n"


def test_a_folder_of_another_user_is_neither_read_nor_written(tmp_path: Path) -> None:
    if os.getuid() != 0:
        pytest.skip("chown to another user needs root")
    folder = tmp_path / "theirs"
    private_folder(folder)
    os.chown(folder, 12345, 12345)
    subject(TemplateCache(read=[folder], write=folder))
    assert not trusted(folder)
    assert list(folder.iterdir()) == []
