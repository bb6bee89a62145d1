"""Edits in a model's answer, and the new text of a file they make.

A block is an edit when it is tied to a file: by the path on its own line just before the fence,
by a path in the fence's info string, or, failing those, by being the only block that could be
the only file of the working set. It holds the whole new file, or SEARCH/REPLACE blocks for a file
too large to repeat (aider's two formats, which small models write well). Blocks with no target
stay plain code. Nothing here reads or writes a file: `context/apply.py` does, with the path rules.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Callable, Sequence

from opencoder_local.context.code_blocks import commonmark

EDIT_INSTRUCTIONS = (
    "To change one of these files (or to write a new one), put its path on a line of its own, then "
    "one fenced code block with the whole new file. For a file too large to repeat, put its path, "
    "then a fenced block of edits instead, each one written as:\n"
    "<<<<<<< SEARCH\n"
    "lines copied exactly from the file\n"
    "=======\n"
    "the lines that replace them\n"
    ">>>>>>> REPLACE"
)

_PATH_LINE = re.compile(
    r"""^(?:\#{1,6}\s*|[-*+]\s+|\d+[.)]\s+)?   # a heading or a list item
        (?:\*\*|__|\*|_)?                      # bold or italic
        (?:(?:file|path|filename)\s*:?\s*)?    # "File:", "Path"
        (?:\*\*|__|\*|_)?\s*
        [`'"]?(?P<path>[^\s`'"*]+?)[`'"]?
        (?:\*\*|__|\*|_)?
        :?
        (?:\*\*|__|\*|_)?$""",
    re.IGNORECASE | re.VERBOSE,
)
_BACKTICKED_LAST = re.compile(r"`([^`\s]+)`\s*[:.]?$")  # "Here is `secret.env`:", not "use `os.rm` to"
_FILE_SHAPED = re.compile(r"/|[\w-]\.[\w-]+$|^\.[\w-]+$")  # a folder, a name with a type, a dotfile
_INFO_KEY = re.compile(r"^(?:title|file|filename|path)=", re.IGNORECASE)
_SEARCH = re.compile(r"^<{5,9} ?SEARCH\s*$")
_DIVIDER = re.compile(r"^={5,9}\s*$")
_REPLACE = re.compile(r"^>{5,9} ?REPLACE\s*$")


@dataclass(frozen=True)
class Replacement:
    search: list[str]  # lines, without their ends
    replace: list[str]


@dataclass(frozen=True)
class ProposedEdit:
    """What an answer asks of one file: its whole new text and/or SEARCH/REPLACE blocks, in order."""

    path: str  # as the model named it: POSIX separators, no leading ./
    whole: str | None = None  # the last whole-file block (the replacements apply after it)
    replacements: tuple[Replacement, ...] = ()
    problem: str | None = None  # why it cannot be applied as written (a block cut off, a broken SEARCH block)


class EditFailed(Exception):
    """The edit does not fit the file; str() says which block and why; `block` is its number (1-based)."""

    def __init__(self, reason: str, block: int | None = None):
        super().__init__(reason)
        self.block = block


@dataclass(frozen=True)
class _Fence:
    info: str
    lines: list[str]
    closed: bool  # False: the answer ends inside it
    path_line: str | None  # the nearest line before it

    @property
    def kind(self) -> str:
        return "replace" if any(_SEARCH.match(line) for line in self.lines) else "whole"


def parse_edits(answer: str, working_set: Sequence[str] = ()) -> list[ProposedEdit]:
    """The edits an answer proposes, one per file in the order they first appear."""
    fences = _fences(answer.replace("\r\n", "\n"))
    edits: dict[str, ProposedEdit] = {}
    untied: list[_Fence] = []
    previous_replace: str | None = None
    for fence in fences:
        path = _tied_path(fence, working_set)
        if path is None and fence.kind == "replace":
            path = previous_replace  # further SEARCH blocks for the file named before
        if path is None:
            untied.append(fence)
            continue
        if fence.kind == "replace":
            previous_replace = path
        edits[path] = _with_fence(edits.get(path, ProposedEdit(path)), fence)
    only = _only_target(untied, working_set)
    if only is not None:
        path, fence = only
        edits[path] = _with_fence(edits.get(path, ProposedEdit(path)), fence)
    return list(edits.values())


def new_text(edit: ProposedEdit, current: str | None) -> str:
    """The file's new text (LF line ends) from its current text (None: no such file), or EditFailed."""
    if edit.problem is not None:
        raise EditFailed(edit.problem)
    text = current
    if edit.whole is not None:
        text = edit.whole
        if current and not current.endswith("\n") and text.endswith("\n"):
            text = text[:-1]  # the file had no final newline: keep it that way
    if text is None:
        if any(r.search for r in edit.replacements):
            raise EditFailed("no such file, so its SEARCH blocks have nothing to match")
        text = ""
    for number, replacement in enumerate(edit.replacements, start=1):
        text = _replace(text, replacement, number, len(edit.replacements))
    return text


# finding the blocks


def _fences(answer: str) -> list[_Fence]:
    """The answer's fenced blocks as a Markdown renderer finds them, each with the line before it."""
    lines = answer.split("\n")
    found = []
    for token in commonmark().parse(answer):
        if token.type != "fence" or token.map is None:
            continue
        start, end = token.map
        body = token.content.split("\n")
        if body and body[-1] == "":
            body.pop()
        found.append(_Fence(token.info.strip(), body, _closes(lines, end, token.markup), _line_before(lines, start)))
    return found


def _closes(lines: list[str], end: int, marker: str) -> bool:
    """Was the fence closed (an answer cut off by the window or by Esc ends inside it)?"""
    if end - 1 < 0 or end - 1 >= len(lines):
        return False
    last = lines[end - 1].strip()
    return last.startswith(marker[0] * len(marker)) and not last.strip(marker[0])


def _line_before(lines: list[str], start: int) -> str | None:
    """The nearest non-blank line before a fence, if at most one blank line lies between."""
    for index in (start - 1, start - 2):
        if index < 0:
            return None
        if lines[index].strip():
            return lines[index].strip()
    return None


def _tied_path(fence: _Fence, working_set: Sequence[str]) -> str | None:
    if fence.path_line is not None:
        match = _PATH_LINE.match(fence.path_line)
        if match is not None and _looks_like_path(match["path"], working_set):
            return _normal(match["path"])
    for word in fence.info.split()[:3]:
        word = _INFO_KEY.sub("", word).strip("'\"{}")
        candidate = word.split(":", 1)[1] if ":" in word and not word.startswith(("/", ".")) else word
        if ("." in candidate or "/" in candidate) and _looks_like_path(candidate, working_set):
            return _normal(candidate)
    return None


def _looks_like_path(text: str, working_set: Sequence[str]) -> bool:
    """A file of the working set, or a path-shaped word: a folder in it or a file type Pygments knows."""
    text = text.rstrip(":")
    if "://" in text or text.endswith(".") or not text:
        return False
    if _normal(text) in working_set:
        return True
    if "/" in text.strip("/"):
        return True
    from pygments.lexers import find_lexer_class_for_filename

    return re.search(r"\.[A-Za-z][\w+-]*$", text) is not None and find_lexer_class_for_filename(text) is not None


def _normal(path: str) -> str:
    path = path.rstrip(":").replace("\\", "/")
    while path.startswith("./"):
        path = path[2:]
    return path


def _only_target(untied: list[_Fence], working_set: Sequence[str]) -> tuple[str, _Fence] | None:
    """With one file in the working set, the one untied block in its language (or none given) is for it,
    unless the block names another file."""
    if len(working_set) != 1:
        return None
    path = working_set[0]
    fitting = [fence for fence in untied if _same_language(fence.info, path) and not _names_other(fence, path)]
    return (path, fitting[0]) if len(fitting) == 1 else None


def _names_other(fence: _Fence, path: str) -> bool:
    """Does the line before the block (as a path line, or ending in a quoted name), or its info
    string, name a file other than `path` (`secret.env`, "File: notes.txt")? Its text is that
    file's, never `path`'s."""
    named = [match["path"] for match in [_PATH_LINE.match(fence.path_line or "")] if match is not None]
    named += _BACKTICKED_LAST.findall(fence.path_line or "")
    named += [_INFO_KEY.sub("", word).strip("'\"{}") for word in fence.info.split()[1:3]]
    for word in map(_normal, named):
        if _FILE_SHAPED.search(word) and word != path and not path.endswith("/" + word):
            return True
    return False


def _same_language(info: str, path: str) -> bool:
    language = info.split()[0] if info.split() else ""
    if not language:
        return True
    from pygments.lexers import find_lexer_class_for_filename, get_lexer_by_name
    from pygments.util import ClassNotFound

    try:
        named = type(get_lexer_by_name(language))
    except ClassNotFound:
        return False
    return named is find_lexer_class_for_filename(path)


def _with_fence(edit: ProposedEdit, fence: _Fence) -> ProposedEdit:
    """The edit with one more block for its file: a whole file replaces what came before it."""
    if edit.problem is not None:
        return edit
    if not fence.closed:
        return replace(edit, problem="the answer stops inside its block (cut off?): ask again")
    if fence.kind == "whole":
        text = "\n".join(fence.lines) + "\n" if fence.lines else ""
        return replace(edit, whole=text, replacements=())
    try:
        blocks = _replacements(fence.lines, len(edit.replacements))
    except EditFailed as exc:
        return replace(edit, problem=str(exc))
    return replace(edit, replacements=edit.replacements + tuple(blocks))


def _replacements(lines: list[str], before: int) -> list[Replacement]:
    """SEARCH/REPLACE blocks from a fence's lines; text around them is ignored."""
    found: list[Replacement] = []
    index = 0
    while index < len(lines):
        if not _SEARCH.match(lines[index]):
            index += 1
            continue
        number = before + len(found) + 1
        divider = _next(lines, index + 1, _DIVIDER)
        end = _next(lines, divider + 1, _REPLACE) if divider is not None else None
        if divider is None or end is None:
            raise EditFailed(f"SEARCH/REPLACE block {number} is incomplete (its ======= or REPLACE line is missing)",
                             number)
        found.append(Replacement(lines[index + 1:divider], lines[divider + 1:end]))
        index = end + 1
    return found


def _next(lines: list[str], start: int, pattern: re.Pattern) -> int | None:
    """The next line matching `pattern`, unless another SEARCH begins first."""
    for index in range(start, len(lines)):
        if pattern.match(lines[index]):
            return index
        if _SEARCH.match(lines[index]):
            return None
    return None


# applying SEARCH/REPLACE blocks


def _replace(text: str, replacement: Replacement, number: int, total: int) -> str:
    lines = text.split("\n") if text else []
    final_newline = text.endswith("\n")
    if final_newline:
        lines.pop()
    if not replacement.search:  # an empty SEARCH adds its lines at the end
        lines += replacement.replace
    else:
        of = f" of {total}" if total > 1 else ""
        places = _find(lines, replacement.search)
        new = replacement.replace
        if not places:  # one tolerant retry: the whitespace around each line may differ
            places = _find(lines, replacement.search, str.strip)
            if not places:
                raise EditFailed(f"SEARCH block {number}{of} does not match the file", number)
            new = _reindent(lines[places[0]:places[0] + len(replacement.search)], replacement.search, new)
        if len(places) > 1:  # which one the model meant is a guess: never take the first
            lines_at = ", ".join(str(at + 1) for at in places[:5]) + (", …" if len(places) > 5 else "")
            raise EditFailed(f"SEARCH block {number}{of} matches {len(places)} places in the file (lines {lines_at}): "
                             "it must match exactly one", number)
        at = places[0]
        lines[at:at + len(replacement.search)] = new
    joined = "\n".join(lines)
    return joined + "\n" if lines and (final_newline or not text) else joined


def _find(lines: list[str], search: list[str], key: Callable[[str], str] | None = None) -> list[int]:
    """Every place (overlapping ones too) where `search` occurs in `lines`, each line compared as it
    is or through `key`."""
    keyed = lines if key is None else [key(line) for line in lines]
    wanted = search if key is None else [key(line) for line in search]
    found: list[int] = []
    start = 0
    while True:
        try:
            at = keyed.index(wanted[0], start)
        except ValueError:
            return found
        if keyed[at:at + len(wanted)] == wanted:
            found.append(at)
        start = at + 1


def _reindent(found: list[str], search: list[str], new: list[str]) -> list[str]:
    """The replacement shifted as the file's lines are from the SEARCH lines, when they all are alike."""
    pairs = [(_indent(f), _indent(s)) for f, s in zip(found, search) if s.strip()]
    if pairs and all(f.endswith(s) for f, s in pairs):  # the file is indented more
        extra = {f[: len(f) - len(s)] for f, s in pairs}
        if len(extra) == 1:
            shift = extra.pop()
            return [shift + line if line.strip() else line for line in new]
    if pairs and all(s.endswith(f) for f, s in pairs):  # the SEARCH lines are indented more
        extra = {s[: len(s) - len(f)] for f, s in pairs}
        if len(extra) == 1:
            cut = extra.pop()
            return [line[len(cut):] if line.startswith(cut) else line for line in new]
    return new


def _indent(line: str) -> str:
    return line[: len(line) - len(line.lstrip())]
