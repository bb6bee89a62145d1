"""The conversation's working set as chips: each file with its tokens and state, above the question."""

from __future__ import annotations

from typing import Sequence

from textual.content import Content
from textual.geometry import Size
from textual.widget import Widget

from opencoder_local.context.working_set import CHANGED, CURRENT, MISSING, FileEntry
from opencoder_local.terminal_text import printable

MAX_LINES = 3  # more files than fit are counted on the last line: /files lists them all
GAP = Content("   ")
_STATES = {  # state -> (mark, its style, the word shown after the tokens)
    CURRENT: ("●", "$success", ""),
    CHANGED: ("●", "$warning", "changed"),
    MISSING: ("✗", "$error", "missing"),
}


def chip(entry: FileEntry) -> Content:
    """One file: its mark, its path (with the line range), what it costs, and its state if not current."""
    mark, style, word = _STATES.get(entry.state, ("?", "$error", entry.state))
    parts: list[tuple[str, str] | str] = [(mark, style), " ", (printable(entry.spec), "strike" if entry.state == MISSING else "")]
    if entry.state != MISSING:
        parts += [" ", (f"{entry.tokens:,}", "$text-muted")]
    if word:
        parts += [" ", (word, style)]
    if entry.warning and entry.state != MISSING:
        parts += [" ", ("⚠", "$warning")]
    return Content.assemble(*parts)


def pack(chips: Sequence[Content], width: int) -> list[list[Content]]:
    """Chips in lines of at most `width` cells (a chip is never split), at most MAX_LINES of them."""
    lines: list[list[Content]] = [[]]
    for index, item in enumerate(chips):
        line = lines[-1]
        if line and sum(c.cell_length for c in line) + GAP.cell_length * len(line) + item.cell_length > width:
            if len(lines) == MAX_LINES:
                return _with_more(lines, len(chips) - index, width)
            lines.append(line := [])
        line.append(item)
    return lines


def _with_more(lines: list[list[Content]], left: int, width: int) -> list[list[Content]]:
    """The last line ends with how many files are not shown (chips make room for it)."""
    last = lines[-1]
    while True:
        more = Content.styled(f"+{left:,} more (/files)", "$text-muted")
        used = sum(c.cell_length + GAP.cell_length for c in last)
        if used + more.cell_length <= width or len(last) <= 1:
            return lines[:-1] + [[*last, more]]
        last = last[:-1]
        left += 1


class FileChips(Widget):
    """Shows what it is given, wrapped a whole chip at a time; hidden while the working set is empty."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._chips: list[Content] = []
        self.display = False

    def show(self, entries: Sequence[FileEntry]) -> None:
        self.display = bool(entries)
        self._chips = [Content.styled("files", "bold $text-muted"), *map(chip, entries)]
        self.refresh(layout=True)

    def _lines(self, width: int) -> Content:
        return Content("\n").join(GAP.join(line) for line in pack(self._chips, max(width, 1)))

    def render(self) -> Content:
        return self._lines(self.content_size.width)

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return len(pack(self._chips, max(width, 1)))
