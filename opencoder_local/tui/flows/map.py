"""The project map in the chat: its first scan and its watcher off the UI thread, `/map`, and the
suggestion chips (files the map ranks highest for the draft, not in the conversation) with the key
that adds them. The map itself is context/repo_map.py; the session puts it in every prompt."""

from __future__ import annotations

import contextlib
import itertools
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from opencoder_local.tui.screens.project_map import ProjectMapScreen
from opencoder_local.tui.widgets.suggestion_chips import SuggestionChips

if TYPE_CHECKING:
    from textual.app import App

    from opencoder_local.context.session import ChatSession
    from opencoder_local.context.watcher import WorkingSetWatcher


class MapHost(Protocol):
    """What the flow needs from the chat screen."""

    session: ChatSession
    app: App

    def notify(self, message: str, *, title: str = "", severity: str = "information",
               timeout: float | None = None, markup: bool = True) -> None: ...

    def run_worker(self, work, *, name: str = "", group: str = "default", thread: bool = False,
                   exclusive: bool = False): ...

    def add_files(self, specs: list[str], then_send: str | None = None) -> None: ...

    def schedule_count(self) -> None: ...


class MapFlow:
    def __init__(self, host: MapHost, chips: SuggestionChips):
        self.host = host
        self.chips = chips
        self._watcher: WorkingSetWatcher | None = None
        self._seq = itertools.count(1)
        self._shown = 0  # the newest suggestion shown: an older, slower one never overwrites it
        self._lock = threading.Lock()
        self._stopped = False  # the screen closed: a scan that ends later starts no watcher

    def start(self) -> None:
        """Scan the project (the first scan parses it; the cache makes later ones quick), then watch it."""
        project_map = self.host.session.project_map
        if project_map is None:
            return

        def scan() -> None:
            project_map.symbols.files(wait=True)
            notices = project_map.symbols.notices
            for notice in notices:
                self._on_ui(lambda notice=notice: self.host.notify(
                    f"{notice} (too many files to watch: it is not refreshed while the app runs)", title="Project map",
                    severity="warning", timeout=15, markup=False))
            if not notices:  # a folder too big to map whole is too big to watch whole
                from opencoder_local.context.watcher import WorkingSetWatcher  # watchdog loads with the map

                watcher = WorkingSetWatcher(self._changed, debounce_s=0.3)
                watcher.watch_tree(project_map.root)
                with self._lock:
                    stopped = self._stopped
                    if not stopped:
                        self._watcher = watcher
                if stopped:
                    watcher.stop()
                    return
            self._on_ui(self.host.schedule_count)  # the meter shows the map's part now

        self.host.run_worker(scan, thread=True, group="map-scan")

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            watcher, self._watcher = self._watcher, None
        if watcher is not None:
            watcher.stop()

    def show(self, draft: str = "") -> None:
        """`/map`: the map the next question (the draft, else the last one) would carry."""
        session = self.host.session
        if session.project_map is None:
            self.host.notify("The project map is off (map_tokens = 0 in config, or --map-tokens 0).")
            return
        if session.engine is None:
            self.host.notify("The map is counted with the model's tokenizer: wait for the model to load.")
            return

        def build() -> None:
            session.project_map.symbols.files(wait=True)  # asked for: worth waiting for a scan under way
            found = session.repo_map(draft)
            notices = list(session.project_map.symbols.notices)
            self._on_ui(lambda: self.host.app.push_screen(ProjectMapScreen(found, notices)))

        self.host.run_worker(build, thread=True, group="map-show")

    def suggest(self, draft: str) -> None:
        """Rank files for the draft in a worker and show the best ones not in the conversation."""
        seq = next(self._seq)
        session = self.host.session

        def rank() -> None:
            files = session.suggested_files(draft) if session.project_map is not None else []
            self._on_ui(lambda: self._suggested(seq, files))

        self.host.run_worker(rank, thread=True, group="map-suggest")

    def add_suggested(self) -> None:
        """The key: add the suggested files to the conversation."""
        files = list(self.chips.files)
        if not files:
            self.host.notify("No suggested files: name a function or file of the project in your question.")
            return
        self.chips.show([])
        self.host.add_files(files)

    def _suggested(self, seq: int, files: list[str]) -> None:
        if seq < self._shown:
            return
        self._shown = seq
        self.chips.show(files)

    def _changed(self, paths: set[Path]) -> None:
        """On the watcher's thread: read the changed files again; the meter recounts if the map moved."""
        project_map = self.host.session.project_map
        if project_map is not None and project_map.symbols.changed(paths):
            self._on_ui(self.host.schedule_count)

    def _on_ui(self, callback) -> None:
        with contextlib.suppress(RuntimeError):  # the app has closed meanwhile
            self.host.app.call_from_thread(callback)
