"""Start, open, clear, rename, delete and export conversations; keep the sidebar's list current."""

from __future__ import annotations

import re
from pathlib import Path

from opencoder_local.errors import UserError
from opencoder_local.store.export import conversation_markdown
from opencoder_local.tui.flows.host import ChatHost
from opencoder_local.tui.flows.model import ModelFlow
from opencoder_local.tui.flows.saving import CodeFlow
from opencoder_local.tui.screens.ask import AskScreen
from opencoder_local.tui.screens.confirm import ConfirmScreen


class ConversationFlow:
    def __init__(self, host: ChatHost, model: ModelFlow, code: CodeFlow):
        self.host = host
        self._model = model  # holds a question waiting for the model: told when its conversation goes
        self._code = code  # writes the export

    async def new(self) -> None:
        host = self.host
        if not host.idle("starting a new conversation"):
            return
        self._model.leave()
        host.session.new()
        await host.show_conversation()
        self.refresh_sidebar()
        host.prompt_input.focus()

    async def open(self, conversation_id: int) -> None:
        host = self.host
        if not host.idle("switching conversations"):
            return
        self._model.leave(conversation_id)
        if host.session.open(conversation_id):
            await host.show_conversation()
            host.prompt_input.focus()

    def clear(self) -> None:
        host = self.host
        if not host.idle("clearing") or not host.session.messages:
            return

        async def cleared(sure: bool | None) -> None:
            if sure and host.session.messages:
                self._model.question_gone(host.session.messages[0].conversation_id)
                host.session.truncate_from(host.session.messages[0])
                await host.log_view.show([])
                host.schedule_count()

        host.app.push_screen(ConfirmScreen("Remove every message of this conversation?"), cleared)

    def rename(self) -> None:
        host = self.host
        conversation = host.session.conversation
        if conversation is None:
            host.notify("Send a message first: a new conversation is saved with its first question.")
            return

        def renamed(title: str | None) -> None:
            if title:
                host.session.rename(title)
                self.refresh_sidebar()

        host.app.push_screen(AskScreen("Rename conversation", conversation.title), renamed)

    def delete_current(self) -> None:
        if self.host.session.conversation is None:
            self.host.notify("This conversation is not saved yet: nothing to delete.")
            return
        self.delete(self.host.session.conversation.id)

    def delete(self, conversation_id: int) -> None:
        host = self.host
        conversation = host.session.store.conversation(conversation_id)
        if conversation is None or not host.idle("deleting"):
            return

        async def deleted(sure: bool | None) -> None:
            if not sure:
                return
            host.session.store.delete(conversation_id)
            self._model.question_gone(conversation_id)
            if host.session.conversation and host.session.conversation.id == conversation_id:
                host.session.new()
                await host.show_conversation()
            self.refresh_sidebar()
            host.notify(f"Deleted “{conversation.title}”.", markup=False)

        host.app.push_screen(ConfirmScreen(f"Delete “{conversation.title}” for good?"), deleted)

    def export(self) -> None:
        host = self.host
        conversation = host.session.conversation
        if conversation is None:
            host.notify("Nothing to export yet.")
            return
        slug = re.sub(r"[^A-Za-z0-9]+", "-", conversation.title).strip("-").lower()[:40] or "conversation"

        def export(path: str | None) -> None:
            if path:
                text = conversation_markdown(conversation, host.session.store.messages(conversation.id))
                self._code.write_file(path, text, "Exported the conversation")

        host.app.push_screen(AskScreen("Export to Markdown file", str(Path.cwd() / f"{slug}.md")), export)

    def refresh_sidebar(self) -> None:
        """List the conversations; if they cannot be read, say so and let the caller go on (send, say)."""
        host = self.host
        sidebar = host.sidebar
        current = host.session.conversation.id if host.session.conversation else None
        try:
            found = host.session.store.conversations(sidebar.query_text)
        except UserError as exc:
            host.notify(str(exc), title="Conversations could not be read", severity="error", timeout=15,
                        markup=False)
            return
        sidebar.show(found, current)
