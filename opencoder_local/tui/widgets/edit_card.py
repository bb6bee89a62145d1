"""A file edit an answer proposes, as one line under that answer: the file, +/- lines and its state."""

from __future__ import annotations

from textual.binding import Binding
from textual.content import Content
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget

from opencoder_local.context.apply import EditRefused, PlannedChange
from opencoder_local.context.edits import ProposedEdit
from opencoder_local.terminal_text import printable

PENDING, APPLIED, REJECTED, UNDONE, FAILED = "pending", "applied", "rejected", "undone", "failed"
_LOOKS = {  # state -> (mark, style, what follows the path)
    PENDING: ("✎", "$accent", "Enter or click: review the diff"),
    APPLIED: ("✓", "$success", "applied · /undo restores it"),
    REJECTED: ("✗", "$text-muted", "rejected · Enter: review it again"),
    UNDONE: ("↶", "$warning", "undone · Enter: review it again"),
}


class EditCard(Widget, can_focus=True):
    """Focus it and press Enter (or click it) to open it: a review, or for a failed edit a new question."""

    BINDINGS = [Binding("enter", "open", "Open", show=False)]

    state: reactive[str] = reactive(PENDING)

    class Opened(Message):
        def __init__(self, card: "EditCard"):
            super().__init__()
            self.card = card

    def __init__(self, edit: ProposedEdit, message_id: int | None, state: str = PENDING,
                 change: PlannedChange | None = None, problem: EditRefused | None = None):
        super().__init__()
        self.edit = edit
        self.message_id = message_id
        self.change = change
        self.problem = problem
        self.set_reactive(EditCard.state, FAILED if problem is not None else state)

    def fail(self, problem: EditRefused) -> None:
        self.problem, self.change = problem, None
        self.state = FAILED

    def plan(self, change: PlannedChange, state: str = PENDING) -> None:
        self.problem, self.change = None, change
        self.state = state

    def render(self) -> Content:
        if self.state == FAILED and self.problem is not None:
            then = " · Enter: ask the model again with the current file" if self.problem.ask_again else ""
            return Content.assemble(("⚠ ", "$error"), (printable(str(self.problem)), "$error"), (then, "$text-muted"))
        mark, style, then = _LOOKS[self.state]
        parts: list[tuple[str, str] | str] = [(f"{mark} ", style)]
        if self.change is not None and self.change.is_new:
            parts.append(("new file ", "bold"))
        parts.append((printable(self.edit.path), "bold"))  # a path from the answer
        if self.change is not None:
            parts += ["  ", (f"+{self.change.diff.added}", "$success"), " ", (f"−{self.change.diff.removed}", "$error")]
            if not self.change.diff.hunks:
                then = "no change: the file already holds this text"
        parts.append((f"  {then}", "$text-muted"))
        return Content.assemble(*parts)

    def watch_state(self) -> None:
        self.refresh()

    def on_click(self) -> None:
        self.post_message(self.Opened(self))

    def action_open(self) -> None:
        self.post_message(self.Opened(self))
