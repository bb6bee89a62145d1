"""The SQLite store on real files: migrations, messages, search, export, failures."""

from __future__ import annotations

import sqlite3

import pytest

from opencoder_local import locations
from opencoder_local.store import STOPPED, STREAMING, Store, StoreError
from opencoder_local.store.export import conversation_markdown
from opencoder_local.store.migrations import MIGRATIONS

from fixtures.damaged_store import corrupt_middle_pages, filled_store


def test_a_new_database_is_migrated_to_the_latest_schema_in_wal_mode():
    store = Store.open(locations.database_path())
    store.close()
    with sqlite3.connect(locations.database_path()) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_reopening_keeps_everything_and_runs_no_migration_twice():
    store = Store.open(locations.database_path())
    conversation = store.create_conversation("first", "demo")
    store.add_message(conversation.id, "user", "hello")
    store.close()
    again = Store.open(locations.database_path())
    assert [m.content for m in again.messages(conversation.id)] == ["hello"]


def test_a_database_from_a_newer_version_is_refused_with_one_line():
    path = locations.database_path()
    path.parent.mkdir(parents=True)
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    with pytest.raises(StoreError, match="newer opencoder-local"):
        Store.open(path)


def _aside(path, why: str) -> list:
    return sorted(path.parent.glob(f"{path.name}.{why}-*"))


@pytest.mark.parametrize("damage", ["pages", "not a database"])
def test_a_damaged_database_is_moved_aside_kept_and_a_new_one_started(damage):
    path = locations.database_path()
    filled_store(path)
    if damage == "pages":
        damaged = corrupt_middle_pages(path)
    else:
        damaged = b"this is not sqlite" * 1000
        path.write_bytes(damaged)
    notices = []
    store = Store.open(path, notices.append)
    [aside] = _aside(path, "corrupt")
    assert aside.read_bytes() == damaged
    assert len(notices) == 1 and str(aside) in notices[0] and "damaged" in notices[0]
    assert store.conversations() == []
    conversation = store.create_conversation("after")
    store.add_message(conversation.id, "user", "kept")
    store.close()
    assert [m.content for m in Store.open(path).messages(conversation.id)] == ["kept"]


def test_a_healthy_database_opens_without_a_notice_or_a_copy():
    path = locations.database_path()
    texts = filled_store(path)
    notices = []
    store = Store.open(path, notices.append)
    assert notices == [] and _aside(path, "corrupt") == []
    assert len(store.conversations()) == 30
    assert sum(len(store.messages(c.id)) for c in store.conversations()) == len(texts)


def _all_messages(path) -> list[str]:
    store = Store.open(path)
    try:
        return [m.content for c in reversed(store.conversations()) for m in store.messages(c.id)]
    finally:
        store.close()


def _delete_file(path):
    path.unlink()


def _delete_with_companions(path):
    for end in ("", "-wal", "-shm"):
        path.with_name(path.name + end).unlink(missing_ok=True)


def _replace_with_directory(path):
    path.unlink()
    path.mkdir()
    (path / "inside.txt").write_text("someone's file")


def _replace_with_file(path):
    path.unlink()
    path.write_text("someone's notes")


def _delete_folder(path):
    import shutil

    shutil.rmtree(path.parent)


@pytest.mark.parametrize("fault", [_delete_file, _delete_with_companions, _replace_with_directory,
                                   _replace_with_file, _delete_folder])
def test_a_database_deleted_or_replaced_while_open_is_written_again_with_everything(fault):
    path = locations.database_path()
    notices = []
    store = Store.open(path, notices.append)
    first = store.create_conversation("first")
    store.add_message(first.id, "user", "before")
    fault(path)
    store.add_message(first.id, "assistant", "after")  # the write that notices
    second = store.create_conversation("second")
    store.add_message(second.id, "user", "later")
    store.close()
    assert _all_messages(path) == ["before", "after", "later"]
    assert len(notices) == 1 and str(path) in notices[0] and "while the app ran" in notices[0]
    replaced = _aside(path, "replaced")
    if fault in (_replace_with_directory, _replace_with_file):
        assert str(replaced[0]) in notices[0]
        kept = replaced[0] / "inside.txt" if replaced[0].is_dir() else replaced[0]
        assert "someone's" in kept.read_text()
    else:
        assert replaced == []


def test_a_database_that_cannot_be_written_again_is_a_store_error_and_a_later_write_recovers():
    path = locations.database_path()
    store = Store.open(path)
    conversation = store.create_conversation("first")
    store.add_message(conversation.id, "user", "before")
    _delete_folder(path)
    path.parent.parent.mkdir(parents=True, exist_ok=True)
    path.parent.write_text("a file where the data folder was")
    with pytest.raises(StoreError, match="was deleted while the app ran and cannot be written again"):
        store.add_message(conversation.id, "assistant", "lost with a notice")
    path.parent.unlink()
    store.add_message(conversation.id, "assistant", "after")
    store.close()
    assert _all_messages(path) == ["before", "after"]


def test_messages_update_truncate_and_order():
    store = Store.open(":memory:")
    c = store.create_conversation("t")
    q = store.add_message(c.id, "user", "q")
    a = store.add_message(c.id, "assistant", "", STREAMING)
    store.update_message(a.id, "partial", STOPPED)
    assert [(m.role, m.content, m.status) for m in store.messages(c.id)] == [
        ("user", "q", "done"), ("assistant", "partial", STOPPED)]
    store.delete_messages_from(c.id, a.id)
    assert [m.id for m in store.messages(c.id)] == [q.id]
    b = store.add_message(c.id, "assistant", "again")
    assert b.id > a.id  # ids are never reused


def test_search_matches_titles_and_text_newest_first_and_rename_delete():
    store = Store.open(":memory:")
    rust = store.create_conversation("Sorting in Rust")
    py = store.create_conversation("Python lists")
    store.add_message(py.id, "assistant", "use sorted() with 100% success_rate")
    assert [c.title for c in store.conversations()] == ["Python lists", "Sorting in Rust"]
    assert [c.title for c in store.conversations("sort")] == ["Python lists", "Sorting in Rust"]
    assert [c.title for c in store.conversations("rust")] == ["Sorting in Rust"]
    assert [c.title for c in store.conversations("100%")] == ["Python lists"]
    assert store.conversations("0_s") == []  # LIKE wildcards are taken literally
    store.rename(rust.id, "Rust sorting")
    store.delete(py.id)
    assert [c.title for c in store.conversations()] == ["Rust sorting"]
    assert store.messages(py.id) == []


def test_export_to_markdown_marks_stopped_and_interrupted_answers():
    store = Store.open(":memory:")
    c = store.create_conversation("Sorting")
    store.add_message(c.id, "user", "How?")
    store.add_message(c.id, "assistant", "Like this", STOPPED)
    store.add_message(c.id, "assistant", "Cut", STREAMING)
    text = conversation_markdown(c, store.messages(c.id))
    assert text == "# Sorting\n\n## You\n\nHow?\n\n## Assistant (stopped)\n\nLike this\n\n## Assistant (interrupted)\n\nCut\n"


def test_text_sqlite_cannot_take_is_saved_with_a_replacement_and_the_store_stays_writable():
    store = Store.open(locations.database_path())
    c = store.create_conversation("bad \udcff title")
    saved = store.add_message(c.id, "user", "bad \udcff text")
    store.update_message(saved.id, "still \udcff bad", STOPPED)
    assert [c.title for c in store.conversations("\udcff")] == ["bad \ufffd title"]
    store.rename(c.id, "renamed \udcff")
    assert [m.content for m in store.messages(c.id)] == ["still \ufffd bad"]
    assert saved.content == "bad \ufffd text"  # what the caller keeps is what was stored
    assert [c.title for c in store.conversations()] == ["renamed \ufffd"]


def test_a_write_that_fails_outside_sqlite_is_rolled_back_and_the_next_write_works():
    store = Store.open(locations.database_path())
    c = store.create_conversation("t")
    with pytest.raises(OverflowError):
        store.update_message(2**70, "x", STOPPED)  # raised by sqlite3 inside the transaction
    store.add_message(c.id, "user", "after")
    store.close()
    assert [m.content for m in Store.open(locations.database_path()).messages(c.id)] == ["after"]
