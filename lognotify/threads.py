"""Threads started without importing ``threading`` on the start-up path.

``threading`` costs ~2 ms to import, a fifth of ``lognotify -- true``; a bare ``_thread`` does
the same work. When ``threading`` is already loaded (the library, or a tracer such as
coverage, which follows only threads that ``threading`` starts) its threads are used instead,
so that what observes the process sees every thread of it.
"""

from __future__ import annotations

import sys
from _thread import start_new_thread

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable


def start(target: Callable[[], object], name: str) -> None:
    """Run ``target`` in a daemon thread called ``name`` (when ``threading`` names threads)."""
    threading = sys.modules.get("threading")
    if threading is None:
        start_new_thread(target, ())
    else:
        threading.Thread(target=target, name=name, daemon=True).start()
