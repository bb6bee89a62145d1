"""The multi-line question box: Enter sends; Ctrl+J (or Alt+Enter) inserts a newline; `@path` completes."""

from __future__ import annotations

import re
import unicodedata
from typing import Callable

from textual import events, on, work
from textual.binding import Binding
from textual.message import Message
from textual.widgets import TextArea
from textual.widgets.text_area import Location

from opencoder_local.tui.widgets.path_completion import PathCompletions

AT_WORD = re.compile(r"(?:^|(?<=\s))@([^\s@]*)$")  # an @word ending at the cursor
COMPLETIONS = 8  # paths the dropdown offers
NEWLINE_KEYS = ("ctrl+j", "alt+enter", "shift+enter")
Completer = Callable[[str, int], list[str]]  # (the @word, how many) -> paths, best first; may be slow


class PromptInput(TextArea):
    # Most terminals send the same code for Shift+Enter as for Enter, so the newline key is
    # Ctrl+J (a plain line feed, distinct everywhere); Shift+Enter works where the terminal tells them apart.
    BINDINGS = [Binding(",".join(NEWLINE_KEYS), "newline", "Newline", key_display="^J")]

    class Submitted(Message):
        def __init__(self, prompt: "PromptInput", text: str):
            super().__init__()
            self.prompt = prompt
            self.text = text

    class Completed(Message, bubble=False):
        def __init__(self, word: str, matches: list[str]):
            super().__init__()
            self.word = word
            self.matches = matches

    def __init__(self, completions: PathCompletions | None = None, completer: Completer | None = None, **kwargs):
        super().__init__(soft_wrap=True, show_line_numbers=False, tab_behavior="focus", **kwargs)
        self.completions = completions
        self.completer = completer
        # Typed text waiting for one insert: a burst of key events (a paste in a terminal without
        # bracketed paste, `xdotool type`) costs one re-wrap of the line, not one per key.
        self._typed: list[str] = []

    def at_word(self) -> tuple[Location, str] | None:
        """The `@word` the cursor is at the end of, and where its @ is; None when there is none."""
        if self.selection.start != self.selection.end:
            return None
        row, column = self.cursor_location
        found = AT_WORD.search(self.document.get_line(row)[:column])
        return ((row, found.start()), found.group(1)) if found else None

    def accept_completion(self, path: str) -> None:
        """Put `@path ` in place of the @word at the cursor."""
        word = self.at_word()
        if word is not None:
            self.replace(f"@{path} ", word[0], self.cursor_location, maintain_selection_offset=False)
        if self.completions is not None:
            self.completions.close()

    @on(TextArea.Changed)
    @on(TextArea.SelectionChanged)
    def _complete(self) -> None:
        """Offer paths for the @word at the cursor, found in a worker (a big project takes a while)."""
        if self.completions is None or self.completer is None:
            return
        word = self.at_word()
        if word is None:
            self.completions.close()
        elif word[1] != self.completions.word:
            self._find_completions(word[1])

    @work(thread=True, exclusive=True, group="complete")
    def _find_completions(self, word: str) -> None:
        self.post_message(self.Completed(word, self.completer(word, COMPLETIONS)))

    def on_prompt_input_completed(self, message: Completed) -> None:
        word = self.at_word()
        if self.completions is not None and word is not None and word[1] == message.word:  # still that word
            self.completions.show(message.word, message.matches)

    def _completion_open(self) -> bool:
        return self.completions is not None and self.completions.is_open

    def _completion_key(self, key: str) -> bool:
        """While the dropdown is open, Tab or Enter accepts, Up and Down choose, Esc closes it."""
        dropdown = self.completions
        if dropdown is None or not dropdown.is_open:
            return False
        if key in ("tab", "enter") and (path := dropdown.chosen()):
            self.accept_completion(path)
        elif key in ("up", "down"):
            dropdown.move(-1 if key == "up" else 1)
        elif key == "escape":
            dropdown.close()
        else:
            return False
        return True

    def flush_typed(self) -> None:
        """Insert the typed characters not yet in the document, as one edit."""
        if not self._typed:
            return
        text = "".join(self._typed)
        self._typed.clear()
        if not self.read_only:
            self.replace(text, *self.selection, maintain_selection_offset=False)

    def _buffer_typed(self, character: str) -> None:
        if not self._typed:
            # Runs after the key events already queued: the whole burst lands in one insert.
            self.call_later(self.flush_typed)
        self._typed.append(character)

    @property
    def text(self) -> str:  # what is in the document (rendering reads it too: no flush here)
        return TextArea.text.fget(self)

    @text.setter
    def text(self, value: str) -> None:
        self._typed.clear()
        self.load_text(value)

    def clear(self):
        self._typed.clear()
        return super().clear()

    async def _on_paste(self, event: events.Paste) -> None:
        self.flush_typed()
        await super()._on_paste(event)

    async def _on_key(self, event: events.Key) -> None:
        if _buffered(event) and not self.read_only:
            # Printable text (and text str.isprintable() refuses but is not a control key: a typed
            # zero-width joiner, bidi mark, no-break space or private-use icon would vanish from
            # TextArea's own path) waits for the rest of the burst.
            self._restart_blink()
            event.stop()
            event.prevent_default()
            self._buffer_typed(event.character)
            return
        if event.key in NEWLINE_KEYS and not self.read_only and not self._completion_open():
            # Here rather than by the binding alone: a binding runs once the key has bubbled up to
            # the app, after the keys typed behind it (a burst would come out reordered).
            event.stop()
            event.prevent_default()
            self._buffer_typed("\n")
            return
        self.flush_typed()  # every other key acts on the text typed before it
        if self._completion_key(event.key):
            event.stop()
            event.prevent_default()
            return
        if event.key == "enter":
            event.stop()
            event.prevent_default()
            self.post_message(self.Submitted(self, self.text))  # typed text flushed above
            return
        await super()._on_key(event)

    def action_newline(self) -> None:
        self.flush_typed()
        self.insert("\n")


def _buffered(event: events.Key) -> bool:
    """A key that only adds its text where the cursor is (Enter and Tab are not such keys)."""
    return event.character is not None and event.key not in ("enter", "tab") and (
        event.is_printable or _typed_text(event))


def _typed_text(event: events.Key) -> bool:
    """A key that carries text str.isprintable() refuses but is not a control key (Ctrl+A, Esc, Tab)."""
    character = event.character
    return (character is not None and not character.isprintable()
            and not any(unicodedata.category(c) == "Cc" for c in character))
