"""A command in the chat log: its command line, its output as it comes (bounded), and how it ended;
and a card under an answer for each command the answer proposes."""

from __future__ import annotations

import threading
from typing import Callable

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Label, Log, Static

from opencoder_local.terminal_text import printable

SHOWN_LINES = 2_000  # the block keeps the newest lines only: the model's copy is capped elsewhere
SHOWN_LINE_CHARS = 1_000  # a longer line is cut (a 100 MB line with no newline would be one widget line)
FRAME_LINES = 200  # the most one frame writes: a flood shows its newest lines, not 60,000 lines a second


class OutputTail:
    """Output on its way to the screen: the command's reader thread adds it, the screen takes it once a
    frame. Only the newest `max_lines` lines and the first `max_chars` of each line are kept, so a
    flood costs the screen a screenful, not the flood."""

    def __init__(self, wake: Callable[[], None], max_lines: int = SHOWN_LINES, max_chars: int = SHOWN_LINE_CHARS):
        self._wake = wake
        self.max_lines = max_lines
        self.max_chars = max_chars
        self._lock = threading.Lock()
        self._parts: list[str] = []
        self._newlines = 0  # in _parts
        self._column = 0  # characters of the current line so far (more than max_chars: cut)
        self.dropped = False  # lines were left out on the way

    def add(self, text: str) -> None:
        """From the reader thread; wakes the screen when the tail was empty."""
        with self._lock:
            text = self._clipped(text)
            woke = not self._parts
            self._parts.append(text)
            self._newlines += text.count("\n")
            if self._newlines > 2 * self.max_lines:
                self._parts = [self._last_lines("".join(self._parts))]
                self._newlines = self._parts[0].count("\n")
        if woke and text:
            self._wake()

    def take(self, max_lines: int | None = None) -> str:
        """What came since the last take: its newest `max_lines` lines (all that are kept, by default)."""
        with self._lock:
            text = "".join(self._parts)
            self._parts, self._newlines = [], 0
        return self._last_lines(text, max_lines)

    def _last_lines(self, text: str, max_lines: int | None = None) -> str:
        keep = self.max_lines if max_lines is None else min(max_lines, self.max_lines)
        if text.count("\n") <= keep:
            return text
        self.dropped = True
        return "\n".join(text.split("\n")[-keep - 1:])

    def _clipped(self, text: str) -> str:
        lines = text.split("\n")
        if len(lines) > self.max_lines + 1:
            lines = lines[-self.max_lines - 1:]
            self._column, self.dropped = 0, True
        for index, line in enumerate(lines):
            if index:
                self._column = 0
            if self._column > self.max_chars:
                lines[index] = ""
            elif self._column + len(line) > self.max_chars:
                lines[index] = line[: self.max_chars - self._column] + "…"
                self._column = self.max_chars + 1
            else:
                self._column += len(line)
        return "\n".join(lines)


class CommandBlock(Vertical):
    """One command run: `tail` takes the reader thread's output; the screen writes it once a frame."""

    class OutputWaiting(Message, bubble=False):
        """Output waits in the tail (posted by the reader thread when the tail was empty)."""

    def __init__(self, command: str, title: str = ""):
        super().__init__()
        self.command = command
        self.tail = OutputTail(lambda: self.post_message(self.OutputWaiting()))
        first = command.strip().splitlines()[0] if command.strip() else command
        more = " …" if len(command.strip().splitlines()) > 1 else ""
        self.border_title = printable(f"{title}$ {first[:100]}{more}")
        self.border_subtitle = "running · Esc stops it"

    def compose(self) -> ComposeResult:
        yield Log(max_lines=SHOWN_LINES, auto_scroll=True)
        yield Label("", classes="summary", markup=False)

    @property
    def shown(self) -> str:
        """The output as the block shows it now."""
        return "\n".join(self.query_one(Log).lines)

    def on_command_block_output_waiting(self) -> None:
        self.set_timer(1 / 30, self.flush)  # at most a frame's worth of writes: the tail keeps coming

    def flush(self) -> None:
        text = self.tail.take(FRAME_LINES)
        if text:
            self.query_one(Log).write(text)

    def finish(self, summary: str, hint: str = "", failed: bool = False) -> None:
        """The command ended: the rest of its output, then one line on how it ended."""
        self.flush()
        if self.tail.dropped:
            summary += "  (lines came faster than they can be read: the block left some out)"
        label = self.query_one(".summary", Label)
        label.update(printable(summary))
        label.set_class(failed, "-failed")
        self.border_subtitle = hint

    def note(self, hint: str) -> None:
        self.border_subtitle = hint


class LoopNote(Static):
    """A line in the log about the test-and-fix loop: a round begins, the loop ends and why."""

    def __init__(self, text: str):
        super().__init__(printable(text), markup=False)


class CommandCard(Widget, can_focus=True):
    """A command an answer proposes: Enter (or a click) runs it after a confirmation; c copies it."""

    BINDINGS = [Binding("enter,r", "choose(False)", "Run", show=False), Binding("c", "choose(True)", "Copy", show=False)]

    class Chosen(Message):
        def __init__(self, card: "CommandCard", copy: bool):
            super().__init__()
            self.card = card
            self.copy = copy

    def __init__(self, command: str, message_id: int | None):
        super().__init__()
        self.command = command
        self.message_id = message_id

    def render(self) -> Content:
        lines = self.command.splitlines() or [""]
        more = f" (+{len(lines) - 1} lines)" if len(lines) > 1 else ""
        return Content.assemble(("$ ", "$accent"), (printable(lines[0][:120]), "bold"), (more, "$text-muted"),
                                ("  Enter: run it (asks first) · c: copy", "$text-muted"))

    def on_click(self) -> None:
        self.post_message(self.Chosen(self, copy=False))

    def action_choose(self, copy: bool) -> None:
        self.post_message(self.Chosen(self, copy))
