"""run.pipes: the wrapper's pipes and what /proc says of the command's process group."""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess

from lognotify.run import pipes


def test_a_pipe_is_close_on_exec_and_large() -> None:
    read_end, write_end = pipes.pipe()
    try:
        assert fcntl.fcntl(read_end, fcntl.F_GETFD) & fcntl.FD_CLOEXEC
        assert fcntl.fcntl(write_end, fcntl.F_GETFD) & fcntl.FD_CLOEXEC
        assert fcntl.fcntl(read_end, fcntl.F_GETPIPE_SZ) == pipes.PIPE_SIZE  # root: allowed
    finally:
        os.close(read_end)
        os.close(write_end)


def test_our_own_output_pipe_is_enlarged_and_anything_else_left_alone() -> None:
    read_end, write_end = os.pipe()
    try:
        assert fcntl.fcntl(write_end, fcntl.F_GETPIPE_SZ) < pipes.PIPE_SIZE
        pipes.enlarge_if_pipe(write_end)
        assert fcntl.fcntl(write_end, fcntl.F_GETPIPE_SZ) == pipes.PIPE_SIZE
    finally:
        os.close(read_end)
        os.close(write_end)
    with open(os.devnull, "wb") as null:
        pipes.enlarge_if_pipe(null.fileno())  # not a pipe: nothing to do, nothing raised


def test_empty_takes_all_that_is_in_a_non_blocking_pipe() -> None:
    read_end, write_end = os.pipe2(os.O_NONBLOCK)
    try:
        os.write(write_end, b"x" * 5000)
        pipes.empty(read_end)
        os.write(write_end, b"next")
        assert os.read(read_end, 100) == b"next"
    finally:
        os.close(read_end)
        os.close(write_end)


def test_a_group_with_a_running_member_runs_and_one_of_zombies_does_not() -> None:
    child = subprocess.Popen(["sleep", "30"], start_new_session=True)
    try:
        assert pipes.has_running_member(child.pid)
        os.kill(child.pid, signal.SIGKILL)
        os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)  # a zombie now, not reaped
        assert not pipes.has_running_member(child.pid)  # unreaped, yet not running
    finally:
        child.kill()
        child.wait()
