"""Conversations and their messages in one SQLite file (WAL), safe to use from worker threads."""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

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


@dataclass(frozen=True)
class AppliedFile:
    path: str  # absolute
    before: bytes | None  # None: the edit created the file
    after: bytes


@dataclass(frozen=True)
class AppliedEdit:
    id: int
    conversation_id: int
    message_id: int | None  # the answer that proposed it
    created: float
    undone: float | None  # when /undo restored the files
    files: tuple[AppliedFile, ...]


Notice = Callable[[str], None]  # tells the user what the store did for them (may run in any thread)


class Store:
    """Every read and write of conversations; one connection guarded by a lock.

    A damaged file found on open, and a file deleted or replaced while the app runs, are dealt
    with here and told through `notice`; nothing the user wrote is ever deleted or silently lost."""

    def __init__(self, db: sqlite3.Connection, path: str, notice: Notice):
        self._db = db
        self._lock = threading.Lock()
        self._notice = notice
        self.path = path
        self._files = _file_ids(path)  # which files it opened: a rename or delete shows as a change

    @classmethod
    def open(cls, path: Path | str, notice: Notice = lambda _text: None) -> "Store":
        """Open (creating and migrating) the database; failures are one-line StoreErrors.

        A damaged database is moved aside (kept, never deleted) and a new one started."""
        target = str(path)
        try:
            if target != ":memory:":
                Path(target).parent.mkdir(parents=True, exist_ok=True)
            try:
                db = _connect(target)
            except _Damaged as damage:
                aside = _move_aside(Path(target), "corrupt")
                db = _connect(target)
                notice(f"The conversation database was damaged ({damage}). It was moved to {aside} "
                       "and a new one was started; the old file is kept for you to recover from.")
        except (OSError, sqlite3.Error, _Damaged) as exc:
            raise StoreError(
                f"cannot open the conversation database {target}: {exc} "
                "(check that the folder is writable and the file is not damaged)"
            ) from None
        return cls(db, target, notice)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._still_at_path()
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

    def _still_at_path(self) -> None:
        """Before a write: if the file was deleted or replaced, write everything again at the path.

        The open connection still reads the old file, so every conversation survives (in memory
        until the path can be written); whatever replaced the file is moved aside, not overwritten."""
        current = _file_id(self.path)
        if current == self._files[0]:
            return
        what = "deleted" if current is None else "replaced"
        try:
            copy = _connect(":memory:")
            self._db.backup(copy)
        except (sqlite3.Error, _Damaged) as exc:
            raise StoreError(f"the conversation database {self.path} was {what} and cannot be read: {exc}") from None
        self._db.close()
        self._db = copy
        try:
            db, aside = _write_again(copy, Path(self.path), self._files)
        except (OSError, sqlite3.Error, _Damaged) as exc:
            raise StoreError(f"the conversation database {self.path} was {what} while the app ran and cannot "
                             f"be written again ({exc}); your conversations are kept until it can") from None
        copy.close()
        self._db, self._files = db, _file_ids(self.path)
        kept = f"; what replaced it was moved to {aside}" if aside else ""
        self._notice(f"The conversation database {self.path} was {what} while the app ran. "
                     f"It was written again with every conversation{kept}.")

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

    # working sets

    def working_set(self, conversation_id: int) -> list[str]:
        """The specs of the files a conversation carries, in prompt order."""
        rows = self._read("SELECT spec FROM working_set_files WHERE conversation_id = ? ORDER BY position",
                          (conversation_id,))
        return [row[0] for row in rows]

    def save_working_set(self, conversation_id: int, specs: list[str]) -> None:
        with self._write() as db:
            db.execute("DELETE FROM working_set_files WHERE conversation_id = ?", (conversation_id,))
            db.executemany(
                "INSERT INTO working_set_files (conversation_id, position, spec) VALUES (?, ?, ?)",
                [(conversation_id, position, storable(spec)) for position, spec in enumerate(specs)],
            )


    # applied edits

    def record_edit(self, conversation_id: int, message_id: int | None, files: list[AppliedFile]) -> AppliedEdit:
        """Keep what an edit wrote and what each file held before, for /undo."""
        now = time.time()
        with self._write() as db:
            cur = db.execute("INSERT INTO applied_edits (conversation_id, message_id, created) VALUES (?, ?, ?)",
                             (conversation_id, message_id, now))
            db.executemany(
                "INSERT INTO applied_edit_files (edit_id, position, path, before, after) VALUES (?, ?, ?, ?, ?)",
                [(cur.lastrowid, position, storable(f.path), f.before, f.after) for position, f in enumerate(files)],
            )
        return AppliedEdit(cur.lastrowid, conversation_id, message_id, now, None, tuple(files))

    def applied_edits(self, conversation_id: int) -> list[AppliedEdit]:
        """A conversation's applied edits, oldest first, undone ones included."""
        edits = self._read("SELECT id, conversation_id, message_id, created, undone FROM applied_edits "
                           "WHERE conversation_id = ? ORDER BY id", (conversation_id,))
        files: dict[int, list[AppliedFile]] = {}
        for edit_id, path, before, after in self._read(
            "SELECT edit_id, path, before, after FROM applied_edit_files WHERE edit_id IN "
            "(SELECT id FROM applied_edits WHERE conversation_id = ?) ORDER BY edit_id, position", (conversation_id,)
        ):
            files.setdefault(edit_id, []).append(AppliedFile(path, before, after))
        return [AppliedEdit(*row, tuple(files.get(row[0], ()))) for row in edits]

    def mark_undone(self, edit_id: int) -> None:
        with self._write() as db:
            db.execute("UPDATE applied_edits SET undone = ? WHERE id = ?", (time.time(), edit_id))


_CONV = "id, title, model, created, updated"
_MSG = "id, conversation_id, role, content, status"


class _Damaged(Exception):
    """The database file is not a database, or SQLite finds it damaged."""


_DAMAGE_CODES = {11, 26}  # SQLITE_CORRUPT, SQLITE_NOTADB (primary result codes)


def _connect(target: str) -> sqlite3.Connection:
    """A migrated connection in WAL mode, after a quick integrity check (~1 ms per MB)."""
    db = sqlite3.connect(target, isolation_level=None, check_same_thread=False, timeout=5)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA foreign_keys=ON")
        problems = [row[0] for row in db.execute("PRAGMA quick_check(1)")]
        if problems != ["ok"]:
            found = [line for p in problems for line in p.splitlines() if not line.startswith("***")]
            raise _Damaged("; ".join(found) or "the integrity check failed")
        migrate(db)
        _check_tables(db)
    except sqlite3.DatabaseError as exc:
        db.close()
        if getattr(exc, "sqlite_errorcode", 0) & 0xFF in _DAMAGE_CODES:
            raise _Damaged(str(exc)) from None
        raise
    except BaseException:
        db.close()
        raise
    return db


def _check_tables(db: sqlite3.Connection) -> None:
    """The tables and columns every query uses are there (another program may have changed the file)."""
    try:
        db.execute(f"SELECT {_CONV} FROM conversations LIMIT 0")
        db.execute(f"SELECT {_MSG} FROM messages LIMIT 0")
        db.execute("SELECT conversation_id, position, spec FROM working_set_files LIMIT 0")
        db.execute("SELECT id, conversation_id, message_id, created, undone FROM applied_edits LIMIT 0")
        db.execute("SELECT edit_id, position, path, before, after FROM applied_edit_files LIMIT 0")
    except sqlite3.OperationalError as exc:
        raise _Damaged(str(exc)) from None


def _file_id(path: str) -> tuple[int, int] | None:
    """Which file is at `path` now (device, inode); None if none is."""
    if path == ":memory:":
        return (0, 0)
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


_FILES = ("", "-wal", "-shm")  # SQLite's companions are named after the database


def _file_ids(path: str) -> tuple:
    return tuple(_file_id(path + end) for end in _FILES)


def _write_again(source: sqlite3.Connection, path: Path, ours: tuple) -> tuple[sqlite3.Connection, Path | None]:
    """A copy of `source` written at `path`, and where anything in the way was moved.

    Our old -wal/-shm (their contents are in `source`) are removed first and anything else there is
    moved aside: a new database must never take up another file's journal."""
    for end, known in zip(_FILES[1:], ours[1:]):
        if known is not None and _file_id(f"{path}{end}") == known:
            os.unlink(f"{path}{end}")
    aside = _move_aside(path, "replaced") if any(os.path.lexists(f"{path}{end}") for end in _FILES) else None
    path.parent.mkdir(parents=True, exist_ok=True)
    target = sqlite3.connect(path)
    try:
        source.backup(target)
    finally:
        target.close()
    return _connect(str(path)), aside


def _move_aside(path: Path, why: str) -> Path:
    """Rename the database and its -wal/-shm companions to `<name>.<why>-<time>`; returns the new name."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    aside = path.with_name(f"{path.name}.{why}-{stamp}")
    number = 1
    while any(os.path.lexists(f"{aside}{end}") for end in _FILES):
        number += 1
        aside = path.with_name(f"{path.name}.{why}-{stamp}-{number}")
    for end in _FILES:
        if os.path.lexists(f"{path}{end}"):
            os.rename(f"{path}{end}", f"{aside}{end}")
    return aside
