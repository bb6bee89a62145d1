"""Files that misbehave at scale under the running app, as a table (issue 19's adversarial pass).

Each row does something large to the project while the app runs (a scripted engine: no model), and
then what a person would do: a key must still type while it happens, the working set must end as the
disk is (nothing lost), and the work the app does must be bounded by design, not by the storm's size
(counted, never timed). A new case is one new row."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Awaitable, Callable

import pytest

from opencoder_local.context.working_set import MAX_FILES, WorkingSet
from opencoder_local.settings import ChatSettings
from opencoder_local.tui.app import make_app

from tui.helpers import notices, ready, wait_for
from tui.scripted import ScriptedEngine

pytestmark = pytest.mark.anyio

WRITES_PER_S = 200
STORM_S = 2.0
MANY = 50_000


@dataclass
class Project:
    root: Path
    rereads: list[int]  # one item per refresh of the working set: the paths it was asked to re-read


async def command(pilot, text: str) -> None:
    pilot.app.screen.prompt_input.text = text
    await pilot.press("enter")


async def _type_during(pilot, storm: threading.Thread) -> str:
    """Type while the storm blows; what the input holds at its end."""
    screen = pilot.app.screen
    screen.prompt_input.text = ""
    typed = ""
    while storm.is_alive():
        await pilot.press("k")
        typed += "k"
        await pilot.pause(0.05)
    await pilot.pause()
    assert screen.prompt_input.text == typed and typed  # every key reached the input while it blew
    return typed


def _rewrite_storm(path: Path) -> threading.Thread:
    def blow():
        end = time.monotonic() + STORM_S
        n = 0
        while time.monotonic() < end:
            n += 1
            path.write_text(f"VERSION = {n}\n" + "x = 1\n" * (n % 50))
            time.sleep(1 / WRITES_PER_S)
        path.write_text("VERSION = 'last'\n")

    return threading.Thread(target=blow, daemon=True)


async def _a_file_rewritten_200_times_a_second(pilot, project: Project) -> None:
    (project.root / "hot.py").write_text("VERSION = 0\n")
    await command(pilot, "/add hot.py")
    await wait_for(pilot, lambda: len(pilot.app.screen.files) == 1)
    project.rereads.clear()
    storm = _rewrite_storm(project.root / "hot.py")
    storm.start()
    await _type_during(pilot, storm)
    writes = int(WRITES_PER_S * STORM_S)
    # debounced: a refresh per quiet period (or per five debounce periods in a storm), not per write
    await wait_for(pilot, lambda: "VERSION = 'last'" in pilot.app.screen.session.working_set.entries()[0].text,
                   timeout=30)
    assert 0 < len(project.rereads) <= writes // 10, f"{len(project.rereads)} refreshes for {writes} writes"
    assert pilot.app.screen.files[0].state != "missing"


def _make_50000_files(root: Path) -> None:
    big = root / "big"
    big.mkdir()
    for n in range(MANY):
        (big / f"f{n:05}.txt").write_bytes(b"")


async def _a_folder_of_50000_files_added(pilot, project: Project) -> None:
    await command(pilot, "/add big")
    await pilot.press("k")  # the folder is listed in a worker: the input takes keys meanwhile
    assert pilot.app.screen.prompt_input.text == "k"
    await wait_for(pilot, lambda: "big" in notices(pilot.app), timeout=120)
    held = len(pilot.app.screen.session.working_set.entries())
    assert held <= MAX_FILES  # capped, and said so in one notice
    assert f"{MAX_FILES:,}" in notices(pilot.app) or held == 0


@dataclass(frozen=True)
class Row:
    run: Callable[[object, Project], Awaitable[None]]
    before: Callable[[Path], None] = lambda _root: None  # the project as it is when the app starts


ROWS = {
    "a file rewritten 200 times a second while attached": Row(_a_file_rewritten_200_times_a_second),
    "a folder of 50,000 files added": Row(_a_folder_of_50000_files_added, _make_50000_files),
}


@pytest.mark.parametrize("row", ROWS.values(), ids=ROWS.keys())
async def test_file_storms(row: Row, tmp_path, monkeypatch):
    project = Project(tmp_path / "project", [])
    project.root.mkdir()
    row.before(project.root)
    refresh = WorkingSet.refresh

    def counted(self, paths):
        paths = list(paths)
        project.rereads.append(len(paths))
        return refresh(self, paths)

    monkeypatch.setattr(WorkingSet, "refresh", counted)
    app = make_app(ChatSettings(model="demo", project=str(project.root)), lambda _s: ScriptedEngine("ok"))
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        await row.run(pilot, project)
        await pilot.press("ctrl+q")
