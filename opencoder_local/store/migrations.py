"""Schema changes as ordered functions; PRAGMA user_version records how many have run.

The connection is in autocommit mode (isolation_level=None), so each step runs in its own
explicit transaction: a failed migration leaves the database at the previous version.
"""

from __future__ import annotations

import sqlite3
from typing import Callable


def _initial(db: sqlite3.Connection) -> None:
    for statement in (
        """CREATE TABLE conversations (
            id INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused: views and exports refer to ids
            title TEXT NOT NULL,
            model TEXT NOT NULL DEFAULT '',
            created REAL NOT NULL,
            updated REAL NOT NULL
        )""",
        """CREATE TABLE messages (
            id INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused: views and exports refer to ids
            conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
            role TEXT NOT NULL,
            content TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'done',
            created REAL NOT NULL
        )""",
        "CREATE INDEX messages_by_conversation ON messages(conversation_id, id)",
        "CREATE INDEX conversations_by_update ON conversations(updated)",
    ):
        db.execute(statement)


def _working_sets(db: sqlite3.Connection) -> None:
    """Each conversation's working set: the files (with line ranges) it carries, in prompt order."""
    db.execute(
        """CREATE TABLE working_set_files (
            conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
            position INTEGER NOT NULL,
            spec TEXT NOT NULL,  -- a path relative to the project folder (or absolute), with :START-END for a range
            PRIMARY KEY (conversation_id, position)
        )"""
    )


def _applied_edits(db: sqlite3.Connection) -> None:
    """Edits applied to the user's files, each with every file's bytes before and after: /undo
    restores them exactly, after a restart too."""
    for statement in (
        """CREATE TABLE applied_edits (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
            message_id INTEGER,  -- the answer that proposed it
            created REAL NOT NULL,
            undone REAL  -- when /undo restored the files; NULL while the edit stands
        )""",
        """CREATE TABLE applied_edit_files (
            edit_id INTEGER NOT NULL REFERENCES applied_edits(id) ON DELETE CASCADE,
            position INTEGER NOT NULL,
            path TEXT NOT NULL,  -- absolute
            before BLOB,  -- NULL: the edit created the file
            after BLOB NOT NULL,
            PRIMARY KEY (edit_id, position)
        )""",
        "CREATE INDEX applied_edits_by_conversation ON applied_edits(conversation_id, id)",
    ):
        db.execute(statement)


MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [_initial, _working_sets, _applied_edits]


def migrate(db: sqlite3.Connection) -> int:
    """Run the migrations this database has not seen yet, each in its own transaction."""
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version > len(MIGRATIONS):
        raise sqlite3.DatabaseError(
            f"the database is from a newer opencoder-local (schema {version}, this one knows {len(MIGRATIONS)})"
        )
    for number, step in enumerate(MIGRATIONS[version:], start=version + 1):
        db.execute("BEGIN IMMEDIATE")
        try:
            step(db)
            db.execute(f"PRAGMA user_version = {number}")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
    return len(MIGRATIONS)
