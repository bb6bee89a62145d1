"""The files in the conversation: added in a worker, kept live by one watcher, shown as chips."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from textual.message import Message

from opencoder_local.context.working_set import AddResult

if TYPE_CHECKING:
    from opencoder_local.context.watcher import WorkingSetWatcher
    from opencoder_local.tui.screens.chat import ChatScreen


class FilesAdded(Message):
    """`/add` or the @paths of a message were read (in a worker); `then_send` is that message."""

    def __init__(self, result: AddResult, then_send: str | None):
        super().__init__()
        self.result = result
        self.then_send = then_send


class FilesRead(Message):
    """Files of the working set changed on disk and were read again (on the watcher's thread)."""


class FilesFlow:
    def __init__(self, screen: ChatScreen):
        self.screen = screen
        self._watcher: WorkingSetWatcher | None = None  # one for the screen, from the first file on

    def watch_disk(self) -> None:
        """Point the one watcher at the working set's files (started with the first file)."""
        paths = self.screen.session.working_set.watched_paths()
        if self._watcher is None:
            if not paths:
                return
            from opencoder_local.context.watcher import WorkingSetWatcher  # watchdog loads with the first file

            self._watcher = WorkingSetWatcher(self._reread)
        self._watcher.watch(paths)

    def stop(self) -> None:
        if self._watcher is not None:
            self._watcher.stop()

    def _reread(self, paths: set[Path]) -> None:
        """On the watcher's thread (debounced there): read the changed files, then show them."""
        if self.screen.session.working_set.refresh(paths):
            self.screen.post_message(FilesRead())

    def add(self, specs: list[str], then_send: str | None = None) -> None:
        """Add files, globs, folders, ranges within the window's room, in a worker (a folder of
        thousands never freezes the screen); `then_send` is the message that named them."""
        session, screen = self.screen.session, self.screen

        def read() -> None:
            screen.post_message(FilesAdded(session.add_files(specs, then_send or ""), then_send))

        screen.run_worker(read, thread=True, group="add")

    async def added(self, message: FilesAdded) -> None:
        screen, result = self.screen, message.result
        for spec, reason in result.refused:
            screen.notify(f"{spec}: {reason}", title="Not added", severity="error", timeout=20, markup=False)
        for notice in result.notices:
            screen.notify(notice, title="Files", severity="warning", timeout=15, markup=False)
        if result.added and message.then_send is None:
            tokens = sum(entry.tokens for entry in result.added)
            count = len(result.added)
            screen.notify(f"Added {count:,} file{'s' if count != 1 else ''} ({tokens:,} tokens).", markup=False)
        screen.sync_files()
        if message.then_send is None:
            return
        if result.refused:
            screen.notify("Not sent: fix or remove the @path, then press Enter.", severity="warning", timeout=15)
        if (result.refused or not await screen.send_question(message.then_send)) and not screen.prompt_input.text:
            screen.prompt_input.text = message.then_send  # back in the box, to fix and send again
