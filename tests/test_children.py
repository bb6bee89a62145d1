"""The one supervisor for child processes: its own session, no stdin, a bounded stderr tail, how it ended."""

from __future__ import annotations

import os
import signal
import sys
import textwrap

import pytest

from opencoder_local.children import LINE_WIDTH, TAIL_LINES, Child
from opencoder_local.errors import UserError


def python(code: str) -> list[str]:
    return [sys.executable, "-c", textwrap.dedent(code)]


def test_a_flood_of_one_endless_line_never_blocks_the_child_and_keeps_a_bounded_tail():
    child = Child(python("""
        import sys
        out = sys.stderr.buffer
        for _ in range(800):  # 50 MB without a line end: far more than a pipe holds
            out.write(b"x" * 65536)
        out.write(b"\\n")
        for i in range(10_000):
            out.write(b"line %d\\n" % i)
        out.write(b"Fatal: the last words\\n\\n")
        sys.exit(3)
    """), "the flood")
    assert child.wait(timeout=60) == 3
    assert child.how_it_ended() == "exited with status 3"
    assert child.last_words() == "Fatal: the last words"
    lines = list(child.tail.lines)
    assert len(lines) == TAIL_LINES and lines[-2] == "line 9999"
    assert all(len(line.encode()) <= LINE_WIDTH for line in lines)


def test_the_endless_line_is_kept_cut_to_the_width():
    child = Child(python("""
        import sys
        sys.stderr.buffer.write(b"Error: " + b"y" * 1_000_000)
    """), "the long line")
    assert child.wait(timeout=60) == 0
    assert child.last_words() == "Error: " + "y" * (LINE_WIDTH - 7)


def test_carriage_returns_end_lines_as_on_a_terminal():
    child = Child(python("""
        import sys
        sys.stderr.write("10%\\r50%\\r100%\\r\\nopencoder: error: disk full\\r\\n")
    """), "the progress bar")
    child.wait(timeout=60)
    assert list(child.tail.lines) == ["10%", "50%", "100%", "opencoder: error: disk full"]


def test_a_child_runs_in_its_own_session_with_nothing_on_stdin():
    child = Child(python("""
        import os, sys
        print(os.getsid(0) == os.getpid(), repr(sys.stdin.read()), file=sys.stderr)
    """), "the quiet one")
    child.wait(timeout=60)
    assert child.last_words() == "True ''"


def test_a_killed_child_is_named_by_its_signal():
    child = Child(python("import time; time.sleep(60)"), "the sleeper")
    child.kill()
    assert child.wait() == -signal.SIGKILL
    assert child.how_it_ended() == "was killed by SIGKILL"
    child.kill()  # gone already: no error


def test_a_child_that_outlives_its_wait_is_killed():
    child = Child(python("import time; time.sleep(60)"), "the stubborn one")
    assert child.wait(timeout=0.5) == -signal.SIGKILL
    with pytest.raises(ProcessLookupError):
        os.kill(child.pid, 0)


def test_a_child_that_cannot_start_is_one_line():
    with pytest.raises(UserError, match="^cannot start the missing one: No such file or directory$"):
        Child(["/nonexistent/program"], "the missing one")
