"""Every chat action and slash command, once: the palette, the input box and the help screen read
these tables, and key hints come from the bindings themselves (a rebinding cannot leave a stale hint)."""

from __future__ import annotations

import os
import re
import shlex
from functools import partial
from pathlib import Path
from typing import Iterable, NamedTuple

from textual.binding import Binding, BindingType
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.content import Content
from textual.fuzzy import Matcher

from opencoder_local.context.project_files import leaves
from opencoder_local.errors import UserError
from opencoder_local.files import inside


class ChatAction(NamedTuple):
    title: str  # in the palette and the help screen
    help: str
    action: str  # the chat screen's action


CHAT_ACTIONS: list[ChatAction] = [
    ChatAction("Stop generating", "Stop the answer now, keeping what was written", "stop"),
    ChatAction("Regenerate answer", "Answer the last question again", "regenerate"),
    ChatAction("Edit last message", "Put your last question back in the input to change and resend", "edit_last"),
    ChatAction("New conversation", "Start a fresh conversation", "new_chat"),
    ChatAction("Clear conversation", "Remove every message of this conversation", "clear"),
    ChatAction("Toggle sidebar", "Show or hide the conversation list", "toggle_sidebar"),
    ChatAction("Search conversations", "Find conversations by title or text", "search"),
    ChatAction("Rename conversation", "Give this conversation a new title", "rename"),
    ChatAction("Delete conversation", "Delete this conversation for good", "delete"),
    ChatAction("Export conversation to Markdown", "Write this conversation to a .md file", "export"),
    ChatAction("Copy last code block", "Copy the newest code block to the clipboard", "copy_code"),
    ChatAction("Copy a code block…", "Choose a code block of this conversation to copy", "copy_chosen_code"),
    ChatAction("Save last code block to a file", "Write the newest code block to a file", "save_code"),
    ChatAction("Save a code block to a file…", "Choose a code block of this conversation to save", "save_chosen_code"),
    ChatAction("Review proposed edits", "Open the diffs of the newest answer's file edits to accept or reject",
               "review_edits"),
    ChatAction("Undo the last applied edit", "Restore the files of the last edit applied, as they were",
               "undo_edit"),
    ChatAction("Add command output to the next question", "The last command's output (capped) goes with your "
               "next question; again: it does not", "add_output"),
    ChatAction("Ask the model to fix the tests", "Send the failing output and the files it names; apply the "
               "fix after review; test again, up to `rounds` times", "fix_tests"),
    ChatAction("Add suggested files", "Add the files the project map ranks highest for your draft", "add_suggested"),
    ChatAction("Keys and commands", "Every key and slash command of the chat", "help"),
]


class SlashCommand(NamedTuple):
    name: str  # typed after the slash
    args: str  # how its arguments are written ("[...]": optional)
    help: str
    handler: str  # the method of tui.flows.slash.SlashCommands; it gets the words after the name
    raw: bool = False  # the rest of the line is one word, as typed (a command line, a commit message)

    @property
    def usage(self) -> str:
        return f"/{self.name} {self.args}".strip()

    @property
    def needs_args(self) -> bool:
        return bool(self.args) and not self.args.startswith("[")


SLASH_COMMANDS: list[SlashCommand] = [
    SlashCommand("add", "PATH…", "Keep files in the conversation: paths, globs (src/**/*.py), folders, "
                 "line ranges (app.py:10-40)", "add"),
    SlashCommand("drop", "[PATH|GLOB]", "Take files out of the conversation (all of them when bare)", "drop"),
    SlashCommand("files", "", "List the files in the conversation with their tokens and state", "files"),
    SlashCommand("map", "", "Show the map of the project's other files the next question carries", "map"),
    SlashCommand("undo", "", "Restore the files of the last edit applied in this conversation, as they were", "undo"),
    SlashCommand("edits", "", "List the edits applied in this conversation", "edits"),
    SlashCommand("run", "COMMAND", "Run a command in the project folder (after you confirm); also !COMMAND",
                 "run_command", raw=True),
    SlashCommand("test", "", "Run the project's tests (test_command in .opencoder.toml, or found); when they fail, "
                 "the model can be asked to fix them", "test"),
    SlashCommand("diff", "", "Show what the applied edits changed since the last commit", "diff"),
    SlashCommand("commit", "[MESSAGE]", "Commit exactly the files applied edits changed, with MESSAGE or a message "
                 "the model drafts and you edit", "commit", raw=True),
    SlashCommand("help", "", "Every key and slash command of the chat", "help"),
]
ESCAPES = "Start a message with // or a space to send it as it is (// becomes /); !COMMAND runs a command."


class Typed(NamedTuple):
    """A slash command as typed; `command` is None for an unknown name."""

    name: str
    command: SlashCommand | None
    words: list[str]


def typed_command(text: str) -> Typed | None:
    """The slash command in the input box, or None when the text is a message."""
    if not text.startswith("/") or text.startswith("//"):
        return None
    name, rest = (text[1:].split(maxsplit=1) + ["", ""])[:2]
    command = next((c for c in SLASH_COMMANDS if c.name == name), None)
    if command is None:
        return Typed(name, None, [])
    if command.raw:
        return Typed(name, command, [rest.strip()] if rest.strip() else [])
    try:
        words = shlex.split(rest)
    except ValueError as exc:  # an unclosed quote
        raise UserError(f"/{name}: {exc}; quote paths with spaces as \"my file.py\"") from None
    return Typed(name, command, words)


def as_message(text: str) -> str:
    """A message as sent: a leading // stands for / (a leading space is stripped with the rest)."""
    return text[1:] if text.startswith("//") else text


MENTION = re.compile(r"(?:^|(?<=\s))@(\S+)")
LINE_RANGE = re.compile(r":\d+(?:-\d+)?$")


def file_mentions(text: str, root: Path) -> list[str]:
    """The `@path` (or `@path:START-END`) words of a message that name something in the project `root`.

    Other @words stay plain text ("@property", "@here", "@/etc/passwd", "@../x.py"): only a relative
    path that stays in the project, symlinks resolved, is attached; trailing punctuation is not part
    of a path."""
    found: list[str] = []
    for word in MENTION.findall(text):
        for candidate in (word, word.rstrip(".,;:!?)]}'\"")):
            if candidate and _in_project(root, LINE_RANGE.sub("", candidate)):
                found.append(candidate)
                break
    return list(dict.fromkeys(found))


def _in_project(root: Path, relative: str) -> bool:
    if relative.startswith("~") or os.path.isabs(relative):
        return False
    path = Path(os.path.normpath(root / relative))
    return inside(path, root) and os.path.lexists(path) and not leaves(root, path)


def unknown_command(name: str) -> str:
    known = ", ".join(f"/{c.name}" for c in SLASH_COMMANDS)
    return f"Unknown command /{name}. Known: {known}. {ESCAPES}"


def key_label(binding: Binding) -> str:
    """A key as a person reads it: "Ctrl+R", "F2", "Esc"."""
    if binding.key_display:
        return binding.key_display
    names = {"escape": "Esc", "enter": "Enter", "tab": "Tab", "delete": "Del"}
    return "+".join(names.get(part, part.upper() if len(part) == 1 else part.capitalize())
                    for part in binding.key.split("+"))


def key_hints(bindings: Iterable[BindingType]) -> dict[str, str]:
    """Each action's first key, from the bindings themselves."""
    hints: dict[str, str] = {}
    for binding in Binding.make_bindings(bindings):
        hints.setdefault(binding.action, key_label(binding))
    return hints


def key_table(bindings: Iterable[BindingType]) -> list[tuple[str, str]]:
    """(key, what it does) for each bound action, in binding order; the palette's title where it has one."""
    titles = {action.action: action.title for action in CHAT_ACTIONS}
    rows: dict[str, tuple[str, str]] = {}
    for binding in Binding.make_bindings(bindings):
        title = titles.get(binding.action, binding.description)
        if title:  # Textual's own silent keys (Ctrl+C's "how to quit" hint) have none
            rows.setdefault(binding.action, (key_label(binding), title))
    return list(rows.values())


class ChatCommands(Provider):
    """All chat actions and slash commands in Textual's command palette (Ctrl+P); typing also finds
    conversations to open."""

    def _entries(self) -> list[tuple[str, str, object]]:
        """(title, help, what selecting it does) for every action and command."""
        keys = key_hints(self.screen.BINDINGS)
        entries: list[tuple[str, str, object]] = []
        for title, help_text, action in CHAT_ACTIONS:
            if self.screen.check_action(action, ()) is False:
                continue  # nothing to do now (no edit to review, none to undo)
            key = keys.get(action)
            entries.append((title, f"{help_text} ({key})" if key else help_text, partial(self._run, action)))
        for command in SLASH_COMMANDS:
            entries.append((command.usage, command.help, partial(self._command, command)))
        return entries

    async def discover(self) -> Hits:
        for title, help_text, run in self._entries():
            yield DiscoveryHit(Content(title), run, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, help_text, run in self._entries():
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, _highlight(matcher, title), run, text=title, help=help_text)
        session = getattr(self.screen, "session", None)
        for conversation in session.store.conversations() if session else []:
            text = f"Open: {conversation.title}"
            score = matcher.match(text)
            if score > 0:
                yield Hit(score, _highlight(matcher, text), partial(self._open, conversation.id),
                          text=text, help="Switch to this conversation")

    async def _run(self, action: str) -> None:
        await self.screen.run_action(action)

    async def _command(self, command: SlashCommand) -> None:
        await self.screen.slash.ask(command)

    async def _open(self, conversation_id: int) -> None:
        await self.screen.conversations.open(conversation_id)


def _highlight(matcher: Matcher, text: str) -> Content:
    """Matcher.highlight for text that is not markup (a title may hold "[/usr/bin]")."""
    content = Content(text)
    for offset in matcher.fuzzy_search.match(matcher.query, text)[1]:
        if not text[offset].isspace():
            content = content.stylize(matcher.match_style, offset, offset + 1)
    return content
