"""Review proposed file edits one file after another: the unified diff, highlighted, hunk by hunk.

y accepts the file (the chosen hunks), n rejects it, Space chooses a hunk, a accepts every file
left at once, Esc leaves the rest for later. A new file is created only after its path is confirmed.
The screen decides; the caller writes (context/apply.py), and reopens it for a file that changed."""

from __future__ import annotations

from dataclasses import dataclass

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.content import Content
from textual.highlight import highlight
from textual.reactive import reactive
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Label

from opencoder_local.context.apply import PlannedChange
from opencoder_local.context.code_blocks import language_for
from opencoder_local.context.diffs import FileDiff, Hunk
from opencoder_local.terminal_text import printable
from opencoder_local.tui.screens.confirm import ConfirmScreen
from opencoder_local.tui.widgets.key_footer import KeyFooter

_LOOKS = {" ": ("  ", ""), "-": ("- ", "on $error-muted"), "+": ("+ ", "on $success-muted")}


@dataclass(frozen=True)
class Decision:
    change: PlannedChange
    text: str | None  # the text to write (all hunks or those chosen); None: rejected


def hunk_content(diff: FileDiff, hunk: Hunk, language: str) -> Content:
    """A hunk's lines highlighted as code, the removed ones on red, the added ones on green."""
    shown = diff.hunk_lines(hunk)
    sides = {}
    for side, marks in (("old", " -"), ("new", " +")):
        code = [printable(text) for mark, text in shown if mark in marks]  # the file's ESC stays on screen as \x1b
        lit = highlight("\n".join(code), language=language or "text").split("\n", allow_blank=True)
        sides[side] = iter(lit + [Content("")] * (len(code) - len(lit)))  # a last blank line may be dropped
    lines = []
    for mark, _text in shown:
        line = next(sides["new"]) if mark == "+" else next(sides["old"])
        if mark == " ":
            next(sides["new"])
        prefix, style = _LOOKS[mark]
        lines.append(Content.assemble((prefix, "bold"), line).stylize_before(style) if style
                     else Content.assemble(prefix, line))
    return Content("\n").join(lines)


class HunkView(Widget, can_focus=True):
    """One hunk; Space (or a click) chooses it or leaves it out."""

    chosen: reactive[bool] = reactive(True)

    def __init__(self, diff: FileDiff, hunk: Hunk, language: str):
        super().__init__()
        self.body = hunk_content(diff, hunk, language)
        self.header = hunk.header

    def render(self) -> Content:
        box = "[x]" if self.chosen else "[ ]"
        head = Content.assemble((f"{box} ", "bold"), (self.header, "$accent"))
        return Content("\n").join([head, self.body])

    def watch_chosen(self, chosen: bool) -> None:
        self.set_class(not chosen, "-left-out")

    def on_click(self) -> None:
        self.chosen = not self.chosen


class ReviewScreen(Screen[list[Decision]]):
    """Dismissed with a decision for each file reviewed; files left (Esc) have none."""

    BINDINGS = [
        Binding("y", "accept", "Accept file"),
        Binding("n", "reject", "Reject file"),
        Binding("space", "toggle_hunk", "Choose hunk"),
        Binding("a", "accept_all", "Accept all"),
        Binding("escape", "later", "Later"),
        Binding("j,down", "next_hunk", "Next hunk", show=False),
        Binding("k,up", "previous_hunk", "Previous hunk", show=False),
    ]

    def __init__(self, changes: list[PlannedChange], note: str = ""):
        super().__init__()
        self.changes = changes
        self.note = note
        self.index = 0
        self.decisions: list[Decision] = []

    def compose(self) -> ComposeResult:
        yield Label(id="title", markup=False)
        yield Label(printable(self.note), id="note", markup=False)
        yield VerticalScroll(id="hunks")
        yield Label("y accept · n reject · Space choose a hunk · a accept all files · Esc later", id="hint")
        yield KeyFooter()

    async def on_mount(self) -> None:
        self.query_one("#note").display = bool(self.note)
        await self._show()

    @property
    def change(self) -> PlannedChange:
        return self.changes[self.index]

    async def _show(self) -> None:
        change = self.change
        what = "new file " if change.is_new else ""
        of = f"Edit {self.index + 1} of {len(self.changes)} · " if len(self.changes) > 1 else ""
        self.query_one("#title", Label).update(
            f"{of}{what}{printable(change.path)}  +{change.diff.added} −{change.diff.removed}"
            + ("  (no change: the file already holds this text)" if not change.diff.hunks else ""))
        hunks = self.query_one("#hunks", VerticalScroll)
        await hunks.remove_children()
        language = language_for(change.path)
        await hunks.mount_all(HunkView(change.diff, hunk, language) for hunk in change.diff.hunks)
        hunks.scroll_home(animate=False)
        views = list(hunks.query(HunkView))
        if views:
            views[0].focus()

    def _chosen(self) -> list[int]:
        return [i for i, view in enumerate(self.query(HunkView)) if view.chosen]

    async def _decide(self, text: str | None) -> None:
        self.decisions.append(Decision(self.change, text))
        self.index += 1
        if self.index == len(self.changes):
            self.dismiss(self.decisions)
        else:
            await self._show()

    async def action_accept(self) -> None:
        change, chosen = self.change, self._chosen()
        text = change.new if len(chosen) == len(change.diff.hunks) else change.diff.with_hunks(chosen)

        async def confirmed(sure: bool | None) -> None:
            if sure:
                await self._decide(text)

        if change.is_new:
            self.app.push_screen(ConfirmScreen(f"Create the new file {change.path}?"), confirmed)
        else:
            await self._decide(text)

    async def action_reject(self) -> None:
        await self._decide(None)

    def action_accept_all(self) -> None:
        left = self.changes[self.index:]
        new = [change.path for change in left if change.is_new]

        def confirmed(sure: bool | None) -> None:
            if new and not sure:
                return
            self.decisions += [Decision(change, change.new) for change in left]
            self.dismiss(self.decisions)

        if new:
            self.app.push_screen(ConfirmScreen(f"Accept all {len(left)} files, creating {', '.join(new)}?"),
                                 confirmed)
        else:
            confirmed(True)

    def action_later(self) -> None:
        self.dismiss(self.decisions)

    def action_toggle_hunk(self) -> None:
        if isinstance(self.focused, HunkView):
            self.focused.chosen = not self.focused.chosen

    def action_next_hunk(self) -> None:
        self.focus_next(HunkView)

    def action_previous_hunk(self) -> None:
        self.focus_previous(HunkView)
