"""Choose one of the conversation's code blocks (newest first)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.content import Content
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList
from textual.widgets.option_list import Option

from opencoder_local.context.code_blocks import CodeBlock


class CodePickerScreen(ModalScreen[CodeBlock | None]):
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, title: str, blocks: list[CodeBlock]):
        super().__init__()
        self.title_text = title
        self.blocks = blocks

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.title_text, classes="question", markup=False)
            yield OptionList(*(Option(Content(b.summary), id=str(i)) for i, b in enumerate(self.blocks)))
            yield Label("Enter to choose · Esc to cancel", classes="hint")

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(self.blocks[int(event.option.id)])

    def action_cancel(self) -> None:
        self.dismiss(None)
