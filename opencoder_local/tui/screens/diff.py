"""The changes the applied edits made since the last commit, highlighted as a diff (/diff)."""

from __future__ import annotations

from rich.syntax import Syntax
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from opencoder_local.terminal_text import printable_lines

SHOWN_LINES = 5_000  # a longer diff is cut here (git diff in a terminal shows it all)


class DiffScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q", "close", "Close")]

    def __init__(self, title: str, diff: str):
        super().__init__()
        self.title_text = title
        self.diff = diff

    def compose(self) -> ComposeResult:
        lines = self.diff.splitlines(keepends=True)
        shown = printable_lines("".join(lines[:SHOWN_LINES]))  # file text: its ESC must not reach the terminal
        with Vertical(classes="dialog diff"):
            yield Label(self.title_text, classes="question", markup=False)
            with VerticalScroll():
                yield Static(Syntax(shown, "diff", theme="ansi_dark", word_wrap=False, background_color="default"))
            more = f"{len(lines) - SHOWN_LINES:,} more lines not shown (git diff shows them) · " if len(lines) > SHOWN_LINES else ""
            yield Label(f"{more}Esc or q closes", classes="hint", markup=False)

    def action_close(self) -> None:
        self.dismiss(None)
