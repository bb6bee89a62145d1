"""What a failing command's output tells the model: the files it names, and the question to ask.

A path is taken from Python tracebacks (`File "x.py", line 3`), pytest's lines (`tests/test_x.py:12:
AssertionError`, `FAILED tests/test_x.py::test_y`) and the `path:line[:col]` that compilers and
runtimes print (gcc, rustc's `--> src/main.rs:3:5`, go, node's `(/abs/app.js:3:9)`). Only regular
files inside the project count (symlinks resolved: a link out of the project is not followed), and
nothing from a virtualenv, site-packages or node_modules: the model fixes the project, not its
dependencies. A failing test often names only itself (`assert add(2, 3) == 5` names the test, not
`calc.py`): after the files named come the project's own modules that a named Python file imports,
since the fix is usually there.
"""

from __future__ import annotations

import ast
import os
import re
from pathlib import Path

from opencoder_local.context.edits import EDIT_INSTRUCTIONS
from opencoder_local.files import inside
from opencoder_local.loop.run import CommandResult

MAX_FILES = 8
_SKIPPED_PARTS = frozenset({".venv", "venv", "site-packages", "dist-packages", "node_modules", ".git", ".tox",
                            "__pycache__", ".nox", ".eggs"})
_PATH = r"[^\s\"'`:()<>\[\],]+"
_MENTIONS = [
    re.compile(rf'File "(?P<path>[^"\n]+)", line \d+'),  # Python traceback
    re.compile(rf"(?:^|\s)(?:FAILED|ERROR) (?P<path>{_PATH})::"),  # pytest's summary lines
    re.compile(rf"(?:^|[\s(\[=>])(?P<path>{_PATH}):\d+(?::\d+)?(?=[\s:),\]]|$)", re.MULTILINE),  # path:line[:col]
]


def files_in_failure(output: str, project: Path, limit: int = MAX_FILES) -> list[str]:
    """Project-relative paths (POSIX) of the files the output names, in order of first mention."""
    root = Path(os.path.realpath(project))
    mentions: list[tuple[int, str]] = []
    for pattern in _MENTIONS:
        mentions.extend((match.start("path"), match.group("path")) for match in pattern.finditer(output))
    found: list[str] = []
    for _position, mentioned in sorted(mentions):
        relative = _project_file(mentioned, root)
        if relative is not None and relative not in found:
            found.append(relative)
    for named in list(found):
        found.extend(module for module in _imported_modules(named, root) if module not in found)
    return found[:limit]


def _imported_modules(relative: str, root: Path) -> list[str]:
    """The project files a Python file imports (`import calc`, `from pkg.mod import x`, `from . import y`),
    looked for beside it, at the project root and under src/."""
    if not relative.endswith(".py"):
        return []
    path = root / relative
    try:
        if path.stat().st_size > 1 << 20:
            return []
        tree = ast.parse(path.read_bytes())
    except (OSError, SyntaxError, ValueError, RecursionError, MemoryError):
        return []
    names: list[tuple[str, Path | None]] = []  # (dotted name, the folder a relative import starts from)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend((alias.name, None) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = None
            if node.level:
                base = path.parent
                for _ in range(node.level - 1):
                    base = base.parent
            module = node.module or ""
            names.extend((f"{module}.{alias.name}".strip("."), base) for alias in node.names)
            if module:
                names.append((module, base))
    found = []
    for dotted, base in names:
        parts = dotted.split(".")
        for folder in ([base] if base is not None else [path.parent, root, root / "src"]):
            for candidate in (folder.joinpath(*parts).with_suffix(".py"), folder.joinpath(*parts, "__init__.py")):
                module = _project_file(str(candidate), root)
                if module is not None and module != relative and module not in found:
                    found.append(module)
    return found


def _project_file(mentioned: str, root: Path) -> str | None:
    """The mention as a project-relative path, if it names a regular file inside the project."""
    if "\0" in mentioned or len(mentioned) > 4096:
        return None
    path = Path(mentioned)
    candidate = path if path.is_absolute() else root / path
    try:
        real = Path(os.path.realpath(candidate))
        if not inside(real, root) or not real.is_file():
            return None
    except (OSError, ValueError):
        return None
    relative = real.relative_to(root)
    if _SKIPPED_PARTS.intersection(relative.parts):
        return None
    return relative.as_posix()


def fix_question(result: CommandResult, output_for_model: str, asked: str = "", edit_format: bool = True) -> str:
    """The question that asks the model to make the command pass: what failed and its (capped) output.
    `asked`: the user's own words, kept in front. `edit_format`: spell out the edit format that
    `context/edits.py` reads (the working set's message already does when it holds files)."""
    fence = _fence_for(output_for_model)
    parts = [asked.strip()] if asked.strip() else []
    ending = ("Fix the code so that the command passes. Change the code under test, not the tests, unless "
              "the tests themselves are wrong.")
    ending += " " + EDIT_INSTRUCTIONS if edit_format else " Answer with the edits, in the form given above."
    parts += [
        f"The command `{result.command}` {_what_happened(result)}. Its output:",
        f"{fence}\n{output_for_model.rstrip()}\n{fence}",
        ending,
    ]
    return "\n\n".join(parts)


def _what_happened(result: CommandResult) -> str:
    if result.timed_out:
        return "did not finish in time and was stopped"
    if result.signal_name is not None:
        return f"was killed by {result.signal_name}"
    if result.not_found:
        return "was not found (the shell's exit 127)"
    return f"failed (exit {result.exit_code})"


def _fence_for(text: str) -> str:
    """A backtick fence longer than any run of backticks in the text, so the output cannot close it."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    return "`" * max(3, longest + 1)
