"""The commit message, drafted by the model or empty, for the user to edit before /commit uses it."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, TextArea

from opencoder_local.terminal_text import printable


class CommitMessageScreen(ModalScreen[str | None]):
    """Ctrl+S commits with the message as edited; Esc cancels (nothing is committed)."""

    BINDINGS = [Binding("ctrl+s", "commit", "Commit", priority=True), Binding("escape", "cancel", "Cancel")]

    def __init__(self, files: list[str], draft: str):
        super().__init__()
        self.files = files
        self.draft = draft

    def compose(self) -> ComposeResult:
        shown = ", ".join(self.files[:8]) + (f" and {len(self.files) - 8} more" if len(self.files) > 8 else "")
        with Vertical(classes="dialog commit"):
            yield Label(printable(f"Commit {shown} with this message:"), classes="question", markup=False)
            yield TextArea(printable(self.draft), soft_wrap=True, id="message")
            yield Label("Ctrl+S commits · Esc cancels", classes="hint")

    def on_mount(self) -> None:
        area = self.query_one(TextArea)
        area.focus()
        area.move_cursor(area.document.end)

    @property
    def text(self) -> str:
        return self.query_one(TextArea).text

    def action_commit(self) -> None:
        message = self.text.strip()
        if not message:
            self.notify("Write a message first (or Esc to cancel).", severity="warning")
            return
        self.dismiss(message)

    def action_cancel(self) -> None:
        self.dismiss(None)
