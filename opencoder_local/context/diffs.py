"""A line diff of a file's old and new text: its hunks, the unified text, and the new text with only
the hunks a reviewer chose."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Collection

CONTEXT = 3  # unchanged lines around each hunk, as git shows
NO_NEWLINE = "\\ No newline at end of file"

Op = tuple[str, int, int, int, int]  # difflib's (tag, i1, i2, j1, j2)


@dataclass(frozen=True)
class Hunk:
    old_start: int  # 0-based first old line shown
    old_end: int
    new_start: int
    new_end: int
    ops: tuple[Op, ...]  # its opcodes, context included

    @property
    def header(self) -> str:
        return f"@@ -{_range(self.old_start, self.old_end)} +{_range(self.new_start, self.new_end)} @@"


@dataclass(frozen=True)
class FileDiff:
    old: list[str]  # lines with their ends
    new: list[str]
    ops: list[Op]  # every opcode, in order
    hunks: list[Hunk]

    @property
    def added(self) -> int:
        return sum(j2 - j1 for tag, _i1, _i2, j1, j2 in self.ops if tag in ("replace", "insert"))

    @property
    def removed(self) -> int:
        return sum(i2 - i1 for tag, i1, i2, _j1, _j2 in self.ops if tag in ("replace", "delete"))

    def hunk_lines(self, hunk: Hunk) -> list[tuple[str, str]]:
        """(" " | "-" | "+", line without its end) for each line the hunk shows."""
        shown: list[tuple[str, str]] = []
        for tag, i1, i2, j1, j2 in hunk.ops:
            if tag == "equal":
                shown += [(" ", _bare(line)) for line in self.old[i1:i2]]
                continue
            shown += [("-", _bare(line)) for line in self.old[i1:i2]]
            shown += [("+", _bare(line)) for line in self.new[j1:j2]]
        return shown

    def unified(self, path: str, new_file: bool = False) -> str:
        """The diff as `git diff` writes it (a/ b/ names, /dev/null for a new file)."""
        if not self.hunks:
            return ""
        out = [f"--- {'/dev/null' if new_file else 'a/' + path}\n", f"+++ b/{path}\n"]
        for hunk in self.hunks:
            out.append(hunk.header + "\n")
            for tag, i1, i2, j1, j2 in hunk.ops:
                if tag == "equal":
                    out += _marked(" ", self.old[i1:i2])
                    continue
                out += _marked("-", self.old[i1:i2])
                out += _marked("+", self.new[j1:j2])
        return "".join(out)

    def with_hunks(self, chosen: Collection[int]) -> str:
        """The old text with the changes of the chosen hunks (by index) only."""
        taken = {op for index in chosen for op in self.hunks[index].ops if op[0] != "equal"}
        out: list[str] = []
        for op in self.ops:
            tag, i1, i2, j1, j2 = op
            out += self.new[j1:j2] if op in taken else self.old[i1:i2]
        return "".join(out)


def diff_text(old: str, new: str, context: int = CONTEXT) -> FileDiff:
    """The line diff from `old` to `new` (difflib's matcher, as Python's own unified_diff uses)."""
    a, b = old.splitlines(keepends=True), new.splitlines(keepends=True)
    matcher = difflib.SequenceMatcher(None, a, b)
    ops = list(matcher.get_opcodes())  # a copy: grouping trims the matcher's own list in place
    hunks = [
        Hunk(group[0][1], group[-1][2], group[0][3], group[-1][4], tuple(group))
        for group in matcher.get_grouped_opcodes(context)
        if any(op[0] != "equal" for op in group)
    ]
    return FileDiff(a, b, ops, hunks)


def _bare(line: str) -> str:
    return line.rstrip("\r\n")


def _marked(mark: str, lines: list[str]) -> list[str]:
    out = []
    for line in lines:
        out.append(mark + line if line.endswith("\n") else f"{mark}{line}\n{NO_NEWLINE}\n")
    return out


def _range(start: int, end: int) -> str:
    """A unified diff's `start,count` (1-based; an empty range names the line before it)."""
    count = end - start
    if count == 1:
        return str(start + 1)
    return f"{start + 1 if count else start},{count}"
