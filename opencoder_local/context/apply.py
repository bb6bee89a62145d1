"""Proposed edits planned against the project folder and written there.

The path rules: a target must stay inside the project folder (symlinks resolved), must not be in
`.git/`, and must not be ignored by `.gitignore`. They are checked when the diff is made and again
at the moment of writing, and the write itself never follows a symlink out of the project. A plan holds the file's bytes as its diff was
made; a write replaces the file atomically (keeping its permissions) only if it still holds those
bytes, so a file changed on disk since is never overwritten unseen. Each unchanged line keeps its
own line end (CRLF or LF, mixed or not), a changed line takes the end of the line it replaces or
follows, and a UTF-8 BOM stays as the file had it. Undo puts the bytes from before back, byte for byte.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from opencoder_local.context.diffs import FileDiff, diff_text, opcodes
from opencoder_local.context.edits import EditFailed, ProposedEdit, new_text
from opencoder_local.context.project_files import is_ignored
from opencoder_local.errors import UserError
from opencoder_local.files import check_replaceable, inside, write_inside
from opencoder_local.store import AppliedFile

MAX_EDIT_BYTES = 4 << 20  # a file larger than this is not edited from a chat answer
BOM = b"\xef\xbb\xbf"


class EditRefused(Exception):
    """This edit cannot be applied; str() is the one-line reason. `ask_again`: the model could fix it
    (a SEARCH block that does not match, an answer cut off inside its block)."""

    def __init__(self, reason: str, ask_again: bool = False, block: int | None = None):
        super().__init__(reason)
        self.ask_again = ask_again
        self.block = block


@dataclass(frozen=True)
class PlannedChange:
    """One file's proposed change, as the reviewer sees it."""

    edit: ProposedEdit
    path: str  # relative to the project folder, as shown
    target: Path  # absolute
    before: bytes | None  # the file as the diff was made against it; None: a new file
    old: str  # its text with LF line ends ("" for a new file)
    new: str  # the proposed text, LF line ends
    diff: FileDiff
    root: Path  # the project folder the rules hold in
    ends: tuple[str, ...] = ()  # each old line's end as the file has it: "\r\n" or "\n"
    bom: bool = False

    @property
    def is_new(self) -> bool:
        return self.before is None

    @property
    def crlf(self) -> bool:
        """Most of the file's lines end in CRLF."""
        return 2 * self.ends.count("\r\n") > len(self.ends)

    def encoded(self, text: str) -> bytes:
        """`text` (LF line ends) as this file stores it: only the lines that change take a new end."""
        data = _with_line_ends(self.old, text, self.ends).encode("utf-8")
        return BOM + data if self.bom else data


@dataclass
class WriteResult:
    written: list[AppliedFile] = field(default_factory=list)
    stale: list[PlannedChange] = field(default_factory=list)  # changed on disk since their diff was made
    failed: list[tuple[str, str]] = field(default_factory=list)  # (path, one-line reason)


class ChangedSinceApplied(UserError):
    """Undo would lose changes made after the edit; `paths` are the files that changed."""

    def __init__(self, paths: list[str]):
        super().__init__(f"changed since the edit was applied: {', '.join(paths)}")
        self.paths = paths


def check_target(root: Path, path: str) -> Path:
    """The absolute file a proposed path names, or EditRefused: outside the project, in .git/, ignored."""
    if not path or "\0" in path:
        raise EditRefused(f"{path!r} is not a usable path")
    if path.startswith("~") or (Path(path).is_absolute() and not inside(Path(path), root)):
        raise EditRefused(f"{path}: outside the project folder {root}")
    target = Path(os.path.normpath(root / path))
    if not inside(target, root):
        raise EditRefused(f"{path}: outside the project folder {root}")
    relative = target.relative_to(root)
    if ".git" in relative.parts:
        raise EditRefused(f"{path}: inside .git/, which only git writes")
    if not inside(Path(os.path.realpath(target)), Path(os.path.realpath(root))):
        raise EditRefused(f"{path}: a symlink to outside the project folder {root}")
    if is_ignored(root, relative.as_posix()):
        raise EditRefused(f"{path}: ignored by .gitignore")
    return target


def plan(root: Path, edit: ProposedEdit) -> PlannedChange:
    """The change `edit` makes to the file on disk now, or EditRefused with the reason."""
    target = check_target(root, edit.path)
    before = _read(target)
    bom = False
    old, ends = "", ()
    if before is not None:
        bom = before.startswith(BOM)
        try:
            old = before[len(BOM) if bom else 0:].decode("utf-8")
        except UnicodeDecodeError:
            raise EditRefused(f"{edit.path}: not UTF-8 text, so it is not edited here") from None
        if "\0" in old:
            raise EditRefused(f"{edit.path}: a binary file, so it is not edited here")
        ends = tuple("\r\n" if line.endswith("\r") else "\n" for line in old.split("\n")[:-1])
        old = old.replace("\r\n", "\n")
    try:
        new = new_text(edit, old if before is not None else None)
    except EditFailed as exc:
        raise EditRefused(f"{edit.path}: {exc}", ask_again=True, block=exc.block) from None
    shown = target.relative_to(root).as_posix()
    return PlannedChange(edit, shown, target, before, old, new, diff_text(old, new), root, ends, bom)


def write(accepted: Sequence[tuple[PlannedChange, str]]) -> WriteResult:
    """Write each accepted text (all of a change's text, or the hunks chosen) atomically.

    A file that no longer holds the bytes its diff was made against is left alone and returned as
    stale; one that cannot be written is returned as failed; the others are written."""
    result = WriteResult()
    for change, text in accepted:
        try:
            check_target(change.root, change.edit.path)  # a folder may have become a symlink since the diff
        except EditRefused as exc:
            result.failed.append((change.path, str(exc)))
            continue
        current = _read_quietly(change.target)
        if current != change.before:
            result.stale.append(change)
            continue
        data = change.encoded(text)
        try:
            write_inside(change.root, change.target, data)
        except UserError as exc:
            result.failed.append((change.path, str(exc)))
            continue
        result.written.append(AppliedFile(str(change.target), change.before, data))
    return result


def restore(files: Sequence[AppliedFile], force: bool = False, root: Path | None = None) -> None:
    """Put back what each file held before an edit (a file the edit created is removed).

    Unless `force`, a file changed since the edit raises ChangedSinceApplied and nothing is written.
    A file is written back where it is inside `root` (the project; else inside its own folder): one
    replaced by a symlink that leads elsewhere since is a FileWriteError, not a write through the link."""
    changed = [f.path for f in files if _read_quietly(Path(f.path)) != f.after]
    if changed and not force:
        raise ChangedSinceApplied(changed)
    for applied in files:
        target = Path(applied.path)
        if applied.before is None:
            target.unlink(missing_ok=True)  # a link is removed, never what it leads to
            continue
        folder = root if root is not None and inside(target, root) else target.parent
        write_inside(folder, target, applied.before)


def _with_line_ends(old: str, new: str, ends: tuple[str, ...]) -> str:
    """`new` (LF line ends) with the line ends of `old`'s file: an unchanged line keeps its own, a
    changed one takes the end of the line it replaces (or the one before it, for an insertion)."""
    kinds = set(ends)
    if kinds != {"\r\n", "\n"}:
        return new.replace("\n", "\r\n") if kinds == {"\r\n"} else new
    a, b = old.split("\n"), new.split("\n")  # the last piece of each follows the last line end
    out: list[str] = []
    for tag, i1, i2, j1, j2 in opcodes(a, b):
        for j in range(j1, j2):
            i = i1 + (j - j1) if tag == "equal" else min(i1 + (j - j1), i2 - 1) if i2 > i1 else i1 - 1
            out.append(b[j] + ends[min(max(i, 0), len(ends) - 1)] if j < len(b) - 1 else b[j])
    return "".join(out)


def _read(target: Path) -> bytes | None:
    """The file's bytes (None when there is none), or EditRefused for what cannot be edited."""
    if not os.path.lexists(target):
        return None
    try:
        check_replaceable(target)
        if os.path.getsize(target) > MAX_EDIT_BYTES:
            raise EditRefused(f"{target.name}: larger than {MAX_EDIT_BYTES >> 20} MB, so it is not edited here")
        return target.read_bytes()
    except FileNotFoundError:
        return None  # a broken symlink: the file it names is created
    except UserError as exc:
        raise EditRefused(str(exc)) from None
    except OSError as exc:
        raise EditRefused(f"cannot read {target}: {exc.strerror or exc}") from None


def _read_quietly(target: Path) -> bytes | None:
    try:
        return target.read_bytes()
    except OSError:
        return None
