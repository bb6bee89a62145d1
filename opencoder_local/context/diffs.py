"""A line diff of a file's old and new text: its hunks, the unified text, and the new text with only
the hunks a reviewer chose.

The lines found once in each text anchor the diff (as patience diff does) and difflib's matcher
runs only between anchors: a 2,000-line file with a few changes diffs in a few milliseconds, where
the matcher alone rescans the whole file once per change."""

from __future__ import annotations

import bisect
import difflib
from collections import Counter
from dataclasses import dataclass
from typing import Collection, Iterator

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
        taken = {op for index in chosen for op in self.hunks[index].ops if op[0] != "equal"}  # ops are unique
        out: list[str] = []
        for op in self.ops:
            tag, i1, i2, j1, j2 = op
            out += self.new[j1:j2] if op in taken else self.old[i1:i2]
        return "".join(out)


def diff_text(old: str, new: str, context: int = CONTEXT) -> FileDiff:
    """The line diff from `old` to `new`."""
    a, b = old.splitlines(keepends=True), new.splitlines(keepends=True)
    ops = opcodes(a, b)
    hunks = [Hunk(group[0][1], group[-1][2], group[0][3], group[-1][4], tuple(group))
             for group in _grouped(ops, context)]
    return FileDiff(a, b, ops, hunks)


def opcodes(a: list[str], b: list[str]) -> list[Op]:
    """difflib's opcodes from lines `a` to lines `b`, matched piece by piece between the lines that
    occur once in each."""
    ops: list[Op] = []
    i = j = 0
    for anchor_a, anchor_b in [*_anchors(a, b), (len(a), len(b))]:
        if anchor_a < i or anchor_b < j:
            continue  # inside the equal run just taken
        ops += _between(a, b, i, anchor_a, j, anchor_b)
        i, j = anchor_a, anchor_b
        while i < len(a) and j < len(b) and a[i] == b[j]:
            i += 1
            j += 1
        if i > anchor_a:
            ops.append(("equal", anchor_a, i, anchor_b, j))
    merged: list[Op] = []
    for op in ops:
        if merged and op[0] == "equal" == merged[-1][0]:
            merged[-1] = ("equal", merged[-1][1], op[2], merged[-1][3], op[4])
        else:
            merged.append(op)
    return merged


def _anchors(a: list[str], b: list[str]) -> list[tuple[int, int]]:
    """Pairs of equal lines unique in both texts, the longest run of them in the same order in both."""
    in_a, in_b = Counter(a), Counter(b)
    where_b = {line: j for j, line in enumerate(b) if in_b[line] == 1}
    pairs = [(i, where_b[line]) for i, line in enumerate(a) if in_a[line] == 1 and line in where_b]
    tails: list[int] = []  # patience sorting: tails[k] = smallest last j of an increasing run of length k + 1
    ends: list[int] = []  # the pair index ending that run
    before: list[int] = []  # each pair's predecessor in its run
    for index, (_i, j) in enumerate(pairs):
        k = bisect.bisect_left(tails, j)
        before.append(ends[k - 1] if k else -1)
        if k == len(tails):
            tails.append(j)
            ends.append(index)
        else:
            tails[k], ends[k] = j, index
    run, index = [], ends[-1] if ends else -1
    while index >= 0:
        run.append(pairs[index])
        index = before[index]
    return run[::-1]


def _between(a: list[str], b: list[str], a1: int, a2: int, b1: int, b2: int) -> list[Op]:
    if a[a1:a2] == b[b1:b2]:
        return [("equal", a1, a2, b1, b2)] if a2 > a1 else []
    matcher = difflib.SequenceMatcher(None, a[a1:a2], b[b1:b2])
    return [(tag, i1 + a1, i2 + a1, j1 + b1, j2 + b1) for tag, i1, i2, j1, j2 in matcher.get_opcodes()]


def _grouped(ops: list[Op], context: int) -> Iterator[list[Op]]:
    """The changes with `context` equal lines around them, as difflib groups its opcodes into hunks."""
    if not any(op[0] != "equal" for op in ops):
        return
    codes = list(ops)
    tag, i1, i2, j1, j2 = codes[0]
    if tag == "equal":
        codes[0] = (tag, max(i1, i2 - context), i2, max(j1, j2 - context), j2)
    tag, i1, i2, j1, j2 = codes[-1]
    if tag == "equal":
        codes[-1] = (tag, i1, min(i2, i1 + context), j1, min(j2, j1 + context))
    group: list[Op] = []
    for tag, i1, i2, j1, j2 in codes:
        if tag == "equal" and i2 - i1 > 2 * context:
            group.append((tag, i1, min(i2, i1 + context), j1, min(j2, j1 + context)))
            yield group
            group = []
            i1, j1 = max(i1, i2 - context), max(j1, j2 - context)
        group.append((tag, i1, i2, j1, j2))
    if group and not (len(group) == 1 and group[0][0] == "equal"):
        yield group


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
