"""The SQLite store on real files: migrations, messages, search, export, failures."""

from __future__ import annotations

import sqlite3

import pytest

from opencoder_local import locations
from opencoder_local.store import STOPPED, STREAMING, Store, StoreError
from opencoder_local.store.export import conversation_markdown
from opencoder_local.store.migrations import MIGRATIONS


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


def test_a_file_that_is_not_a_database_is_a_store_error():
    path = locations.database_path()
    path.parent.mkdir(parents=True)
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="cannot open the conversation database"):
        Store.open(path)


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
