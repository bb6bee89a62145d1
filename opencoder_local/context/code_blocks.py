"""Fenced code blocks: found in an answer the way a Markdown renderer finds them, and written for a file."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from markdown_it import MarkdownIt

_EXTENSIONS = {
    "python": "py", "py": "py", "javascript": "js", "js": "js", "typescript": "ts", "ts": "ts",
    "bash": "sh", "sh": "sh", "shell": "sh", "rust": "rs", "go": "go", "c": "c", "cpp": "cpp",
    "c++": "cpp", "java": "java", "json": "json", "yaml": "yaml", "toml": "toml", "html": "html",
    "css": "css", "sql": "sql", "ruby": "rb", "markdown": "md",
}


@dataclass(frozen=True)
class CodeBlock:
    language: str
    code: str

    @property
    def suggested_name(self) -> str:
        return "snippet." + _EXTENSIONS.get(self.language.lower(), "txt")

    @property
    def summary(self) -> str:
        first = next((line.strip() for line in self.code.splitlines() if line.strip()), "")
        lines = len(self.code.splitlines())
        return f"[{self.language or 'text'}] {first[:60]} ({lines} line{'s' if lines != 1 else ''})"


@lru_cache(maxsize=1)
def commonmark() -> MarkdownIt:
    """The parser answers are read with, as a Markdown renderer reads them (built once: that takes longer
    than parsing a short answer; markdown-it loads with the first answer read, not at start-up)."""
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark")


def code_blocks(markdown: str) -> list[CodeBlock]:
    tokens = commonmark().parse(markdown)
    return [
        CodeBlock(token.info.split()[0] if token.info.strip() else "", token.content)
        for token in tokens
        if token.type == "fence"
    ]


def fence_for(text: str) -> str:
    """A backtick fence longer than any run of backticks the text starts a line with."""
    longest = max((len(m.group(1)) for m in re.finditer(r"^\s*(`{3,})", text, re.M)), default=0)
    return "`" * max(3, longest + 1)


@lru_cache(maxsize=512)
def language_for(path: str) -> str:
    """The fence's language for a file name, as Pygments knows it ("" when unknown or plain text)."""
    from pygments.lexers import find_lexer_class_for_filename

    lexer = find_lexer_class_for_filename(Path(path).name)
    language = lexer.aliases[0] if lexer is not None and lexer.aliases else ""
    return "" if language == "text" else language


SHELL_LANGUAGES = frozenset({"sh", "bash", "shell", "console", "zsh"})


def shell_commands(markdown: str, leave_out: frozenset[str] = frozenset()) -> list[str]:
    """The commands an answer proposes: each sh/bash/shell/console block as one command. Where a block
    shows `$ ` prompts (a console session), only the prompted lines are the command, without the prompt,
    and the output lines between are not; blocks whose text is in `leave_out` (file edits) are not commands."""
    found = []
    for block in code_blocks(markdown):
        if block.language.lower() not in SHELL_LANGUAGES or block.code in leave_out:
            continue
        command = _prompted(block.code) or block.code.strip()
        if command:
            found.append(command)
    return list(dict.fromkeys(found))


def _prompted(code: str) -> str:
    """The `$ ` lines of a console block (a line ending in a backslash goes on), prompts removed."""
    lines: list[str] = []
    going_on = False
    for line in code.splitlines():
        if going_on or line.startswith("$ "):
            lines.append(line if going_on else line[2:])
            going_on = line.rstrip().endswith("\\")
    return "\n".join(lines).strip()
