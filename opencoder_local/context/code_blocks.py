"""Fenced code blocks in an answer, found the way a Markdown renderer finds them."""

from __future__ import annotations

from dataclasses import dataclass

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


def code_blocks(markdown: str) -> list[CodeBlock]:
    tokens = MarkdownIt("commonmark").parse(markdown)
    return [
        CodeBlock(token.info.split()[0] if token.info.strip() else "", token.content)
        for token in tokens
        if token.type == "fence"
    ]
