"""Which files of a project a folder or a glob means, as git would list them.

Inside a git work tree `git ls-files --cached --others --exclude-standard` answers (every
.gitignore, .git/info/exclude and the global excludes); elsewhere the folder is walked and each
.gitignore on the way is applied with `pathspec`, its regular expressions rewritten so that a
pattern such as `a*a*a*a*a*a*a*a*a*a*b` takes time linear in the name, not exponential. Either way hidden files and folders,
node_modules, virtualenvs and the like are left out. Listings are lazy, so a caller can stop
after the first few thousand files of a huge tree.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from functools import lru_cache
from pathlib import Path
from typing import Iterator

from opencoder_local.files import inside

SKIPPED_FOLDERS = frozenset({"node_modules", "bower_components", "__pycache__", "site-packages", "venv"})
GLOB_CHARS = frozenset("*?[")
GIT_SECONDS = 10.0


def is_glob(text: str) -> bool:
    return any(char in GLOB_CHARS for char in text)


def glob_base(pattern: str) -> str:
    """The folder part of a glob before its first wildcard ("src/**/*.py" -> "src"; "*.py" -> "")."""
    fixed = []
    for part in pattern.split("/"):
        if is_glob(part):
            break
        fixed.append(part)
    return "/".join(fixed)


def glob_matcher(pattern: str):
    """A predicate on root-relative POSIX paths for a shell-style glob (`**` spans folders)."""
    import pathspec

    spec = pathspec.PathSpec.from_lines(_linear_pattern(), ["/" + pattern.lstrip("/")])
    return spec.match_file


def sendable_name(path: str) -> bool:
    """Can this name be shown and sent as it is: UTF-8 text (a file system name need not be) with no
    control characters (a newline or an escape would break the prompt's lines and the screen)?"""
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return not any(char < " " or "\x7f" <= char <= "\x9f" for char in path)


def leaves(folder: Path, path: str | os.PathLike[str]) -> bool:
    """Does `path`, named under `folder`, lead outside it once its symlinks are resolved?"""
    return not inside(os.path.realpath(path), os.path.realpath(folder))


def skipped_part(name: str) -> bool:
    return name.startswith(".") or name in SKIPPED_FOLDERS


def list_files(folder: Path) -> Iterator[str]:
    """Files under `folder` a project means (POSIX paths relative to it), .gitignore honoured."""
    listed = _git_files(folder)
    if listed is None:
        yield from _walk(folder)
        return
    venvs: dict[str, bool] = {}
    for path in listed:
        parts = path.split("/")
        if any(skipped_part(part) for part in parts):
            continue
        if any(_is_venv(folder, "/".join(parts[:i]), venvs) for i in range(1, len(parts))):
            continue
        yield path


def is_ignored(root: Path, relative: str) -> bool:
    """Would git ignore this path under `root` (it need not exist)?

    The ignore files decide in-process: each .gitignore on the way, and in a repository its
    .git/info/exclude and the user's global ignore file (~/.config/git/ignore; a core.excludesFile
    elsewhere is not read). A path they ignore is asked of `git check-ignore`, for which a tracked
    file is never ignored; the usual answer, not ignored, starts no process."""
    parts = Path(relative).parts
    specs = _repository_specs(root) + _ignore_specs(root)
    for depth in range(1, len(parts) + 1):
        here, is_folder = root.joinpath(*parts[:depth]), depth < len(parts)
        if _ignored(here, is_folder, specs):
            return _git_ignores(root, relative) is not False
        own = _load_ignore(here) if is_folder else None
        if own is not None:
            specs = specs + [(here, own)]
    return False


def _git_ignores(root: Path, relative: str) -> bool | None:
    """git's own answer; None outside a repository or without git."""
    git = shutil.which("git")
    if git is None:
        return None
    try:
        done = subprocess.run([git, "-C", str(root), "check-ignore", "-q", "--", relative],
                              capture_output=True, timeout=GIT_SECONDS, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.returncode == 0 if done.returncode in (0, 1) else None


def _repository_specs(folder: Path) -> list[tuple[Path, object]]:
    """The ignore rules a repository adds to its .gitignore files (lowest precedence first)."""
    top = next((parent for parent in [folder, *folder.parents] if (parent / ".git").exists()), None)
    if top is None:
        return []
    config = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    found = []
    for rules in (config / "git" / "ignore", top / ".git" / "info" / "exclude"):
        spec = _load_ignore(rules.parent, rules.name)
        if spec is not None:
            found.append((top, spec))
    return found


def _is_venv(folder: Path, relative: str, seen: dict[str, bool]) -> bool:
    if relative not in seen:
        seen[relative] = (folder / relative / "pyvenv.cfg").is_file()
    return seen[relative]


def _git_files(folder: Path) -> Iterator[str] | None:
    """git's own listing of the work tree under `folder`, or None outside a repository (or without git)."""
    git = shutil.which("git")
    if git is None:
        return None
    try:
        done = subprocess.run(
            [git, "-C", str(folder), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            capture_output=True, timeout=GIT_SECONDS, stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0:
        return None
    # Tracked files come first, then untracked ones; a file in conflict once per stage: one sorted list.
    return iter(sorted({os.fsdecode(raw) for raw in done.stdout.split(b"\0") if raw}))


def _ignore_specs(folder: Path) -> list[tuple[Path, object]]:
    """The .gitignore files of `folder` and its ancestors up to the file system's root."""
    found = []
    for parent in reversed([folder, *folder.parents]):
        spec = _load_ignore(parent)
        if spec is not None:
            found.append((parent, spec))
    return found


def _load_ignore(folder: Path, name: str = ".gitignore"):
    import pathspec

    try:
        lines = (folder / name).read_text("utf-8", "replace").splitlines()
    except OSError:
        return None
    return pathspec.GitIgnoreSpec.from_lines(lines, _linear_pattern())


@lru_cache(maxsize=1)
def _linear_pattern():
    """pathspec's gitignore pattern with a regular expression that cannot backtrack without bound."""
    from pathspec.patterns.gitignore.spec import GitIgnoreSpecPattern

    class LinearPattern(GitIgnoreSpecPattern):
        @classmethod
        def pattern_to_regex(cls, pattern):
            regex, include = super().pattern_to_regex(pattern)
            return (linear_regex(regex) if isinstance(regex, str) else regex), include

    return LinearPattern


_STAR = "[^/]*"  # what pathspec writes for a `*` in a name
_TOKEN = re.compile(r"\[\^/\]\*|\\.|\[\^?\]?[^\]]*\]|\.[*+]|.", re.DOTALL)


def linear_regex(regex: str) -> str:
    """`regex` (as pathspec writes a gitignore pattern) with each `*` of a name but the last taking its
    next piece at the first place it fits, atomically: `a*a*b` -> `a(?>[^/]*?a)[^/]*b`.

    Within one name the first fit of each middle piece is never worse than a later one (the last `*`
    takes what is left), so the match is the same; without this each `*` may try every split, and
    twelve of them take minutes on a name of sixty letters."""
    pieces = _pieces(regex)
    out: list[str] = []
    index = 0
    while index < len(pieces):
        kind, text = pieces[index]
        index += 1
        if kind != "star":
            out.append(text)
            continue
        atoms = []
        while index < len(pieces) and pieces[index][0] == "atom":
            atoms.append(pieces[index][1])
            index += 1
        last = index == len(pieces) or pieces[index][0] != "star"
        out.append(_STAR + "".join(atoms) if last else f"(?>[^/]*?{''.join(atoms)})")
    return _first_fit_double_stars("".join(out))


_MIDDLE_DOUBLE_STAR = "(?:/.+)?/"  # what pathspec writes for a `/**/` between two names


def _first_fit_double_stars(regex: str) -> str:
    """The same for `/**/`: each but the last takes the names after it at the first place they fit
    as whole names, atomically (`a/**/b/**/c`: the first `b` below `a`). What follows is another
    `**`, which can skip any number of names, so the first fit is never worse; without this, eight
    of them on a path sixty folders deep try every way to split it."""
    pieces = regex.split(_MIDDLE_DOUBLE_STAR)
    if len(pieces) <= 2:
        return regex
    head, *middle, tail = pieces
    return head + "".join(f"(?>(?:/.+?)??/{piece}(?=/|$))" for piece in middle) + _MIDDLE_DOUBLE_STAR + tail


def _pieces(regex: str) -> list[tuple[str, str]]:
    """("star" | "atom" | "other", text): a name's `*`, what matches one character, and the rest
    (groups, anchors, slashes, `.*`)."""
    pieces = []
    index = 0
    while index < len(regex):
        if regex.startswith("(", index):
            end = _group_end(regex, index)
            pieces.append(("other", regex[index:end]))
            index = end
            continue
        token = _TOKEN.match(regex, index).group()
        kind = "star" if token == _STAR else "other" if token in ("^", "$", "/") or token[:1] == "." else "atom"
        pieces.append((kind, token))
        index += len(token)
    return pieces


def _group_end(regex: str, start: int) -> int:
    """Just past the group that opens at `start`, with its quantifier."""
    depth, index = 0, start
    while index < len(regex):
        char = regex[index]
        if char == "\\":
            index += 2
            continue
        depth += (char == "(") - (char == ")")
        index += 1
        if depth == 0:
            return index + (index < len(regex) and regex[index] in "?*+")
    return len(regex)


def _ignored(path: Path, is_dir: bool, specs: list[tuple[Path, object]]) -> bool:
    """git's rule: the deepest .gitignore with a matching pattern decides, its last match wins."""
    verdict = None
    for base, spec in specs:
        relative = path.relative_to(base).as_posix() + ("/" if is_dir else "")
        result = spec.check_file(relative).include
        if result is not None:
            verdict = result
    return bool(verdict)


def _walk(folder: Path) -> Iterator[str]:
    """Depth-first, names sorted, ignored folders never entered."""
    stack = [(folder, _ignore_specs(folder))]
    while stack:
        current, specs = stack.pop()
        try:
            entries = sorted(os.scandir(current), key=lambda entry: entry.name)
        except OSError:
            continue
        subfolders = []
        for entry in entries:
            if skipped_part(entry.name):
                continue
            path = Path(entry.path)
            try:
                is_dir = entry.is_dir(follow_symlinks=False)
            except OSError:
                continue
            if _ignored(path, is_dir, specs):
                continue
            if is_dir:
                if not (path / "pyvenv.cfg").is_file():
                    own = _load_ignore(path)
                    subfolders.append((path, specs + [(path, own)] if own is not None else specs))
            else:
                yield path.relative_to(folder).as_posix()
        stack.extend(reversed(subfolders))


def fuzzy_rank(query: str, paths: list[str], limit: int) -> list[str]:
    """Paths containing the query's characters in order, best first: in the file name, together, short."""
    wanted = query.lower()
    scored = []
    for path in paths:
        score = _fuzzy_score(wanted, path.lower())
        if score is not None:
            scored.append((score, len(path), path))
    scored.sort()
    return [path for _score, _length, path in scored[:limit]]


def _fuzzy_score(query: str, path: str) -> int | None:
    """Lower is better; None when the query is not a subsequence of the path."""
    if not query:
        return 0
    if path.startswith(query):
        return -3_000
    name_start = path.rfind("/") + 1
    if path.find(query, name_start) >= 0:
        return -2_000
    if query in path:
        return -1_000
    score, position = 0, -1
    for char in query:
        found = path.find(char, position + 1)
        if found < 0:
            return None
        score += found - position - 1  # gaps cost
        position = found
    return score
