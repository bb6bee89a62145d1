"""The slash commands typed in the question box or chosen in the palette (the table is
tui.commands.SLASH_COMMANDS: each row names its handler here)."""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING

from opencoder_local.errors import UserError
from opencoder_local.tui.commands import SlashCommand, typed_command
from opencoder_local.tui.screens.ask import AskScreen

if TYPE_CHECKING:
    from opencoder_local.tui.screens.chat import ChatScreen

FILES_LISTED = 30  # /files lists this many, then says how many more


class SlashCommands:
    def __init__(self, screen: ChatScreen):
        self.screen = screen

    async def run(self, command: SlashCommand, words: list[str]) -> None:
        done = getattr(self, command.handler)(words)
        if inspect.isawaitable(done):
            await done

    async def ask(self, command: SlashCommand) -> None:
        """From the palette: ask for the command's arguments first, if it takes any."""
        if not command.args:
            await self.run(command, [])
            return

        async def answered(text: str | None) -> None:
            try:
                typed = typed_command(f"/{command.name} {text}") if text else None
            except UserError as exc:
                self.screen.notify(str(exc), title="Not run", severity="error", timeout=15, markup=False)
                return
            if typed is not None:
                await self.run(command, typed.words)

        self.screen.app.push_screen(AskScreen(command.help, placeholder=command.usage), answered)

    def add(self, words: list[str]) -> None:
        if not words:
            self.screen.notify("Name what to add: /add PATH… (files, globs, folders, path:START-END).",
                               severity="warning")
            return
        self.screen.add_files(words)

    def drop(self, words: list[str]) -> None:
        screen = self.screen
        dropped = [spec for word in (words or [None]) for spec in screen.session.drop_files(word)]
        screen.sync_files()
        if dropped:
            shown = ", ".join(dropped[:10]) + (f" and {len(dropped) - 10:,} more" if len(dropped) > 10 else "")
            screen.notify(f"Dropped {shown}.", markup=False)
        else:
            screen.notify(f"No file in the conversation matches {' '.join(words)}." if words
                          else "There are no files in the conversation.", markup=False)

    def files(self, _words: list[str]) -> None:
        screen = self.screen
        if not screen.files:
            screen.notify("No files in the conversation yet: /add PATH… or @path in a message adds them.")
            return
        lines = [f"{entry.spec}  {entry.tokens:,} tokens  {entry.state}" + (f"  ({entry.warning})" if entry.warning else "")
                 for entry in screen.files[:FILES_LISTED]]
        if len(screen.files) > FILES_LISTED:
            lines.append(f"… and {len(screen.files) - FILES_LISTED:,} more")
        total = screen.session.working_set.total_tokens()
        screen.notify("\n".join(lines), title=f"{len(screen.files):,} files, {total:,} tokens", timeout=20,
                      markup=False)

    def undo(self, _words: list[str]) -> None:
        self.screen.edits.undo()

    def edits(self, _words: list[str]) -> None:
        self.screen.edits.listing()

    def help(self, _words: list[str]) -> None:
        self.screen.action_help()
