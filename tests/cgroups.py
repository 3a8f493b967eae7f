"""Scratch memory cgroups, so that tests can let the kernel's OOM killer act for real.

``memory_cgroup(limit_bytes)`` is a context manager: it creates a fresh child cgroup with that
memory limit (swap included, so swap cannot hide the limit), yields a :class:`ScratchCgroup`,
and on exit kills whatever is left in it and removes it. It skips the test (``pytest.skip``,
with the reason) when not root or when no memory controller is writable::

    with memory_cgroup(64 << 20) as cgroup:
        subprocess.run(cgroup.argv(["python3", "-c", "..."]))

This module finds its cgroups on its own, without ``lognotify.kubernetes.cgroup``, so that the
tests of that module do not check it against itself.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import time
import uuid
from collections.abc import Iterator

import pytest

ROOT = "/sys/fs/cgroup"
# Per version: the limit file, and the swap limit file (v1: memory + swap; v2: swap alone).
_LIMITS = {
    1: ("memory.limit_in_bytes", "memory.memsw.limit_in_bytes"),
    2: ("memory.max", "memory.swap.max"),
}


class ScratchCgroup:
    """A memory cgroup made for one test: its directory ``path`` and its ``version`` (1 or 2)."""

    def __init__(self, path: str, version: int) -> None:
        self.path = path
        self.version = version

    def argv(self, cmd: list[str]) -> list[str]:
        """An argv that moves itself into this cgroup, then execs ``cmd``."""
        procs = shlex.quote(os.path.join(self.path, "cgroup.procs"))
        return ["sh", "-c", f'echo $$ > {procs} && exec "$@"', "sh", *cmd]

    def pids(self) -> list[int]:
        """The processes in this cgroup now."""
        with open(os.path.join(self.path, "cgroup.procs")) as procs:
            return [int(pid) for pid in procs.read().split()]

    def read(self, name: str) -> str:
        """The content of one of this cgroup's files."""
        with open(os.path.join(self.path, name)) as file:
            return file.read()


@contextlib.contextmanager
def memory_cgroup(limit_bytes: int) -> Iterator[ScratchCgroup]:
    """A fresh memory cgroup limited to ``limit_bytes``, removed on exit (see the module)."""
    if os.geteuid() != 0:
        pytest.skip("creating a memory cgroup needs root")
    cgroup = _create(limit_bytes)
    try:
        yield cgroup
    finally:
        _remove(cgroup)


def memory_hierarchy() -> tuple[int, str, str] | None:
    """(version, mount point, this process's cgroup path in it) of the memory controller."""
    with open("/proc/self/cgroup") as file:
        lines = [line.split(":", 2) for line in file.read().splitlines()]
    own = {controllers: path for _, controllers, path in lines}
    for controllers, path in own.items():
        if "memory" in controllers.split(",") and os.path.exists(f"{ROOT}/memory/cgroup.procs"):
            return 1, f"{ROOT}/memory", path
    with contextlib.suppress(OSError), open(f"{ROOT}/cgroup.controllers") as file:
        if "memory" in file.read().split() and "" in own:
            return 2, ROOT, own[""]
    return None


def _create(limit_bytes: int) -> ScratchCgroup:
    hierarchy = memory_hierarchy()
    if hierarchy is None:
        pytest.skip(f"no memory cgroup controller mounted under {ROOT}")
    version, mount, own = hierarchy
    # This process's own cgroup first (the child stays inside whatever limits it), then the
    # root (cgroup v2 enables controllers only below a cgroup that holds no process).
    parents = [os.path.normpath(mount + own), mount]
    failures: list[str] = []
    for parent in dict.fromkeys(parents):
        path = os.path.join(parent, f"lognotify-test-{os.getpid()}-{uuid.uuid4().hex[:8]}")
        try:
            os.mkdir(path)
        except OSError as exc:
            failures.append(f"{parent}: {exc.strerror}")
            continue
        cgroup = ScratchCgroup(path, version)
        try:
            _limit(cgroup, limit_bytes)
        except OSError as exc:
            failures.append(f"{parent}: {exc.strerror}")
            _remove(cgroup)
            continue
        return cgroup
    pytest.skip(f"no writable memory cgroup ({'; '.join(failures)})")


def _limit(cgroup: ScratchCgroup, limit_bytes: int) -> None:
    limit_file, swap_file = _LIMITS[cgroup.version]
    with open(os.path.join(cgroup.path, limit_file), "w") as file:
        file.write(str(limit_bytes))
    swap = os.path.join(cgroup.path, swap_file)
    if os.path.exists(swap):
        with open(swap, "w") as file:
            file.write(str(limit_bytes if cgroup.version == 1 else 0))


def _remove(cgroup: ScratchCgroup) -> None:
    # SIGKILLed processes leave their cgroup a moment later: rmdir answers EBUSY until then.
    deadline = time.monotonic() + 10
    while True:
        with contextlib.suppress(FileNotFoundError):
            for pid in cgroup.pids():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        try:
            os.rmdir(cgroup.path)
        except FileNotFoundError:
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)
        else:
            return
