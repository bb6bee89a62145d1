"""Files the project map ranks highest for the draft, not yet in the conversation: one key adds them."""

from __future__ import annotations

from typing import Sequence

from textual.content import Content
from textual.widget import Widget

from opencoder_local.terminal_text import printable

GAP = Content("   ")


class SuggestionChips(Widget):
    """One line under the question box; hidden while there is nothing to suggest."""

    DEFAULT_CSS = """
    SuggestionChips { height: 1; padding: 0 1; }
    """

    def __init__(self, key: str = "F3", **kwargs):
        super().__init__(**kwargs)
        self.key = key  # the key that adds them, as the chat screen binds it
        self.files: tuple[str, ...] = ()
        self.display = False

    def show(self, files: Sequence[str]) -> None:
        self.files = tuple(files)
        self.display = bool(self.files)
        self.refresh()

    def render(self) -> Content:
        chips = [Content.styled(printable(path), "$accent") for path in self.files]
        return Content.assemble(("suggested", "bold $text-muted"), GAP, GAP.join(chips), GAP,
                                (f"{self.key} adds {'them' if len(self.files) > 1 else 'it'}", "$text-muted"))
