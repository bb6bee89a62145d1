"""The working set's watcher on real files and real watchdog events: every kind of save, deletes,
folders that go and come back, and a checkout of hundreds of files at once."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from pathlib import Path

import pytest

from opencoder_local.context.watcher import WorkingSetWatcher
from opencoder_local.context.working_set import WorkingSet

TIMEOUT = 10.0


class Changes:
    """Collects callbacks; `wait_for` blocks until the paths wanted have all been reported."""

    def __init__(self) -> None:
        self.calls: list[set[Path]] = []
        self.threads: set[str] = set()
        self._arrived = threading.Condition()

    def __call__(self, paths: set[Path]) -> None:
        with self._arrived:
            self.calls.append(paths)
            self.threads.add(threading.current_thread().name)
            self._arrived.notify_all()

    def reported(self) -> set[Path]:
        return set().union(*self.calls) if self.calls else set()

    def wait_for(self, *paths: Path) -> None:
        with self._arrived:
            assert self._arrived.wait_for(lambda: set(paths) <= self.reported(), TIMEOUT), self.calls

    def clear(self) -> None:
        with self._arrived:
            self.calls.clear()


@pytest.fixture
def watched(tmp_path):
    (tmp_path / "src").mkdir()
    target = tmp_path / "src" / "app.py"
    target.write_text("v1\n")
    changes = Changes()
    watcher = WorkingSetWatcher(changes)
    watcher.watch({target})
    yield target, changes, watcher
    watcher.stop()


def test_a_plain_write_is_reported_on_the_watchers_thread(watched):
    target, changes, _watcher = watched
    target.write_text("v2\n")
    changes.wait_for(target)
    assert changes.threads == {"working-set-watcher"}


def test_an_editor_save_by_rename_over_is_reported(watched):
    target, changes, _watcher = watched
    temp = target.with_name(".app.py.swp")
    temp.write_text("v2\n")
    os.replace(temp, target)
    changes.wait_for(target)
    assert temp not in changes.reported()  # only the files of the working set are reported


def test_a_save_that_moves_the_original_aside_first_is_reported(watched):
    target, changes, _watcher = watched
    os.rename(target, target.with_name("app.py~"))
    target.write_text("v2\n")
    changes.wait_for(target)


def test_delete_and_recreate_are_reported(watched):
    target, changes, _watcher = watched
    target.unlink()
    changes.wait_for(target)
    changes.clear()
    target.write_text("back\n")
    changes.wait_for(target)


def test_a_deleted_folder_is_watched_again_when_it_comes_back(watched):
    target, changes, _watcher = watched
    shutil.rmtree(target.parent)
    changes.wait_for(target)
    changes.clear()
    target.parent.mkdir()
    target.write_text("restored\n")
    changes.wait_for(target)
    changes.clear()
    target.write_text("edited after\n")
    changes.wait_for(target)


def test_two_hundred_files_changing_at_once_come_as_one_set(tmp_path):
    files = [tmp_path / f"m{i:03}.py" for i in range(200)]
    for file in files:
        file.write_text("old\n")
    changes = Changes()
    watcher = WorkingSetWatcher(changes)
    try:
        watcher.watch(set(files))
        for file in files:
            file.write_text("new\n")
        changes.wait_for(*files)
        assert len(changes.calls) <= 3  # debounced: not one callback per file
    finally:
        watcher.stop()


def test_retargeting_stops_reporting_dropped_files(watched, tmp_path):
    target, changes, watcher = watched
    other = tmp_path / "other.py"
    other.write_text("x\n")
    watcher.watch({other})
    target.write_text("not watched any more\n")
    other.write_text("y\n")
    changes.wait_for(other)
    assert target not in changes.reported()


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_a_git_checkout_refreshes_the_working_set(tmp_path):
    def git(*args):
        subprocess.run(["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t", *args],
                       check=True, capture_output=True)

    files = [tmp_path / "pkg" / f"mod{i}.py" for i in range(50)]
    files[0].parent.mkdir()
    for file in files:
        file.write_text("branch main\n")
    git("init", "-q", "-b", "main")
    git("add", ".")
    git("commit", "-qm", "main")
    git("checkout", "-qb", "topic")
    for file in files:
        file.write_text("branch topic\n")
    git("commit", "-qam", "topic")
    git("checkout", "-q", "main")
    ws = WorkingSet(tmp_path)
    ws.add(["pkg"])
    refreshed: list = []
    done = threading.Event()

    def on_change(paths):
        refreshed.extend(ws.refresh(paths))
        if len({entry.path for entry in refreshed}) == len(files):
            done.set()

    watcher = WorkingSetWatcher(on_change)
    try:
        watcher.watch(ws.watched_paths())
        git("checkout", "-q", "topic")
        assert done.wait(TIMEOUT)
        assert {entry.text for entry in ws.entries()} == {"branch topic\n"}
    finally:
        watcher.stop()
