"""stdstreams: sys's streams and C's stdio flushed before descriptors 1 and 2 change."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = pytest.mark.timeout(30)  # without the flush, nothing would arrive

CHILD = """
import ctypes, sys
from lognotify import stdstreams
print("from python", end="")          # block-buffered: stdout is a pipe
ctypes.CDLL(None).puts(b" from C")    # C's stdio buffers too
stdstreams.flush()
sys.stdin.read()                      # still running: what was flushed is out before the end
"""


def test_what_python_and_c_wrote_is_out_before_the_process_ends() -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        assert child.stdout is not None
        want = b"from python from C\n"
        got = b""
        while len(got) < len(want):
            got += child.stdout.read1(100)  # returns as soon as something arrived
        assert got == want
        assert child.poll() is None  # it had not ended: the flush put it there
    finally:
        child.kill()
        child.wait()
