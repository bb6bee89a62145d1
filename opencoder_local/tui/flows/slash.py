"""The slash commands typed in the question box or chosen in the palette (the table is
tui.commands.SLASH_COMMANDS: each row names its handler here)."""

from __future__ import annotations

import inspect
from typing import Callable

from opencoder_local.errors import UserError
from opencoder_local.tui.commands import SlashCommand, typed_command, unknown_command
from opencoder_local.tui.flows.commands import CommandFlow
from opencoder_local.tui.flows.edits import EditFlow
from opencoder_local.tui.flows.files import FilesFlow
from opencoder_local.tui.flows.git import GitFlow
from opencoder_local.tui.flows.host import ChatHost
from opencoder_local.tui.flows.map import MapFlow
from opencoder_local.tui.screens.ask import AskScreen

FILES_LISTED = 30  # /files lists this many, then says how many more


class SlashCommands:
    def __init__(self, host: ChatHost, files: FilesFlow, edits: EditFlow, commands: CommandFlow, git: GitFlow,
                 show_help: Callable[[], None], project_map: Callable[[], MapFlow | None]):
        self.host = host
        self._commands = commands
        self._git = git
        self._map = project_map
        self._files = files
        self._edits = edits
        self._show_help = show_help

    async def typed(self, text: str) -> bool:
        """Run the slash command or !COMMAND in the box (a bad one is a notice); False: the text is a message."""
        host = self.host
        if text.startswith("!"):
            host.prompt_input.clear()
            self._commands.run_typed(text[1:])
            return True
        try:
            typed = typed_command(text)
        except UserError as exc:
            host.notify(str(exc), title="Not run", severity="error", timeout=15, markup=False)
            return True
        if typed is None:
            return False
        if typed.command is None:
            host.notify(unknown_command(typed.name), title="Unknown command", severity="warning", timeout=15,
                        markup=False)
            return True
        host.prompt_input.clear()
        await self.run(typed.command, typed.words)
        return True

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
                self.host.notify(str(exc), title="Not run", severity="error", timeout=15, markup=False)
                return
            if typed is not None:
                await self.run(command, typed.words)

        self.host.app.push_screen(AskScreen(command.help, placeholder=command.usage), answered)

    def add(self, words: list[str]) -> None:
        if not words:
            self.host.notify("Name what to add: /add PATH… (files, globs, folders, path:START-END).",
                             severity="warning")
            return
        self._files.add(words)

    def drop(self, words: list[str]) -> None:
        host = self.host
        dropped = [spec for word in (words or [None]) for spec in host.session.drop_files(word)]
        host.sync_files()
        if dropped:
            shown = ", ".join(dropped[:10]) + (f" and {len(dropped) - 10:,} more" if len(dropped) > 10 else "")
            host.notify(f"Dropped {shown}.", markup=False)
        else:
            host.notify(f"No file in the conversation matches {' '.join(words)}." if words
                        else "There are no files in the conversation.", markup=False)

    def files(self, _words: list[str]) -> None:
        host = self.host
        if not host.files:
            host.notify("No files in the conversation yet: /add PATH… or @path in a message adds them.")
            return
        lines = [f"{entry.spec}  {entry.tokens:,} tokens  {entry.state}" + (f"  ({entry.warning})" if entry.warning else "")
                 for entry in host.files[:FILES_LISTED]]
        if len(host.files) > FILES_LISTED:
            lines.append(f"… and {len(host.files) - FILES_LISTED:,} more")
        total = host.session.working_set.total_tokens()
        host.notify("\n".join(lines), title=f"{len(host.files):,} files, {total:,} tokens", timeout=20,
                    markup=False)

    def undo(self, _words: list[str]) -> None:
        self._edits.undo()

    def edits(self, _words: list[str]) -> None:
        self._edits.listing()

    def map(self, _words: list[str]) -> None:
        flow = self._map()
        if flow is not None:
            flow.show(self.host.prompt_input.text.strip())

    def run_command(self, words: list[str]) -> None:
        self._commands.run_typed(words[0] if words else "")

    def test(self, _words: list[str]) -> None:
        self._commands.test()

    def diff(self, _words: list[str]) -> None:
        self._git.diff()

    def commit(self, words: list[str]) -> None:
        self._git.commit(words[0] if words else "")

    def help(self, _words: list[str]) -> None:
        self._show_help()
