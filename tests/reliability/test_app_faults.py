"""Faults a person's machine throws at the running app, as a table.

Every row: a notice says what happened, the app is alive (a key still types), and nothing is
lost (a new app on the same OPENCODER_HOME continues the conversation with every message) - or,
where the database cannot be used at all, the user's file is left exactly as it was. A new kind of
fault is one new row."""

from __future__ import annotations

import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Awaitable, Callable

import pytest

from opencoder_local import locations
from opencoder_local.settings import ChatSettings
from opencoder_local.store import Store, StoreError
from opencoder_local.store.migrations import MIGRATIONS
from opencoder_local.tui.app import make_app

from fixtures.damaged_store import corrupt_middle_pages, filled_store
from tui.helpers import ask, notices, ready, wait_for
from tui.scripted import ScriptedEngine

pytestmark = pytest.mark.anyio


def _healthy(path: Path) -> None:
    pass


def _damaged_pages(path: Path) -> None:
    filled_store(path)
    corrupt_middle_pages(path)


def _not_a_database(path: Path) -> None:
    path.parent.mkdir(parents=True)
    path.write_bytes(b"PK\x03\x04 a zip file saved under the wrong name" * 200)


def _without_its_tables(path: Path) -> None:
    path.parent.mkdir(parents=True)
    with sqlite3.connect(path) as db:  # a real SQLite file another program rewrote
        db.execute("CREATE TABLE notes (body TEXT)")
        db.execute("INSERT INTO notes VALUES ('keep me')")
        db.execute(f"PRAGMA user_version = {len(MIGRATIONS)}")


def _a_directory(path: Path) -> None:
    (path / "photos").mkdir(parents=True)
    (path / "photos" / "cat.jpg").write_bytes(b"\xff\xd8\xff a cat")


def _from_a_newer_version(path: Path) -> None:
    filled_store(path, conversations=2)
    db = sqlite3.connect(path)
    try:  # closed here, not whenever the collector gets to it: its close checkpoints the WAL into the file
        db.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
        db.commit()
    finally:
        db.close()


async def _nothing(pilot) -> None:
    pass


async def _delete_database(pilot) -> None:
    locations.database_path().unlink()


async def _delete_database_and_journal(pilot) -> None:
    for path in locations.data_dir().glob("conversations.sqlite3*"):
        path.unlink()


async def _delete_data_folder(pilot) -> None:
    shutil.rmtree(locations.data_dir())


async def _replace_database_with_directory(pilot) -> None:
    locations.database_path().unlink()
    locations.database_path().mkdir()


async def _replace_database_with_file(pilot) -> None:
    locations.database_path().unlink()
    locations.database_path().write_text("notes a person saved here")


async def _add_binary_file(pilot) -> None:
    blob = locations.data_dir().parent / "image.png"
    blob.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    pilot.app.screen.prompt_input.text = f"/add {blob}"
    await pilot.press("enter")
    await wait_for(pilot, lambda: "binary file" in notices(pilot.app))


@dataclass(frozen=True)
class Fault:
    name: str
    notice: tuple[str, ...]  # words the notice must hold
    at_start: Callable[[Path], None] = _healthy  # done to the database path before the app starts
    mid_session: Callable[..., Awaitable[None]] = _nothing  # done between the first and second question
    saved: bool = True  # False: the database cannot be used; the user's file must stay untouched


FAULTS = [
    Fault("damaged pages at start", ("damaged", "corrupt-", "new one"), at_start=_damaged_pages),
    Fault("not a database at start", ("damaged", "corrupt-"), at_start=_not_a_database),
    Fault("a database without its tables at start", ("damaged", "no such table", "corrupt-"),
          at_start=_without_its_tables),
    Fault("a directory at the database's path at start", ("cannot open", "not be saved"),
          at_start=_a_directory, saved=False),
    Fault("a database from a newer version at start", ("newer opencoder-local", "not be saved"),
          at_start=_from_a_newer_version, saved=False),
    Fault("database deleted mid-session", ("was deleted", "written again"), mid_session=_delete_database),
    Fault("database and its journal deleted mid-session", ("was deleted", "written again"),
          mid_session=_delete_database_and_journal),
    Fault("data folder deleted mid-session", ("was deleted", "written again"), mid_session=_delete_data_folder),
    Fault("database replaced by a directory mid-session", ("was replaced", "replaced-"),
          mid_session=_replace_database_with_directory),
    Fault("database replaced by another file mid-session", ("was replaced", "replaced-"),
          mid_session=_replace_database_with_file),
    Fault("a binary file added", ("binary file",), mid_session=_add_binary_file),
]


def _snapshot(path: Path) -> dict[str, bytes]:
    """Every file at or under `path` with its bytes (a directory is walked)."""
    if path.is_dir():
        return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}
    return {"": path.read_bytes()}


@pytest.mark.parametrize("fault", FAULTS, ids=[f.name for f in FAULTS])
async def test_a_fault_is_a_notice_the_app_lives_and_nothing_is_lost(fault: Fault):
    path = locations.database_path()
    fault.at_start(path)
    before = None if fault.saved else _snapshot(path)
    app = make_app(ChatSettings(model="demo"), lambda _s: ScriptedEngine("an answer"))
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        await ask(pilot, "first question")
        await fault.mid_session(pilot)
        await ask(pilot, "second question")
        await wait_for(pilot, lambda: all(word in notices(app) for word in fault.notice))
        await pilot.press("k")
        assert app.is_running and app.screen.prompt_input.text == "k"
        shown = [(m.role, m.content) for m in app.screen.session.messages]
    assert shown == [("user", "first question"), ("assistant", "an answer"),
                     ("user", "second question"), ("assistant", "an answer")]
    if not fault.saved:
        assert _snapshot(path) == before
        return
    again = make_app(ChatSettings(model="demo", continue_last=True), lambda _s: ScriptedEngine())
    async with again.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        assert [(m.role, m.content) for m in again.screen.session.messages] == shown


async def test_conversations_that_cannot_be_read_at_start_up_are_a_notice_and_the_app_lives(monkeypatch):
    """A read failing while the chat screen mounts (an I/O error, say) must not leave a screen that never finishes."""

    def unreadable(*_args):
        raise StoreError("cannot read conversations.sqlite3: disk I/O error")

    monkeypatch.setattr(Store, "conversations", unreadable)
    app = make_app(ChatSettings(model="demo", continue_last=True), lambda _s: ScriptedEngine("an answer"))
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        assert "disk I/O error" in notices(app)
        await ask(pilot, "still working?")
        assert app.screen.session.messages[-1].content == "an answer"
