"""The working set of one conversation: the project files the model sees, as they are on disk now.

Files stay until dropped and are re-read when they change (`refresh`, driven by the watcher).
Paths inside the project folder are shown and sent relative to it; a file outside it may be
added too and is shown and sent by its absolute path, so it can never pass for a project file.
A symlink in the project that leads outside it is such a file: named one by one it is shown by
its real absolute path, and a folder or glob skips it with a notice. A name that is not UTF-8 or
holds control characters is never sent: a folder or glob skips it, named alone it is refused.
A user's bad path is never an exception here: it comes back in `AddResult.refused` with a reason.
Every method may be called from any thread (`add` from a worker: a big folder takes a while).
"""

from __future__ import annotations

import itertools
import os
import re
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterable, Sequence

from opencoder_local.context.code_blocks import fence_for, language_for
from opencoder_local.context.edits import EDIT_INSTRUCTIONS
from opencoder_local.context.file_text import FileText, Refused, TooLarge, check_regular, read_text
from opencoder_local.context.project_files import (
    fuzzy_rank,
    glob_base,
    glob_matcher,
    is_glob,
    leaves,
    list_files,
    sendable_name,
)
from opencoder_local.errors import UserError
from opencoder_local.files import inside, user_path

MAX_FILES = 500  # files one folder or glob may add
MAX_SCANNED = 20_000  # files a listing looks at before it stops counting
MAX_FILE_BYTES = 1 << 20  # with no budget given, nothing larger is read
BYTES_PER_TOKEN = 4  # code's usual ratio: the estimate shown before a file is read
MAX_BYTES_PER_TOKEN = 8  # hardly any text packs more: a file over free * 8 bytes cannot fit
LISTING_SECONDS = 5.0  # completions reuse a project listing this long
FILES_HEADER = (
    "The user's project files as they are on disk now. Where the conversation shows an older "
    "version of one of these files, the copy here is the current one."
)
_RANGE = re.compile(r"^(?P<path>.+):(?P<start>\d+)(?:-(?P<end>\d+))?$")

CURRENT, CHANGED, MISSING = "current", "changed", "missing"
UNREADABLE = "binary, unreadable or too large file"
LEAVES = "symlink leading outside the project (add it alone to see it by its real path)"
BAD_NAME = "file whose name is not UTF-8 text or holds control characters (rename it to add it)"


@dataclass(frozen=True)
class FileEntry:
    path: str  # relative to the project root, POSIX separators, as shown and sent
    lines: tuple[int, int] | None  # 1-based inclusive line range; None = the whole file
    text: str  # current text of the file (or the range); "" when missing
    tokens: int  # what this file's block costs in the prompt (0 until a counter is set)
    state: str  # "current" | "changed" (on disk since the last answer) | "missing"
    warning: str | None = None  # e.g. "not UTF-8: decoded with replacement characters"

    @property
    def spec(self) -> str:
        """The path as `add` takes it back: with `:START-END` for a line range."""
        return self.path if self.lines is None else f"{self.path}:{self.lines[0]}-{self.lines[1]}"


@dataclass(frozen=True)
class AddResult:
    added: list[FileEntry]
    refused: list[tuple[str, str]]  # (path or spec as given, one-line reason with the cost and what is free)
    notices: list[str] = field(default_factory=list)  # e.g. "src/**: 3,200 files, added the first 500"


@dataclass
class _Slot:
    entry: FileEntry
    file: Path  # absolute, as the user named it (symlinks not resolved)
    seen: str | None  # the text the last answer was given; None: not answered yet
    stamp: int  # prompt order: least recently changed first

    @property
    def real(self) -> Path:
        return Path(os.path.realpath(self.file))


@dataclass
class _Found:
    """What one spec names: (file, line range) pairs, and whether it was a folder or glob."""

    files: list[tuple[Path, tuple[int, int] | None]]
    many: bool
    notices: list[str]


class WorkingSet:
    """The files one conversation carries; see the module docstring."""

    def __init__(self, root: Path, count: Callable[[str], int] | None = None):
        self.root = Path(os.path.abspath(root))
        self._count = count
        self._slots: dict[tuple[str, tuple[int, int] | None], _Slot] = {}
        self._stamps = itertools.count()
        self._lock = threading.RLock()
        self._listing: tuple[float, list[str]] | None = None

    # reading the set

    def entries(self) -> list[FileEntry]:
        """In prompt order: least recently changed first, so an edit re-evaluates as little as possible."""
        with self._lock:
            return [slot.entry for slot in sorted(self._slots.values(), key=lambda slot: slot.stamp)]

    def total_tokens(self) -> int:
        return sum(entry.tokens for entry in self.entries() if entry.state != MISSING)

    def specs(self) -> list[str]:
        """What to save to restore the set: each path (with its range), in prompt order."""
        return [entry.spec for entry in self.entries()]

    def watched_paths(self) -> set[Path]:
        """Absolute paths to watch: each file as named and, for a symlink, the file it points to."""
        with self._lock:
            return {path for slot in self._slots.values() for path in (slot.file, slot.real)}

    def block(self, entry: FileEntry) -> str:
        """The exact text the prompt carries for a file: its path, range and language, then a fence."""
        if entry.state == MISSING:
            return ""
        where = f"`{entry.path}`"
        if entry.lines is not None:
            last = entry.lines[0] + max(len(entry.text.splitlines()), 1) - 1
            where += f" (lines {entry.lines[0]}-{last})"
        fence = fence_for(entry.text)
        body = entry.text if entry.text.endswith("\n") or not entry.text else entry.text + "\n"
        return f"File {where}:\n{fence}{language_for(entry.path)}\n{body}{fence}"

    def message(self) -> str:
        """The files as the prompt carries them: a line saying they are current, each block, then how
        to answer with a change to one (context/edits.py reads that format); "" when none."""
        blocks = [self.block(entry) for entry in self.entries() if entry.state != MISSING]
        return "\n\n".join([FILES_HEADER, *blocks, EDIT_INSTRUCTIONS]) if blocks else ""

    def completions(self, prefix: str, limit: int = 20) -> list[str]:
        """Project files (relative paths) matching `@prefix` fuzzily, best first."""
        return fuzzy_rank(prefix, self._project_files(), limit)

    # changing the set

    def set_counter(self, count: Callable[[str], int]) -> None:
        """Count with the engine's vocabulary from now on; every entry is recounted."""
        with self._lock:
            self._count = count
            for slot in self._slots.values():
                slot.entry = replace(slot.entry, tokens=self._cost(slot.entry))

    def add(self, specs: Sequence[str], free_tokens: int | None = None) -> AddResult:
        """Add files, folders, globs and `path:START-END` ranges; what cannot be added comes back refused.

        With `free_tokens`, a spec whose files do not fit is refused whole, with its cost."""
        return self._add(specs, free_tokens, keep_missing=False)

    def restore(self, specs: Sequence[str]) -> AddResult:
        """Add saved specs again, in order; a file gone from disk stays in the set as missing."""
        return self._add(specs, None, keep_missing=True)

    def drop(self, spec: str | None = None) -> list[str]:
        """Remove entries: all (None), one path or `path:START-END`, a folder's, or a glob's; returns their specs."""
        with self._lock:
            keys = [key for key, slot in self._slots.items() if spec is None or self._names(spec, slot.entry)]
            dropped = [self._slots.pop(key).entry.spec for key in keys]
        return dropped

    def refresh(self, paths: Iterable[Path]) -> list[FileEntry]:
        """Re-read the entries at these absolute paths after a change on disk; returns those that changed."""
        wanted = set()
        for path in paths:
            wanted.update((os.path.abspath(path), os.path.realpath(path)))
        with self._lock:
            slots = [slot for slot in self._slots.values() if {str(slot.file), str(slot.real)} & wanted]
            changed = []
            for slot in slots:
                entry = self._reread(slot)
                if (entry.text, entry.state, entry.warning) != (slot.entry.text, slot.entry.state, slot.entry.warning):
                    if entry.text != slot.entry.text or entry.state != slot.entry.state:
                        slot.stamp = next(self._stamps)
                    slot.entry = entry
                    changed.append(entry)
        return changed

    def mark_answered(self) -> None:
        """The model was given the files as they are now: "changed" becomes "current"."""
        with self._lock:
            for slot in self._slots.values():
                if slot.entry.state != MISSING:
                    slot.seen = slot.entry.text
                    slot.entry = replace(slot.entry, state=CURRENT)

    # internals

    def _add(self, specs: Sequence[str], free: int | None, keep_missing: bool) -> AddResult:
        added: list[FileEntry] = []
        refused: list[tuple[str, str]] = []
        notices: list[str] = []
        for spec in specs:
            found = None
            try:
                found = self._find(spec)
                with self._lock:
                    found.files = [(file, lines) for file, lines in found.files
                                   if (os.path.realpath(file), lines) not in self._slots]
                if not found.files:
                    notices.append(f"{spec}: already in the working set")
                    continue
                slots = self._load(spec, found, free, keep_missing, notices)
            except Refused as exc:
                capped = "".join(f" (of {note}, the first {MAX_FILES:,})" for note in (found.notices if found else []))
                refused.append((spec, f"{exc}{capped}"))
                continue
            notices.extend(f"{spec}: {note}, added the first {MAX_FILES:,}" for note in found.notices)
            with self._lock:
                for slot in slots:
                    key = (str(slot.real), slot.entry.lines)
                    if key in self._slots:
                        continue
                    slot.stamp = next(self._stamps)
                    self._slots[key] = slot
                    added.append(slot.entry)
                    if free is not None:
                        free -= slot.entry.tokens or _estimate(slot.entry.text)
        return AddResult(added, refused, notices)

    def _find(self, spec: str) -> _Found:
        """The files a spec names, or Refused: folders and globs are listed, .gitignore honoured."""
        if not spec.strip():
            raise Refused("no path given")
        text, lines = _split_range(spec, self._locate)
        if lines is None and is_glob(text) and not os.path.lexists(self._locate(text)):
            return self._glob(spec, text)
        file = self._locate(text)
        if lines is None and os.path.isdir(file):
            return self._folder(spec, file)
        return _Found([(file, lines)], False, [])

    def _folder(self, spec: str, folder: Path) -> _Found:
        if leaves(self.root, folder):  # a link to a folder elsewhere: its files are shown by their real paths
            folder = Path(os.path.realpath(folder))
        listed = list(itertools.islice(list_files(folder), MAX_SCANNED + 1))
        return self._capped(spec, [folder / relative for relative in listed])

    def _glob(self, spec: str, pattern: str) -> _Found:
        pattern = pattern.replace(os.sep, "/")
        if Path(pattern).is_absolute() or pattern.startswith(("~", "../")):
            raise Refused("a glob must be relative to the project folder")
        base = self.root / glob_base(pattern)
        if not base.is_dir():
            raise Refused("no files match it")
        if base != self.root and leaves(self.root, base):
            raise Refused(f"{glob_base(pattern)} leads outside the project (a symlink): add files there by path")
        matches = glob_matcher(pattern)
        prefix = base.relative_to(self.root).as_posix()
        listed = []
        for relative in itertools.islice(list_files(base), MAX_SCANNED * 5):
            path = f"{prefix}/{relative}" if prefix != "." else relative
            if matches(path):
                listed.append(self.root / path)
                if len(listed) > MAX_SCANNED:
                    break
        return self._capped(spec, listed)

    def _capped(self, spec: str, files: list[Path]) -> _Found:
        if not files:
            raise Refused("no text files to add (hidden, ignored by .gitignore, or none there)")
        notices = []
        if len(files) > MAX_FILES:
            many = f"more than {MAX_SCANNED:,}" if len(files) > MAX_SCANNED else f"{len(files):,}"
            notices.append(f"{many} files")  # said when the spec is added or refused
            files = files[:MAX_FILES]
        return _Found([(file, None) for file in files], True, notices)

    def _load(self, spec: str, found: _Found, free: int | None, keep_missing: bool, notices: list[str]) -> list[_Slot]:
        """Read what a spec names; a folder or glob that does not fit is refused whole, with its cost."""
        limit = MAX_FILE_BYTES if free is None else min(MAX_FILE_BYTES, max(free, 0) * MAX_BYTES_PER_TOKEN)
        if found.many:
            sizes = sum(_size(file) for file, _lines in found.files)
            if free is not None and sizes > limit:
                raise Refused(f"{len(found.files):,} files, about {sizes // BYTES_PER_TOKEN:,} tokens "
                              f"({sizes:,} bytes), {max(free, 0):,} free: add fewer files or line ranges")
        slots: list[_Slot] = []
        skipped: dict[str, int] = {}
        for file, lines in found.files:
            try:
                self._check_name(file, found.many)
                slots.append(self._slot(file, lines, read_text(file, lines, limit)))
            except TooLarge as exc:
                if found.many:
                    skipped[UNREADABLE] = skipped.get(UNREADABLE, 0) + 1
                    continue
                raise Refused(self._too_large(file, exc.size, free)) from None
            except _Skipped as exc:
                skipped[exc.kind] = skipped.get(exc.kind, 0) + 1
            except Refused as exc:
                if found.many:
                    skipped[UNREADABLE] = skipped.get(UNREADABLE, 0) + 1
                elif keep_missing:
                    slots.append(self._slot(file, lines, FileText(""), missing=str(exc)))
                else:
                    raise
        for kind, count in skipped.items():
            plural = kind.replace("file", "files", 1).replace("symlink", "symlinks", 1) if count > 1 else kind
            notices.append(f"{spec}: skipped {count:,} {plural}")
        if not slots:
            raise Refused("no text files to add")
        cost = sum(slot.entry.tokens or _estimate(slot.entry.text) for slot in slots)
        if free is not None and cost > free:
            raise Refused(self._no_room(slots, cost, free))
        for slot in slots:
            if slot.entry.lines is not None and not slot.entry.text and slot.entry.state != MISSING:
                raise Refused(f"the file has no lines {slot.entry.lines[0]}-{slot.entry.lines[1]}")
            if slot.entry.warning and slot.entry.state != MISSING:
                notices.append(f"{slot.entry.path}: {slot.entry.warning}")
        return slots

    def _check_name(self, file: Path, many: bool) -> None:
        """_Skipped (in a folder or glob) or Refused for a file whose name cannot be sent or that a
        folder or glob would pass off as the project's."""
        if many and leaves(self.root, file) and inside(file, self.root):
            raise _Skipped(LEAVES)
        if not sendable_name(self._shown(file)):
            if many:
                raise _Skipped(BAD_NAME)
            raise Refused("its name is not UTF-8 text or holds control characters: rename it to add it")

    def _slot(self, file: Path, lines, read: FileText, missing: str | None = None) -> _Slot:
        entry = FileEntry(self._shown(file), lines, read.text, 0, MISSING if missing else CURRENT,
                          missing or read.warning)
        return _Slot(replace(entry, tokens=self._cost(entry)), file, None, 0)

    def _reread(self, slot: _Slot) -> FileEntry:
        entry = slot.entry
        if self._shown(slot.file) != entry.path:
            return replace(entry, text="", tokens=0, state=MISSING,
                           warning="it now leads outside the project (a symlink): add it again by its real path")
        try:
            read = read_text(slot.file, entry.lines, MAX_FILE_BYTES)
        except Refused as exc:
            return replace(entry, text="", tokens=0, state=MISSING, warning=str(exc))
        state = CHANGED if slot.seen is not None and read.text != slot.seen else CURRENT
        fresh = replace(entry, text=read.text, state=state, warning=read.warning)
        return replace(fresh, tokens=self._cost(fresh))

    def _cost(self, entry: FileEntry) -> int:
        return self._count(self.block(entry)) if self._count is not None and entry.state != MISSING else 0

    def _too_large(self, file: Path, size: int, free: int | None) -> str:
        hint = f"add a line range ({self._shown(file)}:START-END)"
        if free is None:
            return f"too large: {size:,} bytes (at most {MAX_FILE_BYTES:,} are read): {hint}"
        return f"about {size // BYTES_PER_TOKEN:,} tokens ({size:,} bytes), {max(free, 0):,} free: {hint} or drop files"

    def _no_room(self, slots: list[_Slot], cost: int, free: int) -> str:
        free = max(free, 0)
        if len(slots) > 1:
            return f"{len(slots):,} files, {cost:,} tokens, {free:,} free: add fewer files or line ranges"
        entry = slots[0].entry
        start = entry.lines[0] if entry.lines else 1
        n_lines = max(len(entry.text.splitlines()), 1)
        fit = n_lines * free // cost
        hint = (f"add a line range such as {entry.path}:{start}-{start + fit - 1}" if fit >= 1
                else "drop files or start a new conversation")
        return f"{cost:,} tokens, {free:,} free: {hint}"

    def _locate(self, text: str) -> Path:
        """The absolute path a user's text names (relative to the project folder), symlinks kept."""
        try:
            path = user_path(text)
        except UserError as exc:
            raise Refused(str(exc)) from None
        return Path(os.path.normpath(path if path.is_absolute() else self.root / path))

    def _shown(self, file: Path) -> str:
        """The path a file is shown and sent by: relative to the project, or absolute where it is
        outside it (a symlink that leads out: its real path), never a name that passes for ours."""
        if not inside(file, self.root):
            return file.as_posix()
        if leaves(self.root, file):
            return Path(os.path.realpath(file)).as_posix()
        return file.relative_to(self.root).as_posix()

    def _names(self, spec: str, entry: FileEntry) -> bool:
        """Does `drop(spec)` mean this entry: its path, its path with range, a folder above it, or a glob?"""
        if spec in (entry.path, entry.spec):
            return True
        try:
            shown = self._shown(self._locate(spec))
        except Refused:
            return False
        if shown in (entry.path, entry.spec) or entry.path.startswith(shown.rstrip("/") + "/"):
            return True
        return is_glob(spec) and glob_matcher(spec)(entry.path)

    def _project_files(self) -> list[str]:
        with self._lock:
            cached = self._listing
        if cached is not None and time.monotonic() - cached[0] < LISTING_SECONDS:
            return cached[1]
        files = [path for path in itertools.islice(list_files(self.root), MAX_SCANNED)
                 if sendable_name(path) and not (os.path.islink(self.root / path) and leaves(self.root, self.root / path))]
        with self._lock:
            self._listing = (time.monotonic(), files)
        return files


class _Skipped(Refused):
    """A file a folder or glob leaves out, counted in one notice by its `kind`."""

    def __init__(self, kind: str):
        super().__init__(kind)
        self.kind = kind


def _split_range(spec: str, locate: Callable[[str], Path]) -> tuple[str, tuple[int, int] | None]:
    """`path:START-END` (or `path:LINE`) -> (path, (start, end)); a file really named so is a path."""
    match = _RANGE.match(spec)
    if match is None or os.path.lexists(locate(spec)):
        return spec, None
    start = int(match["start"])
    end = int(match["end"] or start)
    if not 1 <= start <= end:
        raise Refused(f"bad line range {start}-{end}: use START-END with 1 <= START <= END")
    return match["path"], (start, end)


def _size(file: Path) -> int:
    try:
        return check_regular(file).st_size
    except Refused:
        return 0


def _estimate(text: str) -> int:
    return -(-len(text.encode("utf-8")) // BYTES_PER_TOKEN)
