"""``python -m lognotify.report.compile``: the built-in templates compiled into the package.

For an image's build step, where the package is written by the builder (root) and read by the
image's own user at run time: lognotify itself never writes inside the package.
"""

from __future__ import annotations

import os
from pathlib import Path

from lognotify.report.cache import PACKAGE, TemplateCache, private_folder
from lognotify.report.templates import NAMES, builtin_environment


def compile_builtin(folder: Path = PACKAGE) -> None:
    """Compile the built-in templates into ``folder``, readable by everyone."""
    private_folder(folder)
    cache = TemplateCache(read=[], write=folder)
    for name in NAMES:
        builtin_environment(name.endswith(".html.j2"), cache).get_template(name)
    os.chmod(folder, 0o755)  # written by no one but the builder
    for entry in folder.glob("*.jinja"):
        os.chmod(entry, 0o644)


if __name__ == "__main__":
    compile_builtin()
