"""One watchdog observer for a working set: changes on disk, debounced, as one set of paths.

Each file's folder is watched (not the file: an editor that saves by writing a temporary file
and renaming it over the original replaces the file, and a watch on the old one would go
quiet). Events for files that are not watched are ignored. A burst of events (a `git checkout`
rewriting hundreds of files) becomes one callback once the folders have been quiet for
`debounce_s`, or at the latest after five debounce periods. A folder that is deleted is
replaced by its nearest existing ancestor and watched again when it comes back.

`watch_tree(folder)` watches a whole folder instead (the project map's files): every file under it
that changes is reported, except in hidden and skipped folders (.git, node_modules, …).

The callback runs on the watcher's own thread: a UI marshals it to its own. watchdog is
imported here only, by whoever starts watching (it costs start-up time).
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Callable

from watchdog.events import (
    DirCreatedEvent,
    DirDeletedEvent,
    DirMovedEvent,
    FileClosedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer

from opencoder_local.context.project_files import skipped_part

_EVENTS = [FileCreatedEvent, FileModifiedEvent, FileClosedEvent, FileDeletedEvent, FileMovedEvent,
           DirCreatedEvent, DirDeletedEvent, DirMovedEvent]
_LONGEST_WAIT = 5  # debounce periods: a folder that never goes quiet is still reported


class _Handler(FileSystemEventHandler):
    def __init__(self, watcher: "WorkingSetWatcher"):
        self._watcher = watcher

    def dispatch(self, event: FileSystemEvent) -> None:
        self._watcher._event(event)


class WorkingSetWatcher:
    """Watch a set of files (or a folder's tree); `on_change(paths)` gets the absolute paths that changed,
    debounced."""

    def __init__(self, on_change: Callable[[set[Path]], None], debounce_s: float = 0.1):
        self._on_change = on_change
        self._debounce = debounce_s
        self._handler = _Handler(self)
        self._observer = Observer()
        self._observer.daemon = True
        self._flusher = threading.Thread(target=self._flush_loop, daemon=True, name="working-set-watcher")
        self._started = self._stopped = False
        self._schedule_lock = threading.Lock()
        self._targets: frozenset[str] = frozenset()
        self._tree: str | None = None  # a folder watched whole, with its subfolders
        self._watches: dict[str, object] = {}  # folder -> watchdog's ObservedWatch
        self._changed = threading.Condition()
        self._pending: set[str] = set()
        self._retarget = False
        self._first = self._last = 0.0

    def watch(self, paths: set[Path]) -> None:
        """Watch exactly these files from now on (re-targets the watched folders)."""
        with self._schedule_lock:
            if self._stopped:
                return
            self._targets = frozenset(os.path.abspath(path) for path in paths)
            self._reschedule()
            self._start()

    def watch_tree(self, folder: Path) -> None:
        """Watch every file under `folder` from now on (hidden and skipped folders excepted)."""
        with self._schedule_lock:
            if self._stopped or self._tree is not None:
                return
            self._tree = os.path.abspath(folder)
            try:
                self._observer.schedule(self._handler, self._tree, recursive=True, event_filter=_EVENTS)
            except OSError:  # unreadable, or the system's limit on watches: the tree goes unwatched
                return
            self._start()

    def stop(self) -> None:
        """Stop watching and end both threads; no callback runs after this returns (unless it is running)."""
        with self._schedule_lock:
            if self._stopped:
                return
            self._stopped = True
        with self._changed:
            self._changed.notify_all()
        if self._started:
            self._observer.stop()
            self._observer.join()
            if threading.current_thread() is not self._flusher:
                self._flusher.join()

    # internals

    def _start(self) -> None:
        if not self._started:
            self._started = True
            self._observer.start()
            self._flusher.start()

    def _reschedule(self) -> set[str]:
        """Watch the folder of each target (its nearest existing ancestor); returns folders newly watched."""
        wanted = {_nearest_folder(Path(target).parent) for target in self._targets}
        for folder in set(self._watches) - wanted:
            try:
                self._observer.unschedule(self._watches.pop(folder))
            except KeyError:  # its emitter already ended with the folder
                pass
        added = set()
        for folder in wanted - set(self._watches):
            try:
                self._watches[folder] = self._observer.schedule(self._handler, folder, recursive=False,
                                                                event_filter=_EVENTS)
                added.add(folder)
            except OSError:  # unreadable, or the system's limit on watches: that folder goes unwatched
                continue
        return added

    def _event(self, event: FileSystemEvent) -> None:
        """On the observer's thread: note which targets an event touches."""
        targets = self._targets
        hits, retarget = set(), False
        for raw in (event.src_path, event.dest_path):
            if not raw:
                continue
            path = os.fsdecode(raw)
            if path in targets or (not event.is_directory and self._in_tree(path)):
                hits.add(path)
            if event.is_directory:
                inside = {target for target in targets if target.startswith(path.rstrip(os.sep) + os.sep)}
                hits |= inside
                retarget = retarget or bool(inside)
        if not (hits or retarget):
            return
        with self._changed:
            now = time.monotonic()
            if not (self._pending or self._retarget):
                self._first = now
            self._last = now
            self._pending |= hits
            self._retarget = self._retarget or retarget
            self._changed.notify()

    def _in_tree(self, path: str) -> bool:
        """Is this a file under the watched tree, outside hidden and skipped folders?"""
        tree = self._tree
        if tree is None or not path.startswith(tree.rstrip(os.sep) + os.sep):
            return False
        return not any(skipped_part(part) for part in Path(path).relative_to(tree).parts)

    def _flush_loop(self) -> None:
        while True:
            with self._changed:
                while not (self._pending or self._retarget or self._stopped):
                    self._changed.wait()
                while not self._stopped:
                    now = time.monotonic()
                    wait = min(self._last + self._debounce, self._first + _LONGEST_WAIT * self._debounce) - now
                    if wait <= 0:
                        break
                    self._changed.wait(wait)
                if self._stopped:
                    return
                pending, retarget = self._pending, self._retarget
                self._pending, self._retarget = set(), False
            if retarget:
                with self._schedule_lock:
                    if self._stopped:
                        return
                    added = self._reschedule()
                    # Files may have appeared in a folder before its watch began: look at them too.
                    pending |= {target for target in self._targets if os.path.dirname(target) in added}
            if pending:
                self._on_change({Path(path) for path in pending})


def _nearest_folder(folder: Path) -> str:
    while not folder.is_dir() and folder != folder.parent:
        folder = folder.parent
    return str(folder)
