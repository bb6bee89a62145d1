"""Before a command runs: the command in full, where it runs, and who wrote it; y or Enter runs it."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from opencoder_local.terminal_text import printable


class RunConfirmScreen(ModalScreen[bool]):
    BINDINGS = [Binding("y,enter", "answer(True)", "Run", priority=True),
                Binding("n,escape", "answer(False)", "Cancel", priority=True)]

    def __init__(self, command: str, folder: str, source: str):
        super().__init__()
        self.command = command
        self.folder = folder
        self.source = source  # "you typed", "the model proposed", "the project's test command"

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(printable(f"Run this command ({self.source}) in {self.folder}?"), classes="question",
                        markup=False)
            with VerticalScroll(classes="command"):
                yield Static(printable(self.command), id="command", markup=False)  # in full: every line of it
            yield Label("y or Enter runs it · n or Esc cancels", classes="hint")

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)
