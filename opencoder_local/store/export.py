"""A conversation as a Markdown document, and the atomic file write used for every export."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Sequence

from opencoder_local.store.conversations import STOPPED, STREAMING, Conversation, StoredMessage

_HEADINGS = {"user": "You", "assistant": "Assistant", "system": "System"}


def conversation_markdown(conversation: Conversation, messages: Sequence[StoredMessage]) -> str:
    parts = [f"# {conversation.title}\n"]
    for message in messages:
        heading = _HEADINGS.get(message.role, message.role.title())
        if message.status == STOPPED:
            heading += " (stopped)"
        elif message.status == STREAMING:
            heading += " (interrupted)"
        parts.append(f"## {heading}\n\n{message.content.strip()}\n")
    return "\n".join(parts)


def write_text_atomic(path: Path, text: str) -> None:
    """Write via a temp file in the same folder, fsync, then rename: never a half-written file."""
    path = Path(path).expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
