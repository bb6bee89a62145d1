"""The conversation's working set as chips: each file with its tokens and state, above the question."""

from __future__ import annotations

from typing import Sequence

from textual.content import Content
from textual.widgets import Static

from opencoder_local.context.working_set import FileEntry

NBSP = "\u00a0"  # inside a chip: a chip wraps to the next line whole
_STATES = {  # state -> (mark, its style, the word shown after the tokens)
    "current": ("●", "$success", ""),
    "changed": ("●", "$warning", "changed"),
    "missing": ("✗", "$error", "missing"),
}


def chip(entry: FileEntry) -> Content:
    """One file: its mark, its path (with the line range), what it costs, and its state if not current."""
    mark, style, word = _STATES.get(entry.state, ("?", "$error", entry.state))
    name = entry.path if entry.lines is None else f"{entry.path}:{entry.lines[0]}-{entry.lines[1]}"
    parts: list[Content | tuple[str, str] | str] = [(mark, style), NBSP, (name.replace(" ", NBSP), "strike" if entry.state == "missing" else "")]
    if entry.state != "missing":
        parts += [NBSP, (f"{entry.tokens:,}", "$text-muted")]
    if word:
        parts += [NBSP, (word, style)]
    if entry.warning and entry.state != "missing":
        parts += [NBSP, ("⚠", "$warning")]
    return Content.assemble(*parts)


class FileChips(Static):
    """Shows what it is given; hidden while the working set is empty."""

    def __init__(self, **kwargs):
        super().__init__(markup=False, **kwargs)
        self.display = False

    def show(self, entries: Sequence[FileEntry]) -> None:
        self.display = bool(entries)
        self.update(Content("   ").join([Content.styled("files", "bold $text-muted"), *map(chip, entries)]))
