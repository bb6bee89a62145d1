"""The prefix cache on disk: a model's KV state for a run of token ids, one file per entry.

A file is `<model key>-<ids key>.kv`: the model key hashes the model file's identity (its path, size
and modification time, the llama.cpp version and the KV layout), the ids key hashes the ids. Inside,
our own header (never pickle) and the raw state bytes llama.cpp gave:

    magic, identity length, id count, payload length, payload SHA-256   (_HEAD)
    identity (UTF-8 JSON), ids (little-endian int32), SHA-256 of everything above
    payload

Both checksums are verified before a byte reaches llama.cpp: a damaged, truncated or mismatched
file is removed with a one-line notice and the prompt is evaluated as if it were not there. Writes
are atomic (files.atomic_path: temp file, fsync, rename); a save past its deadline is dropped and
its temp file removed. Recency is the file's modification time, touched on every use; past the cap
the least recently used files go first. Nothing here loads llama.cpp (engine/prefix_cache.py does).
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from opencoder_local.files import atomic_path

MAGIC = b"OCKVSEQ1"
SUFFIX = ".kv"
_HEAD = struct.Struct("<8sIIQ32s")
_SUM = 32  # SHA-256 bytes
_CHUNK = 4 << 20  # bytes written between deadline checks
_ABANDONED_S = 60.0  # a temp file untouched this long belonged to a process that was killed mid-save
GB = 1 << 30


class _Late(Exception):
    """A save ran past its deadline: its temp file is removed, nothing is left."""


@dataclass(frozen=True)
class Entry:
    path: Path
    ids: tuple[int, ...]
    payload_at: int
    payload_size: int
    payload_sum: bytes


@dataclass(frozen=True)
class SaveReport:
    tokens: int
    bytes: int
    seconds: float


def model_identity(model: Path, **layout: object) -> str:
    """What a state depends on besides the ids: the model file as it is now, and `layout` (llama.cpp's
    version, the KV cache's shape). A replaced model file has a new key: its old states never match."""
    stat = model.stat()
    return json.dumps({"model": str(model.resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns,
                       **layout}, sort_keys=True)


def ids_key(ids: Sequence[int]) -> str:
    return hashlib.sha256(_pack_ids(ids)).hexdigest()[:20]


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def _pack_ids(ids: Sequence[int]) -> bytes:
    return struct.pack(f"<{len(ids)}i", *ids)


class KvStore:
    """The entries of one model identity in `folder`, within `cap_bytes` for the whole folder.

    Not thread-safe: the engine calls it under its lock. Other processes may add and remove files
    at any time (renames are atomic; a file removed while read stays readable)."""

    def __init__(self, folder: Path, cap_bytes: int, identity: str):
        self.folder = folder
        self.cap_bytes = cap_bytes
        self.identity = identity
        self.prefix = hashlib.sha256(identity.encode()).hexdigest()[:16] + "-"
        self._known: dict[str, tuple[tuple[int, int], Entry]] = {}  # name -> ((inode, size), entry)
        self.notices: list[str] = []  # one line each, for the person; the engine hands them on
        self._sweep()

    # finding

    def entries(self) -> list[Entry]:
        """This model's readable entries; a damaged or mismatched one is removed with a notice."""
        try:
            listed = [e for e in os.scandir(self.folder) if e.name.startswith(self.prefix) and e.name.endswith(SUFFIX)]
        except OSError:
            return []
        found, names = [], set()
        for item in listed:
            names.add(item.name)
            try:
                stat = item.stat()
            except OSError:
                continue
            mark = (stat.st_ino, stat.st_size)
            known = self._known.get(item.name)
            if known is None or known[0] != mark:
                entry = self._read_header(Path(item.path), stat.st_size)
                if entry is None:
                    continue
                known = self._known[item.name] = (mark, entry)
            found.append(known[1])
        for gone in self._known.keys() - names:
            del self._known[gone]
        return found

    def best(self, ids: Sequence[int], most: int) -> tuple[Entry, int] | None:
        """The entry (of at most `most` ids) sharing the longest prefix with `ids`, and that length."""
        best = None
        for entry in self.entries():
            if len(entry.ids) > most:
                continue
            shared = common_prefix(entry.ids, ids)
            if shared and (best is None or shared > best[1]):
                best = (entry, shared)
        return best

    def _read_header(self, path: Path, size: int) -> Entry | None:
        try:
            with open(path, "rb") as handle:
                head = handle.read(_HEAD.size)
                if len(head) < _HEAD.size:
                    return self._drop(path, "it is truncated")
                magic, id_len, n_ids, payload_size, payload_sum = _HEAD.unpack(head)
                if magic != MAGIC:
                    return self._drop(path, "it is not a saved state of this version")
                payload_at = _HEAD.size + id_len + 4 * n_ids + _SUM
                if size != payload_at + payload_size:
                    return self._drop(path, "it is truncated" if size < payload_at + payload_size else "its length is wrong")
                rest = handle.read(id_len + 4 * n_ids + _SUM)
        except OSError:
            return None  # removed meanwhile by another process, or unreadable: not ours to judge
        body, stored = rest[:-_SUM], rest[-_SUM:]
        if hashlib.sha256(head + body).digest() != stored:
            return self._drop(path, "its header checksum does not match")
        identity, packed = body[:id_len], body[id_len:]
        if identity.decode("utf-8", "replace") != self.identity:
            return self._drop(path, "it was saved for another model file")
        ids = struct.unpack(f"<{n_ids}i", packed)
        if path.name != f"{self.prefix}{ids_key(ids)}{SUFFIX}":
            return self._drop(path, "its name does not match its contents")
        return Entry(path, ids, payload_at, payload_size, payload_sum)

    def read(self, entry: Entry) -> bytearray | None:
        """The entry's state bytes, checked against its checksum; None (the file removed, a notice) if
        they do not match. Reading counts as a use for the least-recently-used order."""
        payload = bytearray(entry.payload_size)
        try:
            with open(entry.path, "rb") as handle:
                handle.seek(entry.payload_at)
                got = handle.readinto(payload)
        except OSError:
            return None
        if got != entry.payload_size:
            return self._drop(entry.path, "it is truncated")
        if hashlib.sha256(payload).digest() != entry.payload_sum:
            return self._drop(entry.path, "its checksum does not match")
        self.touch(entry.path)
        return payload

    def discard(self, entry: Entry, why: str) -> None:
        """llama.cpp refused an entry whose checksums were right (another build's layout, say)."""
        self._drop(entry.path, why)

    def _drop(self, path: Path, why: str) -> None:
        try:
            path.unlink(missing_ok=True)
        except OSError:
            pass
        self._known.pop(path.name, None)
        self.notices.append(f"a saved model state ({path.name}) was ignored and removed: {why}; "
                            "the prompt is evaluated again")
        return None

    @staticmethod
    def touch(path: Path) -> None:
        try:
            os.utime(path)
        except OSError:
            pass

    # saving

    def holds(self, ids: Sequence[int]) -> bool:
        """Is there an entry of exactly these ids (touched if so: it is in use)?"""
        path = self.folder / f"{self.prefix}{ids_key(ids)}{SUFFIX}"
        if path.is_file():
            self.touch(path)
            return True
        return False

    def save(self, ids: Sequence[int], payload: memoryview, deadline: float | None = None) -> SaveReport | None:
        """Write an entry atomically, then remove this model's entries it covers (their ids are a prefix
        of these) and the least recently used files past the cap. None: too big for the cap, or past
        `deadline` (time.monotonic()) before the file was complete, which leaves no file."""
        start = time.monotonic()
        identity = self.identity.encode()
        packed = _pack_ids(ids)
        head = _HEAD.pack(MAGIC, len(identity), len(ids), len(payload), hashlib.sha256(payload).digest())
        header = head + identity + packed
        header += hashlib.sha256(header).digest()
        if len(header) + len(payload) > self.cap_bytes:
            return None
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{self.prefix}{ids_key(ids)}{SUFFIX}"
        try:
            with atomic_path(path) as tmp:
                with open(tmp, "wb") as handle:
                    handle.write(header)
                    for at in range(0, len(payload), _CHUNK):
                        if deadline is not None and time.monotonic() > deadline:
                            raise _Late
                        handle.write(payload[at:at + _CHUNK])
                if deadline is not None and time.monotonic() > deadline:
                    raise _Late
        except _Late:
            return None
        for entry in self.entries():
            if entry.path != path and len(entry.ids) < len(ids) and tuple(ids[:len(entry.ids)]) == entry.ids:
                entry.path.unlink(missing_ok=True)
        self.evict(keep=path)
        return SaveReport(len(ids), len(header) + len(payload), time.monotonic() - start)

    def evict(self, keep: Path | None = None) -> None:
        """Remove the least recently used entries (of any model) until the folder is within the cap."""
        files = []
        for item in os.scandir(self.folder):
            if item.name.endswith(SUFFIX) and not item.name.startswith("."):
                try:
                    stat = item.stat()
                except OSError:
                    continue
                files.append((stat.st_mtime_ns, stat.st_size, Path(item.path)))
        total = sum(size for _, size, _ in files)
        for _, size, path in sorted(files, key=lambda f: f[0]):
            if total <= self.cap_bytes:
                break
            if path == keep:
                continue
            path.unlink(missing_ok=True)
            total -= size

    def _sweep(self) -> None:
        """Remove temp files that a save killed mid-write left behind (a save in progress keeps writing
        its own, so it is never this old)."""
        now = time.time()
        try:
            listed = list(os.scandir(self.folder))
        except OSError:
            return
        for item in listed:
            if item.name.startswith(".") and item.name.endswith(".partial"):
                try:
                    if now - item.stat().st_mtime > _ABANDONED_S:
                        os.unlink(item.path)
                except OSError:
                    continue
