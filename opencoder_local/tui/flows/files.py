"""The files in the conversation: added in a worker, kept live by one watcher, shown as chips."""

from __future__ import annotations

import asyncio
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from opencoder_local.context.working_set import AddResult
from opencoder_local.tui.flows.host import ChatHost, in_thread

if TYPE_CHECKING:
    from textual.app import App

    from opencoder_local.context.watcher import WorkingSetWatcher


class FilesFlow:
    def __init__(self, host: ChatHost):
        self.host = host
        self._watcher: WorkingSetWatcher | None = None  # one for the screen, from the first file on
        self._stopped = False

    def watch_disk(self) -> None:
        """Point the one watcher at the working set's files (started with the first file)."""
        if self._stopped:
            return
        paths = self.host.session.working_set.watched_paths()
        if self._watcher is None:
            if not paths:
                return
            from opencoder_local.context.watcher import WorkingSetWatcher  # watchdog loads with the first file

            # the app, found here: from the watcher's thread, a screen that is closing has none
            self._watcher = WorkingSetWatcher(partial(self._reread, self.host.app))
        self._watcher.watch(paths)

    async def stop(self) -> None:
        """Stop watching. In a thread: the watcher's last callback may be waiting for this loop to run it."""
        self._stopped = True
        if self._watcher is not None:
            await asyncio.to_thread(self._watcher.stop)

    def _reread(self, app: App[Any], paths: set[Path]) -> None:
        """On the watcher's thread (debounced there): read the changed files, then show them."""
        if self.host.session.working_set.refresh(paths):
            app.call_from_thread(self._show_reread)

    def _show_reread(self) -> None:
        if not self._stopped:  # the screen is closing
            self.host.sync_files()

    def add(self, specs: list[str], then_send: str | None = None) -> None:
        """Add files, globs, folders, ranges within the window's room, in a worker (a folder of
        thousands never freezes the screen); `then_send` is the message that named them."""
        self.host.run_worker(self._add(specs, then_send), group="add")

    async def _add(self, specs: list[str], then_send: str | None) -> None:
        host = self.host
        result: AddResult = await in_thread(host, partial(host.session.add_files, specs, then_send or ""),
                                            group="read")
        if self._stopped:
            return  # the screen is closing
        for spec, reason in result.refused:
            host.notify(f"{spec}: {reason}", title="Not added", severity="error", timeout=20, markup=False)
        for notice in result.notices:
            host.notify(notice, title="Files", severity="warning", timeout=15, markup=False)
        if result.added and then_send is None:
            tokens = sum(entry.tokens for entry in result.added)
            count = len(result.added)
            host.notify(f"Added {count:,} file{'s' if count != 1 else ''} ({tokens:,} tokens).", markup=False)
        host.sync_files()
        if then_send is not None:
            host.call_later(self._send, then_send, bool(result.refused))  # on the screen's queue, like a key

    async def _send(self, text: str, refused: bool) -> None:
        """Send the message that named the files, unless one was refused: then it goes back in the box."""
        host = self.host
        if refused:
            host.notify("Not sent: fix or remove the @path, then press Enter.", severity="warning", timeout=15)
        if (refused or not await host.send_question(text)) and not host.prompt_input.text:
            host.prompt_input.text = text  # back in the box, to fix and send again
