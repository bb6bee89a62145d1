"""Quitting never waits for a blocked worker, and special or endless files are refused before a
blocking read (issue 19, class E), one row a case."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from opencoder_local.context import file_text
from opencoder_local.context.file_text import Refused, read_text

HANG = 20  # seconds: a hang detector, not a timing assert


def _in_time(call, seconds: float = HANG):
    """call() on a daemon thread; its outcome, or a failure if it is still blocked after `seconds`."""
    outcome: dict = {}

    def run():
        try:
            outcome["value"] = call()
        except BaseException as exc:  # noqa: BLE001
            outcome["error"] = exc
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), "blocked"
    return outcome


def test_a_kernel_file_is_refused_before_it_is_read():
    # /proc files say size 0 and some block forever on read (/proc/kmsg): never opened.
    outcome = _in_time(lambda: read_text(Path("/proc/self/status"), None, 1000))
    assert isinstance(outcome.get("error"), Refused) and "kernel file" in str(outcome["error"])


def test_a_fifo_swapped_in_after_the_check_does_not_block(tmp_path, monkeypatch):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    (tmp_path / "empty").write_bytes(b"")
    # The race: the check saw a regular file, then a FIFO took its place before the open.
    monkeypatch.setattr(file_text, "check_regular", lambda path: os.stat(tmp_path / "empty"))
    outcome = _in_time(lambda: read_text(fifo, None, 1000))
    assert isinstance(outcome.get("error"), Refused) and "not a regular file" in str(outcome["error"])


def test_a_size_zero_file_that_yields_more_than_the_cap_is_too_large(tmp_path, monkeypatch):
    big = tmp_path / "endless"
    big.write_bytes(b"x" * 5000)
    real_stat = os.stat
    monkeypatch.setattr(file_text.os, "stat", lambda p, *a, **k: os.stat_result(
        (*real_stat(p)[:6], 0, *real_stat(p)[7:])))  # st_size 0, as /proc reports
    outcome = _in_time(lambda: read_text(big, None, 1000))
    assert isinstance(outcome.get("error"), file_text.TooLarge)


@pytest.mark.parametrize("special", ["fifo", "kernel"])
def test_show_prompt_with_a_special_file_answers_in_one_line(tmp_path, special):
    if special == "fifo":
        path = tmp_path / "pipe"
        os.mkfifo(path)
    else:
        path = Path("/proc/self/status")
    done = subprocess.run([sys.executable, "-m", "opencoder_local", "chat", "--model", "demo", "-p", "hi",
                           "--show-prompt", "-f", str(path)],
                          capture_output=True, text=True, timeout=HANG, cwd=tmp_path)
    assert "Traceback" not in done.stderr
    assert str(path.name) in done.stderr + done.stdout


QUIT_WHILE_BLOCKED = textwrap.dedent("""
    import threading, sys
    from opencoder_local.settings import ChatSettings
    from opencoder_local.tui import run_app
    from opencoder_local.tui.app import make_app

    def blocked_forever(settings):  # a load that never returns: a server that accepts and never answers
        threading.Event().wait()

    async def quit_soon(pilot):
        await pilot.pause(0.5)
        await pilot.press("ctrl+q")

    app = make_app(ChatSettings(model="demo"), blocked_forever)
    code = run_app(app, headless=True, auto_pilot=quit_soon)
    print("returned", code, flush=True)
""")


def test_quit_while_a_worker_is_blocked_forever_ends_the_process():
    done = subprocess.run([sys.executable, "-c", QUIT_WHILE_BLOCKED], capture_output=True, text=True,
                          timeout=HANG)
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == 0
