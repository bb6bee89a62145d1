"""The symbols of every source file of a project, cached on disk and kept current.

Files are the project's files as the working set lists them (`project_files.list_files`: git's
listing or the .gitignore rules, hidden, vendored and virtualenv folders skipped), those with a
grammar (`symbols.language_of`), at most MAX_MAP_FILES of them and none over MAX_SOURCE_BYTES (a
minified bundle says nothing a map could show). Each file's symbols are cached in the data folder,
keyed by its path, size and modification time, so a second scan parses only what changed. A file
that cannot be read (binary, vanished mid-scan, a symlink loop) is left out, never raised.

`changed(paths)` is for a watcher: it re-reads just those files. Every method may be called from
any thread. With `scan_on_read=False` (the app, where a worker makes the first scan) a read never
scans: a question asked before the first scan ends goes without the map rather than wait for it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from opencoder_local import locations
from opencoder_local.context.file_text import Refused, check_regular, read_text
from opencoder_local.context.project_files import is_ignored, list_files, skipped_part
from opencoder_local.context.symbols import EMPTY, Definition, FileSymbols, grammar_versions, language_of, parse_symbols
from opencoder_local.errors import UserError
from opencoder_local.files import write_atomic

MAX_MAP_FILES = 5_000  # source files a map covers; more are named in a notice
MAX_LISTED = 50_000  # files of any kind looked at (a home folder started in must not be walked whole)
MAX_SOURCE_BYTES = 256 * 1024
PARALLEL_FROM = 200  # files to parse before a scan uses a process per core
MAX_WORKERS = 8
BATCH = 50  # files a worker parses per task
NICE = 10  # a parsing worker's priority below the app's


@dataclass(frozen=True)
class _Cached:
    size: int
    mtime_ns: int
    symbols: FileSymbols


def cache_file(root: Path) -> Path:
    """Where a project's symbols are cached: one file per project folder, in the data folder."""
    digest = hashlib.sha256(os.fsencode(root)).hexdigest()[:20]
    return locations.data_dir() / "symbols" / f"{digest}.json"


class ProjectSymbols:
    def __init__(self, root: Path, cache: Path | None = None, scan_on_read: bool = True):
        self.root = Path(os.path.abspath(root))
        self._cache = cache or cache_file(self.root)
        self._scan_on_read = scan_on_read
        self._files: dict[str, _Cached] = {}
        self._lock = threading.RLock()
        self._scanned = False
        self.version = 0  # goes up whenever a file's symbols change
        self.notices: list[str] = []

    def files(self, wait: bool = False) -> dict[str, FileSymbols]:
        """Every mapped file's symbols (scanning the project the first time, if this reader may). While
        another thread scans, what the last scan found (nothing, before the first), unless `wait`: a
        count or an /add never waits for a scan; /map does."""
        if not self._lock.acquire(blocking=wait):
            return {path: cached.symbols for path, cached in self._files.items()}
        try:
            if not self._scanned and (wait or self._scan_on_read):
                self.scan()
            return {path: cached.symbols for path, cached in self._files.items()}
        finally:
            self._lock.release()

    def scan(self) -> None:
        """List the project, parse what is new or changed since the cache, forget what is gone."""
        with self._lock:
            known = self._files or self._load()
            listed, self.notices = _source_files(self.root)
            stale = [path for path in listed if not _current(self.root, path, known.get(path))]
            fresh = _parse_all(self.root, stale)
            files: dict[str, _Cached] = {}
            for path in listed:
                entry = fresh[path] if path in fresh else known.get(path)
                if entry is not None:
                    files[path] = entry
            if not _same(files, self._files):
                self.version += 1
            self._files, self._scanned = files, True
            if not _same(files, known):
                self._save()

    def changed(self, paths: Iterable[Path]) -> bool:
        """Re-read these absolute paths (a watcher's report); True if any file's symbols changed."""
        with self._lock:
            if not self._scanned:
                return False
            changed = False
            for absolute in paths:
                path = _relative(self.root, absolute)
                if path is None or not (path in self._files or _mappable(self.root, path)):
                    continue
                old = self._files.get(path)
                entry = self._read(path, old)
                if entry is old:
                    continue
                if entry is None:
                    self._files.pop(path, None)
                elif old is None and len(self._files) >= MAX_MAP_FILES:
                    continue
                else:
                    self._files[path] = entry
                changed = True
            if changed:
                self.version += 1
                self._save()
            return changed

    # internals

    def _read(self, path: str, cached: _Cached | None) -> _Cached | None:
        """The file's symbols: from the cache while its size and time are unchanged, else parsed."""
        return cached if _current(self.root, path, cached) else _parse_file(self.root, path)

    def _load(self) -> dict[str, _Cached]:
        try:
            data = json.loads(self._cache.read_text("utf-8"))
            if data.get("format") != grammar_versions() or data.get("root") != str(self.root):
                return {}
            return {path: _Cached(size, mtime, FileSymbols(tuple(map(Definition._make, defs)), refs))
                    for path, (size, mtime, defs, refs) in data["files"].items()}
        except (OSError, ValueError, TypeError, KeyError, AttributeError):
            return {}  # no cache yet, or one we cannot read: parse everything

    def _save(self) -> None:
        files = {path: [c.size, c.mtime_ns, [[d.name, d.line, d.end, d.signature] for d in c.symbols.definitions],
                        c.symbols.references] for path, c in self._files.items()}
        data = json.dumps({"format": grammar_versions(), "root": str(self.root), "files": files}, separators=(",", ":"))
        try:
            self._cache.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(self._cache, data)
        except (OSError, UserError):
            pass  # a cache that cannot be written costs the next scan time, nothing else


def _source_files(root: Path) -> tuple[list[str], list[str]]:
    """The project's files with a grammar, at most MAX_MAP_FILES (of the first MAX_LISTED files), and a
    notice if there were more."""
    found: list[str] = []
    for listed, path in enumerate(list_files(root), 1):
        if listed > MAX_LISTED:
            return found, [f"the project has more than {MAX_LISTED:,} files: the map covers the source files "
                           f"among the first {MAX_LISTED:,}"]
        if language_of(path) is None:
            continue
        if len(found) == MAX_MAP_FILES:
            return found, [f"the project has more than {MAX_MAP_FILES:,} source files: the map covers "
                           f"the first {MAX_MAP_FILES:,}"]
        found.append(path)
    return found, []


def _current(root: Path, path: str, cached: _Cached | None) -> bool:
    """Is the cached entry still the file's (same size and modification time)?"""
    if cached is None:
        return False
    try:
        info = os.stat(root / path)
    except OSError:
        return False
    return (cached.size, cached.mtime_ns) == (info.st_size, info.st_mtime_ns)


def _parse_file(root: Path, path: str) -> _Cached | None:
    """A file's symbols read now; None if it is gone or not a regular file."""
    file = root / path
    try:
        info = check_regular(file)
    except Refused:
        return None
    if info.st_size > MAX_SOURCE_BYTES:
        return _Cached(info.st_size, info.st_mtime_ns, EMPTY)
    try:
        text = read_text(file, None, MAX_SOURCE_BYTES).text
    except Refused:  # binary or unreadable: nothing to map; gone since the stat: forgotten
        return _Cached(info.st_size, info.st_mtime_ns, EMPTY) if os.path.lexists(file) else None
    return _Cached(info.st_size, info.st_mtime_ns, parse_symbols(path, text.encode("utf-8")))


def _parse_batch(root: Path, paths: list[str]) -> list[tuple[str, _Cached | None]]:
    return [(path, _parse_file(root, path)) for path in paths]


def _parse_all(root: Path, paths: list[str]) -> dict[str, _Cached | None]:
    """Parse these files: here for a few, on every core for many (a first scan of a big project).
    The workers are spawned, never forked: the app has threads running. They run at a lower priority
    (nice), so a model answering meanwhile keeps its cores."""
    workers = min(os.cpu_count() or 1, MAX_WORKERS)
    if len(paths) < PARALLEL_FROM or workers < 2:
        return dict(_parse_batch(root, paths))
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    batches = [paths[i:i + BATCH] for i in range(0, len(paths), BATCH)]
    try:
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                 initializer=_lower_priority) as pool:
            return dict(pair for done in pool.map(_parse_batch, [root] * len(batches), batches) for pair in done)
    except (OSError, RuntimeError, ValueError):  # no processes to be had (limits, a sandbox, odd descriptors): parse here
        return dict(_parse_batch(root, paths))


def _lower_priority() -> None:
    with contextlib.suppress(OSError, AttributeError):  # no nice on this system: parse at the usual priority
        os.nice(NICE)


def _same(a: dict[str, _Cached], b: dict[str, _Cached]) -> bool:
    return a.keys() == b.keys() and all(a[path] is b[path] for path in a)


def _relative(root: Path, absolute: Path) -> str | None:
    try:
        return Path(os.path.abspath(absolute)).relative_to(root).as_posix()
    except ValueError:
        return None


def _mappable(root: Path, path: str) -> bool:
    """Would a scan list this new file? (A grammar, no skipped folder, not ignored by git.)"""
    return (language_of(path) is not None and not any(skipped_part(part) for part in path.split("/"))
            and not is_ignored(root, path))
