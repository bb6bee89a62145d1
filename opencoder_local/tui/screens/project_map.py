"""The project map the next question carries, as the model will read it (`/map`)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from opencoder_local.context.repo_map import RepoMap


class ProjectMapScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q", "close", "Close")]

    def __init__(self, found: RepoMap, notices: list[str]):
        super().__init__()
        self.found = found
        self.notices = notices

    def compose(self) -> ComposeResult:
        files = len(self.found.files)
        with VerticalScroll(classes="dialog help"):
            yield Label(f"Project map: {files:,} file{'s' if files != 1 else ''}, {self.found.tokens:,} tokens",
                        classes="question")
            yield Static(self.found.text, markup=False)
            for notice in self.notices:
                yield Static(notice, classes="hint", markup=False)
            yield Label("Esc to close", classes="hint")

    def action_close(self) -> None:
        self.dismiss(None)
