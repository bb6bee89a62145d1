"""SIGKILL the app while it streams: the database keeps the answer up to the last second."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

from opencoder_local import locations
from tui.streaming_child import ANSWER

SAVE_INTERVAL_S = 1.0
SLACK_S = 0.25  # scheduling on a loaded 2-core machine


def test_a_kill_mid_stream_loses_at_most_the_last_second(opencoder_home):
    tests_dir = Path(__file__).resolve().parents[1]
    child = subprocess.Popen(
        [sys.executable, "-m", "tui.streaming_child"],
        cwd=tests_dir, env={**os.environ, "OPENCODER_HOME": str(opencoder_home)},
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    progress: list[tuple[float, int]] = []

    def read() -> None:
        for line in child.stdout:
            stamp, chars = line.split()
            progress.append((float(stamp), int(chars)))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    deadline = time.monotonic() + 60
    while (not progress or progress[-1][0] - progress[0][0] < 3.5) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert progress, "the child never streamed"
    killed_at = time.time()
    child.send_signal(signal.SIGKILL)
    child.wait(10)
    reader.join(5)

    with sqlite3.connect(locations.database_path()) as db:
        rows = db.execute("SELECT role, status, content FROM messages ORDER BY id").fetchall()
    assert [(role, status) for role, status, _ in rows] == [("user", "done"), ("assistant", "streaming")]
    saved = rows[1][2]
    assert ANSWER.startswith(saved) and saved
    had_a_second_ago = max(c for t, c in progress if t <= killed_at - SAVE_INTERVAL_S - SLACK_S)
    assert len(saved) >= had_a_second_ago
