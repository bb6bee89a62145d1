"""Start, open, clear, rename, delete and export conversations; keep the sidebar's list current."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from opencoder_local.errors import UserError
from opencoder_local.store.export import conversation_markdown
from opencoder_local.tui.screens.ask import AskScreen
from opencoder_local.tui.screens.confirm import ConfirmScreen
from opencoder_local.tui.widgets.sidebar import Sidebar

if TYPE_CHECKING:
    from opencoder_local.tui.screens.chat import ChatScreen


class ConversationFlow:
    def __init__(self, screen: ChatScreen):
        self.screen = screen

    async def new(self) -> None:
        screen = self.screen
        if not screen.idle("starting a new conversation"):
            return
        screen.model.forget_queued()
        screen.session.new()
        screen.editing = None
        await screen.show_conversation()
        self.refresh_sidebar()
        screen.prompt_input.focus()

    async def open(self, conversation_id: int) -> None:
        screen = self.screen
        if screen.generating:
            screen.notify("Stop the answer (Esc) before switching conversations.", severity="warning")
            return
        if conversation_id != screen.model.queued_for:
            screen.model.forget_queued()
        if screen.session.open(conversation_id):
            screen.editing = None
            await screen.show_conversation()
            screen.prompt_input.focus()

    def clear(self) -> None:
        screen = self.screen
        if not screen.idle("clearing") or not screen.session.messages:
            return

        async def cleared(sure: bool | None) -> None:
            if sure and screen.session.messages:
                screen.model.queued_for = None  # its question is gone
                screen.session.truncate_from(screen.session.messages[0])
                await screen.log_view.show([])
                screen.schedule_count()

        screen.app.push_screen(ConfirmScreen("Remove every message of this conversation?"), cleared)

    def rename(self) -> None:
        screen = self.screen
        conversation = screen.session.conversation
        if conversation is None:
            screen.notify("Send a message first: a new conversation is saved with its first question.")
            return

        def renamed(title: str | None) -> None:
            if title:
                screen.session.rename(title)
                self.refresh_sidebar()

        screen.app.push_screen(AskScreen("Rename conversation", conversation.title), renamed)

    def delete_current(self) -> None:
        if self.screen.session.conversation is None:
            self.screen.notify("This conversation is not saved yet: nothing to delete.")
            return
        self.delete(self.screen.session.conversation.id)

    def delete(self, conversation_id: int) -> None:
        screen = self.screen
        conversation = screen.session.store.conversation(conversation_id)
        if conversation is None or not screen.idle("deleting"):
            return

        async def deleted(sure: bool | None) -> None:
            if not sure:
                return
            screen.session.store.delete(conversation_id)
            if screen.model.queued_for == conversation_id:
                screen.model.queued_for = None  # its question is gone
            if screen.session.conversation and screen.session.conversation.id == conversation_id:
                screen.session.new()
                await screen.show_conversation()
            self.refresh_sidebar()
            screen.notify(f"Deleted “{conversation.title}”.", markup=False)

        screen.app.push_screen(ConfirmScreen(f"Delete “{conversation.title}” for good?"), deleted)

    def export(self) -> None:
        screen = self.screen
        conversation = screen.session.conversation
        if conversation is None:
            screen.notify("Nothing to export yet.")
            return
        slug = re.sub(r"[^A-Za-z0-9]+", "-", conversation.title).strip("-").lower()[:40] or "conversation"

        def export(path: str | None) -> None:
            if path:
                text = conversation_markdown(conversation, screen.session.store.messages(conversation.id))
                screen.code.write_file(path, text, "Exported the conversation")

        screen.app.push_screen(AskScreen("Export to Markdown file", str(Path.cwd() / f"{slug}.md")), export)

    def refresh_sidebar(self) -> None:
        """List the conversations; if they cannot be read, say so and let the caller go on (send, say)."""
        screen = self.screen
        sidebar = screen.query_one(Sidebar)
        current = screen.session.conversation.id if screen.session.conversation else None
        try:
            found = screen.session.store.conversations(sidebar.query_text)
        except UserError as exc:
            screen.notify(str(exc), title="Conversations could not be read", severity="error", timeout=15,
                          markup=False)
            return
        sidebar.show(found, current)
