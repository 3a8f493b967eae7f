"""hand_over(): what a command leaves running in the background keeps writing where it wrote,
through a forked forwarder, until it is done; as PID 1 its pipes are simply closed.

End to end (a real leftover after lognotify has exited): test_cli_operators.py.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from lognotify.run.leftovers import hand_over

pytestmark = pytest.mark.timeout(30)


def children() -> set[int]:
    """This process's children, as the kernel lists them."""
    found: set[int] = set()
    for task in Path("/proc/self/task").iterdir():
        found |= {int(pid) for pid in (task / "children").read_text().split()}
    return found


def read_all(fd: int) -> bytes:
    data = b""
    while chunk := os.read(fd, 65536):
        data += chunk
    os.close(fd)
    return data


def test_a_leftovers_output_is_passed_on_until_it_closes_its_end() -> None:
    source_r, source_w = os.pipe()
    out_r, out_w = os.pipe()
    before = children()
    hand_over({source_r: out_w}, forward=True)
    with pytest.raises(OSError, match="Bad file descriptor"):
        os.fstat(source_r)  # our read end was closed: the pipe is the forwarder's now
    (forwarder,) = children() - before
    os.close(out_w)  # the forwarder holds its own copy
    os.write(source_w, b"written after the command ended\n")
    os.write(source_w, b"and more\n")
    os.close(source_w)  # the leftover is done
    assert read_all(out_r) == b"written after the command ended\nand more\n"
    _, status = os.waitpid(forwarder, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_output_nobody_passes_on_is_read_and_dropped_so_the_writer_is_not_stuck() -> None:
    source_r, source_w = os.pipe()
    before = children()
    hand_over({source_r: None}, forward=True)
    (forwarder,) = children() - before
    os.write(source_w, b"x" * (1 << 20))  # more than a pipe holds: someone must read it
    os.close(source_w)
    _, status = os.waitpid(forwarder, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_when_our_reader_is_gone_the_leftover_meets_a_closed_pipe() -> None:
    source_r, source_w = os.pipe()
    out_r, out_w = os.pipe()
    os.close(out_r)  # nobody reads our output any more
    before = children()
    hand_over({source_r: out_w}, forward=True)
    (forwarder,) = children() - before
    os.close(out_w)
    os.write(source_w, b"nobody will read this\n")
    os.waitpid(forwarder, 0)  # it gave up on this pipe and ended
    with pytest.raises(BrokenPipeError):
        os.write(source_w, b"more\n")
    os.close(source_w)


def test_as_pid_1_the_pipes_are_closed_and_a_writer_gets_a_broken_pipe() -> None:
    source_r, source_w = os.pipe()
    before = children()
    hand_over({source_r: 1}, forward=False)
    assert children() == before  # nothing forked
    with pytest.raises(OSError) as caught:
        os.write(source_w, b"late\n")
    assert caught.value.errno == errno.EPIPE
    os.close(source_w)
