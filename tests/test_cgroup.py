"""lognotify.kubernetes.cgroup: the memory cgroup, from real samples and a real OOM kill."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from cgroups import memory_cgroup, memory_hierarchy
from hypothesis import given
from hypothesis import strategies as st

from lognotify.kubernetes.cgroup import (
    MemoryCgroup,
    MemoryState,
    candidates,
    find_memory_cgroup,
    format_bytes,
    oom_killed,
    parse_bytes,
    parse_events,
    parse_limit,
    read_state,
)

MiB = 1 << 20

# Real file contents. v2: the kernel's Documentation/admin-guide/cgroup-v2.rst formats.
V2_EVENTS = "low 0\nhigh 0\nmax 12\noom 3\noom_kill 3\noom_group_kill 0\n"
# v1: read on a Debian bookworm test machine (Linux 6.18, 4 KiB pages).
V1_OOM_CONTROL = "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n"
V1_OOM_CONTROL_AFTER_KILL = "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n"
V1_UNLIMITED = "9223372036854771712\n"
V1_PROC_SELF_CGROUP = (
    "9:name=systemd:/\n8:pids:/\n7:blkio:/\n6:freezer:/\n5:devices:/\n"
    "4:memory:/process_api/08d2bc5bb9f1cfc701e4b17480c3ca09\n"
    "3:cpuset:/\n2:cpuacct:/\n1:cpu:/\n0::/\n"
)

# Allocates and touches 256 MiB, one byte per page, so that every page is really charged.
ALLOCATE = (
    "import sys\n"
    "n = int(sys.argv[1]) << 20\n"
    "b = bytearray(n)\n"
    "for i in range(0, n, 4096):\n"
    "    b[i] = 1\n"
    "print('survived', flush=True)\n"
)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def fake_v1(root: Path, cgroup: str, events: str = V1_OOM_CONTROL) -> Path:
    directory = root / cgroup
    write(directory / "memory.oom_control", events)
    write(directory / "memory.limit_in_bytes", "67108864\n")
    write(directory / "memory.max_usage_in_bytes", "20234240\n")
    return directory


def fake_v2(root: Path, cgroup: str) -> Path:
    directory = root / cgroup
    write(directory / "memory.events", V2_EVENTS)
    write(directory / "memory.max", "536870912\n")
    write(directory / "memory.peak", "535822336\n")
    return directory


# The parsers, on real samples.


def test_parse_events_reads_oom_kill_from_cgroup_v2_memory_events() -> None:
    assert parse_events(V2_EVENTS) == 3


def test_parse_events_reads_oom_kill_from_cgroup_v1_memory_oom_control() -> None:
    assert parse_events(V1_OOM_CONTROL) == 0
    assert parse_events(V1_OOM_CONTROL_AFTER_KILL) == 1


def test_parse_events_does_not_take_oom_group_kill_or_oom_kill_disable_for_oom_kill() -> None:
    assert parse_events("oom_group_kill 5\noom_kill_disable 1\noom_kill 2\n") == 2


@pytest.mark.parametrize(
    "text",
    ["", "oom_kill_disable 0\nunder_oom 0\n", "oom_kill many\n", "oom_kill -1\n", "\x00\x01"],
)
def test_parse_events_without_a_count_is_none(text: str) -> None:
    assert parse_events(text) is None


@pytest.mark.parametrize(
    ("text", "version", "expected"),
    [
        ("max\n", 2, None),
        ("536870912\n", 2, 512 * MiB),
        (V1_UNLIMITED, 1, None),
        ("9223372036854710272\n", 1, None),  # unlimited with 64 KiB pages
        ("67108864\n", 1, 64 * MiB),
        ("", 1, None),
        ("max\n", 1, None),
        ("lots\n", 2, None),
    ],
)
def test_parse_limit(text: str, version: int, expected: int | None) -> None:
    assert parse_limit(text, version) == expected


@given(st.integers(min_value=0, max_value=2**62))
def test_parse_limit_reads_back_any_real_limit(limit: int) -> None:
    assert parse_limit(f"{limit}\n", 1) == limit
    assert parse_limit(f"{limit}\n", 2) == limit


def test_parse_bytes_reads_a_peak() -> None:
    assert parse_bytes("20234240\n") == 20234240
    assert parse_bytes("") is None
    assert parse_bytes("-5\n") is None


# Words for people.


@pytest.mark.parametrize(
    ("n", "expected"),
    [
        (0, "0 B"),
        (1023, "1023 B"),
        (1024, "1 KiB"),
        (900 * 1024, "900 KiB"),
        (512 * MiB, "512 MiB"),
        (511 * MiB + 300 * 1024, "511 MiB"),
        (3 * MiB // 2 * 1024, "1.5 GiB"),
        (1024 * MiB - 1, "1 GiB"),
        (10 * 1024 * MiB - 1, "10 GiB"),
        (2**63 - 1, "8 EiB"),
    ],
)
def test_format_bytes(n: int, expected: str) -> None:
    assert format_bytes(n) == expected


@given(st.integers(min_value=1024, max_value=2**63))
def test_format_bytes_is_within_five_percent_and_below_1024_of_its_unit(n: int) -> None:
    number, unit = format_bytes(n).split(" ")
    scale = 1024 ** (["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"].index(unit) + 1)
    assert float(number) < 1024
    assert abs(float(number) * scale - n) <= 0.05 * n


# Where the cgroup is, on crafted /proc/self/cgroup files and fake hierarchies.


def test_candidates_for_this_machines_hybrid_layout_put_the_named_cgroups_first() -> None:
    found = candidates(V1_PROC_SELF_CGROUP, "/sys/fs/cgroup")
    assert found == [
        MemoryCgroup(
            path="/sys/fs/cgroup/memory/process_api/08d2bc5bb9f1cfc701e4b17480c3ca09", version=1
        ),
        MemoryCgroup(path="/sys/fs/cgroup", version=2),  # named "/" and the root: tried once
        MemoryCgroup(path="/sys/fs/cgroup/memory", version=1),
    ]


def test_a_cgroup_v1_memory_line_wins_when_the_v2_root_has_no_memory_files(
    tmp_path: Path,
) -> None:
    expected = fake_v1(tmp_path, "memory/process_api/08d2bc5bb9f1cfc701e4b17480c3ca09")
    proc = write(tmp_path / "proc", V1_PROC_SELF_CGROUP)
    assert find_memory_cgroup(str(proc), str(tmp_path)) == MemoryCgroup(
        path=str(expected), version=1
    )


def test_a_comounted_cgroup_v1_memory_controller_is_found_under_memory(tmp_path: Path) -> None:
    expected = fake_v1(tmp_path, "memory/kubepods/pod1/abc")
    proc = write(tmp_path / "proc", "3:cpu,cpuacct:/kubepods\n2:cpuset,memory:/kubepods/pod1/abc\n")
    assert find_memory_cgroup(str(proc), str(tmp_path)) == MemoryCgroup(
        path=str(expected), version=1
    )


def test_a_comounted_cgroup_v1_memory_controller_is_found_under_its_joined_name(
    tmp_path: Path,
) -> None:
    expected = fake_v1(tmp_path, "cpuset,memory/jobs/nightly")
    proc = write(tmp_path / "proc", "2:cpuset,memory:/jobs/nightly\n")
    assert find_memory_cgroup(str(proc), str(tmp_path)) == MemoryCgroup(
        path=str(expected), version=1
    )


def test_a_cgroup_v2_path_is_found_under_the_root(tmp_path: Path) -> None:
    expected = fake_v2(tmp_path, "kubepods.slice/kubepods-pod1.slice/cri-containerd-abc.scope")
    proc = write(
        tmp_path / "proc", "0::/kubepods.slice/kubepods-pod1.slice/cri-containerd-abc.scope\n"
    )
    assert find_memory_cgroup(str(proc), str(tmp_path)) == MemoryCgroup(
        path=str(expected), version=2
    )


def test_inside_a_v2_container_the_mounted_root_is_the_cgroup(tmp_path: Path) -> None:
    fake_v2(tmp_path, ".")
    proc = write(tmp_path / "proc", "0::/kubepods/burstable/pod1/abc\n")
    assert find_memory_cgroup(str(proc), str(tmp_path)) == MemoryCgroup(
        path=str(tmp_path), version=2
    )


def test_inside_a_v1_container_the_mounted_memory_root_is_the_cgroup(tmp_path: Path) -> None:
    expected = fake_v1(tmp_path, "memory")
    proc = write(tmp_path / "proc", "5:memory:/docker/0123abcd\n1:name=systemd:/docker/0123abcd\n")
    assert find_memory_cgroup(str(proc), str(tmp_path)) == MemoryCgroup(
        path=str(expected), version=1
    )


def test_a_path_that_climbs_out_of_its_namespace_is_not_followed(tmp_path: Path) -> None:
    fake_v2(tmp_path / "root", ".")
    fake_v2(tmp_path, "outside")
    proc = write(tmp_path / "proc", "0::/../outside\n")
    assert find_memory_cgroup(str(proc), str(tmp_path / "root")) == MemoryCgroup(
        path=str(tmp_path / "root"), version=2
    )


@pytest.mark.parametrize(
    "content",
    [
        "",
        "garbage\n",
        "4:cpu:/x\n1:name=systemd:/x\n",  # no memory controller, no v2 line
        "0::/x\n4:memory:/x\n",  # named, but no files under the root
        "\udcff",  # not text
    ],
)
def test_nothing_readable_is_none(tmp_path: Path, content: str) -> None:
    proc = tmp_path / "proc"
    proc.write_bytes(content.encode(errors="surrogateescape"))
    assert find_memory_cgroup(str(proc), str(tmp_path / "root")) is None


def test_an_unreadable_proc_cgroup_or_counter_file_is_none(tmp_path: Path) -> None:
    assert find_memory_cgroup(str(tmp_path / "missing"), str(tmp_path)) is None
    assert find_memory_cgroup(str(tmp_path), str(tmp_path)) is None  # a directory
    (tmp_path / "memory.events").mkdir()
    proc = write(tmp_path / "proc", "0::/\n")
    assert find_memory_cgroup(str(proc), str(tmp_path)) is None
    assert find_memory_cgroup("/proc/self/cgroup\x00", str(tmp_path)) is None


# Reading the state of fake cgroups.


def test_read_state_of_a_v2_cgroup(tmp_path: Path) -> None:
    cgroup = MemoryCgroup(path=str(fake_v2(tmp_path, "c")), version=2)
    assert read_state(cgroup) == MemoryState(
        oom_kills=3, limit_bytes=512 * MiB, peak_bytes=535822336
    )


def test_read_state_of_a_v1_cgroup(tmp_path: Path) -> None:
    cgroup = MemoryCgroup(path=str(fake_v1(tmp_path, "c")), version=1)
    assert read_state(cgroup) == MemoryState(oom_kills=0, limit_bytes=64 * MiB, peak_bytes=20234240)


def test_read_state_gives_none_for_missing_and_unlimited_files(tmp_path: Path) -> None:
    write(tmp_path / "memory.events", V2_EVENTS)
    write(tmp_path / "memory.max", "max\n")  # no memory.peak before Linux 5.19
    state = read_state(MemoryCgroup(path=str(tmp_path), version=2))
    assert state == MemoryState(oom_kills=3, limit_bytes=None, peak_bytes=None)


def test_read_state_of_nothing_is_all_none(tmp_path: Path) -> None:
    assert read_state(None) == MemoryState()
    assert read_state(MemoryCgroup(path=str(tmp_path / "gone"), version=1)) == MemoryState()
    assert read_state(MemoryCgroup(path=str(tmp_path), version=3)) == MemoryState()


def test_oom_killed_when_the_counter_rose() -> None:
    assert oom_killed(MemoryState(oom_kills=2), MemoryState(oom_kills=3))
    assert not oom_killed(MemoryState(oom_kills=3), MemoryState(oom_kills=3))
    assert not oom_killed(MemoryState(), MemoryState(oom_kills=1))
    assert not oom_killed(MemoryState(oom_kills=0), MemoryState())


# The real thing: a real memory cgroup, a real OOM kill by the kernel.


def test_this_process_memory_cgroup_is_found_and_read() -> None:
    if memory_hierarchy() is None:
        pytest.skip("no memory cgroup controller mounted under /sys/fs/cgroup")
    cgroup = find_memory_cgroup()
    assert cgroup is not None
    state = read_state(cgroup)
    assert state.oom_kills is not None
    assert state.peak_bytes is not None


def test_a_process_over_its_limit_is_oom_killed_and_the_counter_says_so() -> None:
    with memory_cgroup(64 * MiB) as scratch:
        cgroup = MemoryCgroup(path=scratch.path, version=scratch.version)
        before = read_state(cgroup)
        child = subprocess.run(
            scratch.argv([sys.executable, "-c", ALLOCATE, "256"]),
            check=False,
            capture_output=True,
            timeout=60,
        )
        after = read_state(cgroup)
    assert child.returncode == -9, child
    assert b"survived" not in child.stdout
    assert before.oom_kills is not None
    assert after.oom_kills == before.oom_kills + 1
    assert oom_killed(before, after)
    assert after.limit_bytes == 64 * MiB
    assert after.peak_bytes is not None
    assert 0.9 * 64 * MiB <= after.peak_bytes <= 64 * MiB


def test_a_process_within_its_limit_leaves_the_counter_unchanged() -> None:
    with memory_cgroup(64 * MiB) as scratch:
        cgroup = MemoryCgroup(path=scratch.path, version=scratch.version)
        before = read_state(cgroup)
        child = subprocess.run(
            scratch.argv([sys.executable, "-c", ALLOCATE, "16"]),
            check=False,
            capture_output=True,
            timeout=60,
        )
        after = read_state(cgroup)
    assert child.returncode == 0, child
    assert child.stdout == b"survived\n"
    assert after.oom_kills == before.oom_kills == 0
    assert not oom_killed(before, after)
    assert after.peak_bytes is not None
    assert 16 * MiB <= after.peak_bytes < 64 * MiB


def test_the_cgroup_of_a_process_inside_it_is_found_through_its_proc_file() -> None:
    with memory_cgroup(64 * MiB) as scratch:
        argv = scratch.argv(["sh", "-c", "echo ready && exec cat"])
        with subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE) as child:
            assert child.stdout is not None
            assert child.stdin is not None
            assert child.stdout.readline() == b"ready\n"  # it has moved itself in
            found = find_memory_cgroup(proc_cgroup=f"/proc/{child.pid}/cgroup")
            assert child.pid in scratch.pids()
            child.stdin.close()
            assert child.wait(timeout=30) == 0
    assert found == MemoryCgroup(path=scratch.path, version=scratch.version)
    assert not os.path.exists(scratch.path)  # removed on leaving
