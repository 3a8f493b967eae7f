"""The memory cgroup this process runs in: where it is, and its OOM kills, limit and peak.

The wrapper reads the state before the command starts and after it exits; the command died of
the kernel's OOM killer when it died of SIGKILL and the cgroup's ``oom_kill`` counter rose::

    cgroup = find_memory_cgroup()
    before = read_state(cgroup)
    ...  # run the command
    after = read_state(cgroup)
    if died_of_sigkill and oom_killed(before, after): ...

cgroup v2: ``memory.events``, ``memory.max``, ``memory.peak``. cgroup v1: ``memory.oom_control``,
``memory.limit_in_bytes``, ``memory.max_usage_in_bytes``. This runs on the start-up path of
``lognotify -- cmd``: nothing but ``os``, each file read with one ``open`` and one ``read``.
"""

from __future__ import annotations

import os

from lognotify.record import Record

# The counter file (read to tell that a cgroup is really there), the limit, the peak.
_FILES = {
    2: ("memory.events", "memory.max", "memory.peak"),
    1: ("memory.oom_control", "memory.limit_in_bytes", "memory.max_usage_in_bytes"),
}
# cgroup v1 shows "no limit" as LONG_MAX rounded down to the page size: 9223372036854771712
# with 4 KiB pages, 9223372036854710272 with 64 KiB ones. No real limit comes near 8 EiB, so
# everything from here up (any page size up to 1 MiB) means unlimited.
_V1_UNLIMITED_FROM = 2**63 - 2**20
# Every file read here is a few hundred bytes (/proc/self/cgroup: one short line per hierarchy),
# so one read of this size returns all of it.
_READ_SIZE = 16384
_UNITS = ("KiB", "MiB", "GiB", "TiB", "PiB", "EiB")


class MemoryCgroup(Record):
    """Where a memory cgroup's files are: its directory and its cgroup ``version`` (1 or 2)."""

    path: str
    version: int


class MemoryState(Record):
    """A memory cgroup's OOM kill counter, limit and peak usage; each is None when not known.

    ``limit_bytes`` is None too when the cgroup has no limit.
    """

    oom_kills: int | None = None
    limit_bytes: int | None = None
    peak_bytes: int | None = None


def find_memory_cgroup(
    proc_cgroup: str = "/proc/self/cgroup", root: str = "/sys/fs/cgroup"
) -> MemoryCgroup | None:
    """The memory cgroup that ``proc_cgroup`` names, under the hierarchy mounted at ``root``.

    cgroup v2 (``0::/path``: ``root/path``) or v1 (a line whose controllers include ``memory``:
    ``root/memory/path``). Inside a container, ``proc_cgroup`` may name a host path that the
    container's mount does not have: then the mounted hierarchy's own root (``root``, or
    ``root/memory``) is the container's cgroup. None when no candidate's counter file can be
    read. Never raises.
    """
    for cgroup in candidates(_read(proc_cgroup), root):
        if _read(os.path.join(cgroup.path, _FILES[cgroup.version][0])):
            return cgroup
    return None


def candidates(proc_cgroup: str, root: str) -> list[MemoryCgroup]:
    """The directories to try, best first, for the content of a ``/proc/<pid>/cgroup`` file.

    The paths named in the file come first, in its order, then the roots of the mounted
    hierarchies (a container's view). A path that climbs out of its namespace (``/../..``) is
    not followed.
    """
    named: list[MemoryCgroup] = []
    roots: list[MemoryCgroup] = []
    for line in proc_cgroup.splitlines():
        fields = line.split(":", 2)
        if len(fields) != 3 or not fields[2].startswith("/"):
            continue
        hierarchy, controllers, path = fields
        if hierarchy == "0" and not controllers:
            version, folders = 2, [""]
        elif "memory" in controllers.split(","):
            # Comounted controllers may be mounted under their joined names ("cpu,memory").
            version, folders = 1, ["memory"] if controllers == "memory" else ["memory", controllers]
        else:
            continue
        for folder in folders:
            base = os.path.join(root, folder)
            if ".." not in path.split("/"):
                named.append(MemoryCgroup(path=os.path.normpath(base + path), version=version))
            roots.append(MemoryCgroup(path=os.path.normpath(base), version=version))
    found: list[MemoryCgroup] = []
    for cgroup in named + roots:
        if cgroup not in found:
            found.append(cgroup)
    return found


def read_state(cgroup: MemoryCgroup | None) -> MemoryState:
    """The OOM kill counter, limit and peak of ``cgroup`` now (all None for no cgroup).

    A missing or unreadable file gives a None field. Never raises.
    """
    files = _FILES.get(cgroup.version) if cgroup is not None else None
    if cgroup is None or files is None:
        return MemoryState()
    events, limit, peak = (_read(os.path.join(cgroup.path, name)) for name in files)
    return MemoryState(
        oom_kills=parse_events(events),
        limit_bytes=parse_limit(limit, cgroup.version),
        peak_bytes=parse_bytes(peak),
    )


def oom_killed(before: MemoryState, after: MemoryState) -> bool:
    """Whether the kernel's OOM killer killed something in the cgroup between the two states."""
    if before.oom_kills is None or after.oom_kills is None:
        return False
    return after.oom_kills > before.oom_kills


def parse_events(text: str) -> int | None:
    """The ``oom_kill`` count of a v2 ``memory.events`` or a v1 ``memory.oom_control`` file.

    None when there is no such line (v1 before Linux 4.13) or it does not hold a count.
    """
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        if key == "oom_kill":
            return _count(value)
    return None


def parse_limit(text: str, version: int) -> int | None:
    """The limit in a v2 ``memory.max`` or a v1 ``memory.limit_in_bytes``; None when unlimited."""
    value = text.strip()
    if version == 2 and value == "max":
        return None
    limit = _count(value)
    if version == 1 and limit is not None and limit >= _V1_UNLIMITED_FROM:
        return None
    return limit


def parse_bytes(text: str) -> int | None:
    """The byte count in a v2 ``memory.peak`` or a v1 ``memory.max_usage_in_bytes``."""
    return _count(text.strip())


def format_bytes(n: int) -> str:
    """A byte count for people, in binary units: ``900 KiB``, ``512 MiB``, ``1.5 GiB``.

    One decimal below 10 of a unit, whole numbers above; never ``1024`` of a unit.
    """
    if n < 1024:
        return f"{n} B"
    value, unit = n / 1024, _UNITS[0]
    for bigger in _UNITS[1:]:
        if round(value, 1 if value < 10 else None) < 1024:
            break
        value, unit = value / 1024, bigger
    text = f"{value:.1f}" if value < 9.95 else f"{value:.0f}"
    return f"{text.removesuffix('.0')} {unit}"


def _count(text: str) -> int | None:
    try:
        value = int(text)
    except ValueError:
        return None
    return value if value >= 0 else None


def _read(path: str) -> str:
    """The whole content of a small file, or "" when it cannot be read."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except (OSError, ValueError):  # ValueError: a path with a NUL byte
        return ""
    try:
        return os.fsdecode(os.read(fd, _READ_SIZE))
    except OSError:
        return ""
    finally:
        os.close(fd)
