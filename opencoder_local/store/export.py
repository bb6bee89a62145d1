"""A conversation as a Markdown document, and the atomic file write used for every export."""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path
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


def write_text_atomic(path: Path, text: str) -> None:
    """Write via a temp file in the same folder, fsync, then rename: never a half-written file.

    A new file gets the usual permissions (0o666 less the umask); a replaced one keeps its own."""
    path = Path(path).expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        mode = None
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # the kernel applies the umask
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            if mode is not None:
                os.fchmod(handle.fileno(), mode)
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
