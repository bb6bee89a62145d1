"""Conversations and their messages in one SQLite file (WAL), safe to use from worker threads."""

from __future__ import annotations

import sqlite3
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from opencoder_local.errors import UserError
from opencoder_local.store.migrations import migrate

# A message's life: "streaming" while the model writes it (saved about once a second),
# then "done", or "stopped" when the user pressed Esc. A "streaming" row found on open was
# cut short by a crash or a kill of the app; "cut" marks an answer whose model process died.
DONE, STREAMING, STOPPED, CUT_SHORT = "done", "streaming", "stopped", "cut"


class StoreError(UserError):
    """The conversation database cannot be opened or written."""


def storable(text: str) -> str:
    """`text` as SQLite can take it: a lone surrogate (from a paste, a file name) becomes U+FFFD."""
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


@dataclass(frozen=True)
class Conversation:
    id: int
    title: str
    model: str
    created: float
    updated: float


@dataclass(frozen=True)
class StoredMessage:
    id: int
    conversation_id: int
    role: str
    content: str
    status: str = DONE


class Store:
    """Every read and write of conversations; one connection guarded by a lock."""

    def __init__(self, db: sqlite3.Connection, path: str):
        self._db = db
        self._lock = threading.Lock()
        self.path = path

    @classmethod
    def open(cls, path: Path | str) -> "Store":
        """Open (creating and migrating) the database; failures are one-line StoreErrors."""
        target = str(path)
        try:
            if target != ":memory:":
                Path(target).parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(target, isolation_level=None, check_same_thread=False, timeout=5)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA foreign_keys=ON")
            migrate(db)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(
                f"cannot open the conversation database {target}: {exc} "
                "(check that the folder is writable and the file is not damaged)"
            ) from None
        return cls(db, target)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                yield self._db
                self._db.execute("COMMIT")
            except BaseException as exc:
                # Whatever went wrong (even an interrupt), the next write must not find this one open.
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error):
                    raise StoreError(f"cannot save to {self.path}: {exc}") from None
                raise

    def _read(self, sql: str, args: tuple = ()) -> list[tuple]:
        with self._lock:
            try:
                return self._db.execute(sql, args).fetchall()
            except sqlite3.Error as exc:
                raise StoreError(f"cannot read {self.path}: {exc}") from None

    # conversations

    def create_conversation(self, title: str, model: str = "") -> Conversation:
        title, model, now = storable(title), storable(model), time.time()
        with self._write() as db:
            cur = db.execute(
                "INSERT INTO conversations (title, model, created, updated) VALUES (?, ?, ?, ?)",
                (title, model, now, now),
            )
        return Conversation(cur.lastrowid, title, model, now, now)

    def conversation(self, conversation_id: int) -> Conversation | None:
        rows = self._read(f"SELECT {_CONV} FROM conversations WHERE id = ?", (conversation_id,))
        return Conversation(*rows[0]) if rows else None

    def conversations(self, search: str = "") -> list[Conversation]:
        """Newest first; a search matches titles and message text, case-insensitively."""
        if not search:
            rows = self._read(f"SELECT {_CONV} FROM conversations ORDER BY updated DESC, id DESC")
        else:
            pattern = "%" + storable(search).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            rows = self._read(
                f"SELECT {_CONV} FROM conversations WHERE title LIKE ?1 ESCAPE '\\' OR id IN "
                "(SELECT conversation_id FROM messages WHERE content LIKE ?1 ESCAPE '\\') "
                "ORDER BY updated DESC, id DESC",
                (pattern,),
            )
        return [Conversation(*row) for row in rows]

    def last_conversation(self) -> Conversation | None:
        found = self.conversations()
        return found[0] if found else None

    def rename(self, conversation_id: int, title: str) -> None:
        with self._write() as db:
            db.execute("UPDATE conversations SET title = ? WHERE id = ?", (storable(title), conversation_id))

    def delete(self, conversation_id: int) -> None:
        with self._write() as db:
            db.execute("DELETE FROM conversations WHERE id = ?", (conversation_id,))

    # messages

    def messages(self, conversation_id: int) -> list[StoredMessage]:
        rows = self._read(
            f"SELECT {_MSG} FROM messages WHERE conversation_id = ? ORDER BY id", (conversation_id,)
        )
        return [StoredMessage(*row) for row in rows]

    def add_message(self, conversation_id: int, role: str, content: str, status: str = DONE) -> StoredMessage:
        content, now = storable(content), time.time()
        with self._write() as db:
            cur = db.execute(
                "INSERT INTO messages (conversation_id, role, content, status, created) VALUES (?, ?, ?, ?, ?)",
                (conversation_id, role, content, status, now),
            )
            db.execute("UPDATE conversations SET updated = ? WHERE id = ?", (now, conversation_id))
        return StoredMessage(cur.lastrowid, conversation_id, role, content, status)

    def update_message(self, message_id: int, content: str, status: str) -> None:
        with self._write() as db:
            db.execute("UPDATE messages SET content = ?, status = ? WHERE id = ?",
                       (storable(content), status, message_id))

    def delete_messages_from(self, conversation_id: int, message_id: int) -> None:
        """Drop a message and everything after it (for regenerate and edit-and-resend)."""
        with self._write() as db:
            db.execute("DELETE FROM messages WHERE conversation_id = ? AND id >= ?", (conversation_id, message_id))


_CONV = "id, title, model, created, updated"
_MSG = "id, conversation_id, role, content, status"
