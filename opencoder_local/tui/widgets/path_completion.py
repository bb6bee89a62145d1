"""The dropdown of project paths for the `@word` being typed; the question box keeps the focus and drives it."""

from __future__ import annotations

from textual.content import Content
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from opencoder_local.terminal_text import printable


class PathCompletions(OptionList):
    can_focus = False  # typing goes on in the question box; it moves the highlight and accepts

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.word: str | None = None  # the @word these matches are for
        self.display = False

    @property
    def is_open(self) -> bool:
        return self.display and self.option_count > 0

    def show(self, word: str, matches: list[str]) -> None:
        """Offer `matches` for `@word`, the best one highlighted; closed when there are none."""
        self.word = word
        self.clear_options()
        self.add_options([Option(Content(printable(path)), id=path) for path in matches])
        self.display = bool(matches)
        if matches:
            self.highlighted = 0

    def close(self) -> None:
        self.word = None
        self.display = False
        self.clear_options()

    def move(self, step: int) -> None:
        if self.is_open:
            self.highlighted = ((self.highlighted or 0) + step) % self.option_count

    def chosen(self) -> str | None:
        if not self.is_open or self.highlighted is None:
            return None
        return self.get_option_at_index(self.highlighted).id
