"""What the chat screen's keys and palette commands do (kept apart so the screen stays readable)."""

from __future__ import annotations

import inspect
import re
from pathlib import Path
from typing import TYPE_CHECKING

from textual.binding import Binding

from opencoder_local.context.code_blocks import CodeBlock, code_blocks
from opencoder_local.errors import UserError
from opencoder_local.files import check_replaceable, user_path, write_atomic
from opencoder_local.store.export import conversation_markdown
from opencoder_local.tui.clipboard import copy_text
from opencoder_local.tui.commands import SLASH_COMMANDS, SlashCommand, key_table, typed_command
from opencoder_local.tui.screens.ask import AskScreen
from opencoder_local.tui.screens.code_picker import CodePickerScreen
from opencoder_local.tui.screens.confirm import ConfirmScreen
from opencoder_local.tui.screens.help import HelpScreen
from opencoder_local.tui.widgets.prompt_input import PromptInput
from opencoder_local.tui.widgets.sidebar import Sidebar

FILES_LISTED = 30  # /files lists this many, then says how many more

if TYPE_CHECKING:
    from opencoder_local.tui.screens.chat import ChatScreen


class ChatActions:
    """Mixed into ChatScreen; every action here is listed in tui.commands.CHAT_ACTIONS, every
    command_* method in tui.commands.SLASH_COMMANDS."""

    # generation

    def action_stop(self: "ChatScreen") -> None:
        if self.generating:
            self.session.stop()
        elif self.editing is not None:
            self.editing = None
            self.prompt_input.clear()
            self.notify("Edit cancelled.")

    async def action_regenerate(self: "ChatScreen") -> None:
        if not self._idle("regenerating"):
            return
        question = self.session.last("user")
        if question is None:
            self.notify("Nothing to regenerate yet: ask a question first.")
            return
        self.session.drop_last_answer()
        await self.log_view.remove_from(question.id, keep=True)
        self.log_view.follow()
        await self.start_answer()

    def action_edit_last(self: "ChatScreen") -> None:
        if not self._idle("editing"):
            return
        question = self.session.last("user")
        if question is None:
            self.notify("There is no message of yours to edit yet.")
            return
        self.editing = question
        self.prompt_input.text = question.content
        self.prompt_input.focus()
        self.prompt_input.move_cursor(self.prompt_input.document.end)
        self.notify("Editing your last message: Enter resends it, Esc cancels.")

    # conversations

    async def action_new_chat(self: "ChatScreen") -> None:
        if not self._idle("starting a new conversation"):
            return
        self.forget_queued()
        self.session.new()
        self.editing = None
        await self.log_view.show([])
        self.sync_files()
        self.refresh_sidebar()
        self.prompt_input.focus()
        self.schedule_count()

    def action_clear(self: "ChatScreen") -> None:
        if not self._idle("clearing") or not self.session.messages:
            return

        async def cleared(sure: bool | None) -> None:
            if sure and self.session.messages:
                self.queued_for = None  # its question is gone
                self.session.truncate_from(self.session.messages[0])
                await self.log_view.show([])
                self.schedule_count()

        self.app.push_screen(ConfirmScreen("Remove every message of this conversation?"), cleared)

    def action_toggle_sidebar(self: "ChatScreen") -> None:
        sidebar = self.query_one(Sidebar)
        sidebar.display = not sidebar.display
        if not sidebar.display:
            self.prompt_input.focus()

    def action_search(self: "ChatScreen") -> None:
        sidebar = self.query_one(Sidebar)
        sidebar.display = True
        sidebar.focus_search()

    def action_rename(self: "ChatScreen") -> None:
        conversation = self.session.conversation
        if conversation is None:
            self.notify("Send a message first: a new conversation is saved with its first question.")
            return

        def renamed(title: str | None) -> None:
            if title:
                self.session.rename(title)
                self.refresh_sidebar()

        self.app.push_screen(AskScreen("Rename conversation", conversation.title), renamed)

    def action_delete(self: "ChatScreen") -> None:
        if self.session.conversation is None:
            self.notify("This conversation is not saved yet: nothing to delete.")
            return
        self.confirm_delete(self.session.conversation.id)

    def confirm_delete(self: "ChatScreen", conversation_id: int) -> None:
        conversation = self.session.store.conversation(conversation_id)
        if conversation is None or not self._idle("deleting"):
            return

        async def deleted(sure: bool | None) -> None:
            if not sure:
                return
            self.session.store.delete(conversation_id)
            if self.queued_for == conversation_id:
                self.queued_for = None  # its question is gone
            if self.session.conversation and self.session.conversation.id == conversation_id:
                self.session.new()
                await self.log_view.show([])
                self.sync_files()
            self.refresh_sidebar()
            self.notify(f"Deleted “{conversation.title}”.", markup=False)

        self.app.push_screen(ConfirmScreen(f"Delete “{conversation.title}” for good?"), deleted)

    def action_export(self: "ChatScreen") -> None:
        conversation = self.session.conversation
        if conversation is None:
            self.notify("Nothing to export yet.")
            return
        slug = re.sub(r"[^A-Za-z0-9]+", "-", conversation.title).strip("-").lower()[:40] or "conversation"

        def export(path: str | None) -> None:
            if path:
                text = conversation_markdown(conversation, self.session.store.messages(conversation.id))
                self._write_file(path, text, "Exported the conversation")

        self.app.push_screen(AskScreen("Export to Markdown file", str(Path.cwd() / f"{slug}.md")), export)

    # code blocks

    def _blocks(self: "ChatScreen") -> list[CodeBlock]:
        """The conversation's code blocks, newest first (answers only); a notice when there are none."""
        found: list[CodeBlock] = []
        for message in reversed(self.session.messages):
            if message.role == "assistant":
                found.extend(reversed(code_blocks(message.content)))
        if not found:
            self.notify("No code block in this conversation's answers yet.")
        return found

    def action_copy_code(self: "ChatScreen") -> None:
        if blocks := self._blocks():
            self._copy(blocks[0])

    def action_copy_chosen_code(self: "ChatScreen") -> None:
        self._choose("Copy which code block?", self._copy)

    def action_save_code(self: "ChatScreen") -> None:
        if blocks := self._blocks():
            self._save(blocks[0])

    def action_save_chosen_code(self: "ChatScreen") -> None:
        self._choose("Save which code block?", self._save)

    def _choose(self: "ChatScreen", title: str, then) -> None:
        if blocks := self._blocks():
            self.app.push_screen(CodePickerScreen(title, blocks), lambda block: block and then(block))

    def _copy(self: "ChatScreen", block: CodeBlock) -> None:
        used = copy_text(self.app, block.code)
        lines = len(block.code.splitlines())
        self.notify(f"Copied {lines} line{'s' if lines != 1 else ''} of {block.language or 'code'} ({', '.join(used)}).",
                    markup=False)

    def _save(self: "ChatScreen", block: CodeBlock) -> None:
        def save(path: str | None) -> None:
            if path:
                self._write_file(path, block.code if block.code.endswith("\n") else block.code + "\n", "Saved the code block")

        self.app.push_screen(AskScreen("Save code block to file", str(Path.cwd() / block.suggested_name)), save)

    def _write_file(self: "ChatScreen", path: str, text: str, done: str) -> None:
        """Write `text` to `path`, asking first if that replaces a file; only regular files are replaced."""

        def failed(message: str) -> None:
            self.notify(f"{message}. Choose another path.", severity="error", markup=False)

        try:
            target = user_path(path)
            check_replaceable(target)
        except UserError as exc:
            failed(str(exc))
            return

        def write(sure: bool | None = True) -> None:
            if not sure:
                return
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                write_atomic(target, text)
            except OSError as exc:
                failed(f"Cannot write {target}: {exc.strerror or exc}")
                return
            except UserError as exc:
                failed(str(exc))
                return
            self.notify(f"{done} to {target}.", markup=False)

        if target.is_file():
            self.app.push_screen(ConfirmScreen(f"{target} exists. Replace it?"), write)
        else:
            write()

    # slash commands (the table is tui.commands.SLASH_COMMANDS)

    async def run_command(self: "ChatScreen", command: SlashCommand, words: list[str]) -> None:
        done = getattr(self, command.handler)(words)
        if inspect.isawaitable(done):
            await done

    async def ask_command(self: "ChatScreen", command: SlashCommand) -> None:
        """From the palette: ask for the command's arguments first, if it takes any."""
        if not command.args:
            await self.run_command(command, [])
            return

        async def answered(text: str | None) -> None:
            try:
                typed = typed_command(f"/{command.name} {text}") if text else None
            except UserError as exc:
                self.notify(str(exc), title="Not run", severity="error", timeout=15, markup=False)
                return
            if typed is not None:
                await self.run_command(command, typed.words)

        self.app.push_screen(AskScreen(command.help, placeholder=command.usage), answered)

    def command_add(self: "ChatScreen", words: list[str]) -> None:
        if not words:
            self.notify("Name what to add: /add PATH… (files, globs, folders, path:START-END).", severity="warning")
            return
        self.add_files(words)

    def command_drop(self: "ChatScreen", words: list[str]) -> None:
        dropped = [spec for word in (words or [None]) for spec in self.session.drop_files(word)]
        self.sync_files()
        if dropped:
            shown = ", ".join(dropped[:10]) + (f" and {len(dropped) - 10:,} more" if len(dropped) > 10 else "")
            self.notify(f"Dropped {shown}.", markup=False)
        else:
            self.notify(f"No file in the conversation matches {' '.join(words)}." if words
                        else "There are no files in the conversation.", markup=False)

    def command_files(self: "ChatScreen", _words: list[str]) -> None:
        if not self.files:
            self.notify("No files in the conversation yet: /add PATH… or @path in a message adds them.")
            return
        lines = [f"{entry.spec}  {entry.tokens:,} tokens  {entry.state}" + (f"  ({entry.warning})" if entry.warning else "")
                 for entry in self.files[:FILES_LISTED]]
        if len(self.files) > FILES_LISTED:
            lines.append(f"… and {len(self.files) - FILES_LISTED:,} more")
        total = self.session.working_set.total_tokens()
        self.notify("\n".join(lines), title=f"{len(self.files):,} files, {total:,} tokens", timeout=20, markup=False)

    def command_help(self: "ChatScreen", _words: list[str]) -> None:
        self.action_help()

    def action_help(self: "ChatScreen") -> None:
        app = self.app
        palette = Binding(app.COMMAND_PALETTE_BINDING, "command_palette", "Command palette")
        keys = key_table([*self.BINDINGS, *PromptInput.BINDINGS, palette, *app.BINDINGS])
        app.push_screen(HelpScreen(SLASH_COMMANDS, keys))

    # conversations

    def refresh_sidebar(self: "ChatScreen") -> None:
        """List the conversations; if they cannot be read, say so and let the caller go on (send, say)."""
        sidebar = self.query_one(Sidebar)
        current = self.session.conversation.id if self.session.conversation else None
        try:
            found = self.session.store.conversations(sidebar.query_text)
        except UserError as exc:
            self.notify(str(exc), title="Conversations could not be read", severity="error", timeout=15, markup=False)
            return
        sidebar.show(found, current)

    async def open_conversation(self: "ChatScreen", conversation_id: int) -> None:
        if self.generating:
            self.notify("Stop the answer (Esc) before switching conversations.", severity="warning")
            return
        if conversation_id != self.queued_for:
            self.forget_queued()
        if self.session.open(conversation_id):
            self.editing = None
            await self.log_view.show(self.session.messages)
            self.sync_files()
            self.prompt_input.focus()
            self.schedule_count()

    def _idle(self: "ChatScreen", doing: str) -> bool:
        if self.generating:
            self.notify(f"Stop the answer (Esc) before {doing}.", severity="warning")
            return False
        return True
