"""``python -m lognotify.report.compile``: an image's build compiles the built-in templates."""

from __future__ import annotations

import stat
from pathlib import Path

from lognotify.report.cache import TemplateCache
from lognotify.report.compile import compile_builtin
from lognotify.report.templates import BUILTIN, NAMES, builtin_environment


def test_an_image_build_compiles_every_built_in_template(tmp_path: Path) -> None:
    folder = tmp_path / "compiled"
    compile_builtin(folder)
    assert len(list(folder.glob("*.jinja"))) == len(NAMES)
    for name in NAMES:  # each is then found there
        environment = builtin_environment(name.endswith(".html.j2"), TemplateCache([folder], None))
        cache = environment.bytecode_cache
        assert cache is not None
        source = (BUILTIN / name).read_text()
        bucket = cache.get_bucket(environment, name, str(BUILTIN / name), source)
        assert bucket.code is not None, name
    assert stat.S_IMODE(folder.stat().st_mode) == 0o755
    assert all(stat.S_IMODE(entry.stat().st_mode) == 0o644 for entry in folder.glob("*.jinja"))
