"""The multi-line question box: Enter sends; Ctrl+J (or Alt+Enter) inserts a newline."""

from __future__ import annotations

import unicodedata

from textual import events
from textual.binding import Binding
from textual.message import Message
from textual.widgets import TextArea


class PromptInput(TextArea):
    # Most terminals send the same code for Shift+Enter as for Enter, so the newline key is
    # Ctrl+J (a plain line feed, distinct everywhere); Shift+Enter works where the terminal tells them apart.
    BINDINGS = [Binding("ctrl+j,alt+enter,shift+enter", "newline", "Newline", key_display="^J")]

    class Submitted(Message):
        def __init__(self, prompt: "PromptInput", text: str):
            super().__init__()
            self.prompt = prompt
            self.text = text

    def __init__(self, **kwargs):
        super().__init__(soft_wrap=True, show_line_numbers=False, tab_behavior="focus", **kwargs)

    async def _on_key(self, event: events.Key) -> None:
        if event.key == "enter":
            event.stop()
            event.prevent_default()
            self.post_message(self.Submitted(self, self.text))
            return
        if _typed_text(event) and not self.read_only:
            # TextArea inserts only what str.isprintable() accepts, so a typed zero-width joiner,
            # bidi mark, no-break space or private-use icon would vanish (a pasted one survives).
            event.stop()
            event.prevent_default()
            self.replace(event.character, *self.selection, maintain_selection_offset=False)
            return
        await super()._on_key(event)

    def action_newline(self) -> None:
        self.insert("\n")


def _typed_text(event: events.Key) -> bool:
    """A key that carries text str.isprintable() refuses but is not a control key (Ctrl+A, Esc, Tab)."""
    character = event.character
    return (character is not None and not character.isprintable()
            and not any(unicodedata.category(c) == "Cc" for c in character))
