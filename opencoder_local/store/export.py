"""A conversation as a Markdown document."""

from __future__ import annotations

from typing import Sequence

from opencoder_local.store.conversations import CUT_SHORT, STOPPED, STREAMING, Conversation, StoredMessage

_HEADINGS = {"user": "You", "assistant": "Assistant", "system": "System"}


def conversation_markdown(conversation: Conversation, messages: Sequence[StoredMessage]) -> str:
    parts = [f"# {conversation.title}\n"]
    for message in messages:
        heading = _HEADINGS.get(message.role, message.role.title())
        if message.status == STOPPED:
            heading += " (stopped)"
        elif message.status == STREAMING:
            heading += " (interrupted)"
        elif message.status == CUT_SHORT:
            heading += " (cut short)"
        parts.append(f"## {heading}\n\n{message.content.strip()}\n")
    return "\n".join(parts)
