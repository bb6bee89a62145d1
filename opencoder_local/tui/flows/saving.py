"""Copy or save the conversation's code blocks, and write a file the user named (export too)."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from opencoder_local.context.code_blocks import CodeBlock, code_blocks
from opencoder_local.errors import UserError
from opencoder_local.files import check_replaceable, user_path, write_atomic
from opencoder_local.tui.clipboard import copy_text
from opencoder_local.tui.flows.host import ChatHost
from opencoder_local.tui.screens.ask import AskScreen
from opencoder_local.tui.screens.code_picker import CodePickerScreen
from opencoder_local.tui.screens.confirm import ConfirmScreen


class CodeFlow:
    def __init__(self, host: ChatHost):
        self.host = host

    def blocks(self) -> list[CodeBlock]:
        """The conversation's code blocks, newest first (answers only); a notice when there are none."""
        found: list[CodeBlock] = []
        for message in reversed(self.host.session.messages):
            if message.role == "assistant":
                found.extend(reversed(code_blocks(message.content)))
        if not found:
            self.host.notify("No code block in this conversation's answers yet.")
        return found

    def copy_last(self) -> None:
        if blocks := self.blocks():
            self.copy(blocks[0])

    def copy_chosen(self) -> None:
        self._choose("Copy which code block?", self.copy)

    def save_last(self) -> None:
        if blocks := self.blocks():
            self.save(blocks[0])

    def save_chosen(self) -> None:
        self._choose("Save which code block?", self.save)

    def _choose(self, title: str, then: Callable[[CodeBlock], None]) -> None:
        if blocks := self.blocks():
            self.host.app.push_screen(CodePickerScreen(title, blocks), lambda block: block and then(block))

    def copy(self, block: CodeBlock) -> None:
        used = copy_text(self.host.app, block.code)
        lines = len(block.code.splitlines())
        self.host.notify(f"Copied {lines} line{'s' if lines != 1 else ''} of {block.language or 'code'} "
                         f"({', '.join(used)}).", markup=False)

    def save(self, block: CodeBlock) -> None:
        def save(path: str | None) -> None:
            if path:
                self.write_file(path, block.code if block.code.endswith("\n") else block.code + "\n",
                                "Saved the code block")

        self.host.app.push_screen(AskScreen("Save code block to file", str(Path.cwd() / block.suggested_name)), save)

    def write_file(self, path: str, text: str, done: str) -> None:
        """Write `text` to `path`, asking first if that replaces a file; only regular files are replaced."""
        host = self.host

        def failed(message: str) -> None:
            host.notify(f"{message}. Choose another path.", severity="error", markup=False)

        try:
            target = user_path(path)
            check_replaceable(target)
        except UserError as exc:
            failed(str(exc))
            return

        def write(sure: bool | None = True) -> None:
            if not sure:
                return
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                write_atomic(target, text)
            except OSError as exc:
                failed(f"Cannot write {target}: {exc.strerror or exc}")
                return
            except UserError as exc:
                failed(str(exc))
                return
            host.notify(f"{done} to {target}.", markup=False)

        if target.is_file():
            host.app.push_screen(ConfirmScreen(f"{target} exists. Replace it?"), write)
        else:
            write()
