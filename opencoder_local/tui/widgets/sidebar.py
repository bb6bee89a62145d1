"""The conversation list with a search box; it shows what the screen gives it."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.message import Message
from textual.widgets import Input, OptionList
from textual.widgets.option_list import Option

from opencoder_local.store import Conversation
from opencoder_local.terminal_text import printable


class Sidebar(Vertical):
    BORDER_TITLE = "Conversations"

    class Selected(Message):
        def __init__(self, conversation_id: int):
            super().__init__()
            self.conversation_id = conversation_id

    class Search(Message):
        def __init__(self, query: str):
            super().__init__()
            self.query = query

    class DeleteRequested(Message):
        def __init__(self, conversation_id: int):
            super().__init__()
            self.conversation_id = conversation_id

    def compose(self) -> ComposeResult:
        yield Input(placeholder="Search…", id="search")
        yield ConversationList(id="conversations")

    @property
    def query_text(self) -> str:
        return self.query_one("#search", Input).value

    def show(self, conversations: list[Conversation], current: int | None) -> None:
        listing = self.query_one(ConversationList)
        listing.clear_options()
        listing.add_options([Option(Content(printable(c.title)), id=str(c.id)) for c in conversations])
        if current is not None and any(c.id == current for c in conversations):
            listing.highlighted = listing.get_option_index(str(current))

    def focus_search(self) -> None:
        self.query_one("#search", Input).focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self.post_message(self.Search(event.value))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.query_one(ConversationList).focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.post_message(self.Selected(int(event.option.id)))


class ConversationList(OptionList):
    BINDINGS = [Binding("delete", "delete_highlighted", "Delete chat")]

    def action_delete_highlighted(self) -> None:
        if self.highlighted is not None:
            option = self.get_option_at_index(self.highlighted)
            self.post_message(Sidebar.DeleteRequested(int(option.id)))
