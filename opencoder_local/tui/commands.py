"""Every chat action, once: the palette lists them all (keys are in the chat screen's BINDINGS)."""

from __future__ import annotations

from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.content import Content
from textual.fuzzy import Matcher

# (title in the palette, what it does, action on the chat screen)
CHAT_ACTIONS: list[tuple[str, str, str]] = [
    ("Stop generating", "Stop the answer now, keeping what was written (Esc)", "stop"),
    ("Regenerate answer", "Answer the last question again (Ctrl+R)", "regenerate"),
    ("Edit last message", "Put your last question back in the input to change and resend (Ctrl+T)", "edit_last"),
    ("New conversation", "Start a fresh conversation (Ctrl+N)", "new_chat"),
    ("Clear conversation", "Remove every message of this conversation (Ctrl+L)", "clear"),
    ("Toggle sidebar", "Show or hide the conversation list (Ctrl+B)", "toggle_sidebar"),
    ("Search conversations", "Find conversations by title or text (Ctrl+F)", "search"),
    ("Rename conversation", "Give this conversation a new title (F2)", "rename"),
    ("Delete conversation", "Delete this conversation for good", "delete"),
    ("Export conversation to Markdown", "Write this conversation to a .md file", "export"),
    ("Copy last code block", "Copy the newest code block to the clipboard (Ctrl+O)", "copy_code"),
    ("Copy a code block…", "Choose a code block of this conversation to copy", "copy_chosen_code"),
    ("Save last code block to a file", "Write the newest code block to a file (Ctrl+S)", "save_code"),
    ("Save a code block to a file…", "Choose a code block of this conversation to save", "save_chosen_code"),
    ("Attach a file", "Add a text file to your next question", "attach"),
    ("Remove attachments", "Drop the files attached to the next question", "clear_attachments"),
]


class ChatCommands(Provider):
    """All chat actions in Textual's command palette (Ctrl+P); typing also finds conversations to open."""

    async def discover(self) -> Hits:
        for title, help_text, action in CHAT_ACTIONS:
            yield DiscoveryHit(title, partial(self._run, action), help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, help_text, action in CHAT_ACTIONS:
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), partial(self._run, action), help=help_text)
        session = getattr(self.screen, "session", None)
        for conversation in session.store.conversations() if session else []:
            text = f"Open: {conversation.title}"
            score = matcher.match(text)
            if score > 0:
                yield Hit(score, _highlight(matcher, text), partial(self._open, conversation.id),
                          text=text, help="Switch to this conversation")

    async def _run(self, action: str) -> None:
        await self.screen.run_action(action)

    async def _open(self, conversation_id: int) -> None:
        await self.screen.open_conversation(conversation_id)


def _highlight(matcher: Matcher, text: str) -> Content:
    """Matcher.highlight for text that is not markup (a title may hold "[/usr/bin]")."""
    content = Content(text)
    for offset in matcher.fuzzy_search.match(matcher.query, text)[1]:
        if not text[offset].isspace():
            content = content.stylize(matcher.match_style, offset, offset + 1)
    return content
