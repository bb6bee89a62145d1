"""Every slash command and key of the chat, from the tables and bindings the app itself runs on."""

from __future__ import annotations

from typing import Sequence

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from opencoder_local.tui.commands import ESCAPES, SlashCommand


def _rows(rows: Sequence[tuple[str, str]]) -> Content:
    width = max((len(left) for left, _ in rows), default=0) + 2
    return Content("\n").join(Content.assemble((left.ljust(width), "bold $accent"), right) for left, right in rows)


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,f1,q", "close", "Close")]

    def __init__(self, commands: Sequence[SlashCommand], keys: Sequence[tuple[str, str]]):
        super().__init__()
        self.commands = commands
        self.keys = keys

    def compose(self) -> ComposeResult:
        commands = [(c.usage, c.help) for c in self.commands]
        commands.append(("@path", "in a message: adds that file too (type @ to pick one; Tab or Enter accepts)"))
        with VerticalScroll(classes="dialog help"):
            yield Label("Slash commands (in the question box)", classes="question")
            yield Static(_rows(commands), markup=False)
            yield Static(ESCAPES, classes="hint", markup=False)
            yield Label("Keys", classes="question section")
            yield Static(_rows(self.keys), markup=False)
            yield Label("Esc to close", classes="hint")

    def action_close(self) -> None:
        self.dismiss(None)
