"""Files a user attaches to a question: read as text or refused with one clear line."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from opencoder_local.errors import UserError
from opencoder_local.files import user_path

MAX_ATTACHMENT_BYTES = 256 * 1024


class AttachmentError(UserError):
    """The file cannot be attached: missing, a folder, too large, or not text."""


@dataclass(frozen=True)
class Attachment:
    name: str
    text: str

    def as_markdown(self) -> str:
        fence = "````" if "```" in self.text else "```"
        language = Path(self.name).suffix.lstrip(".")
        return f"File `{self.name}`:\n{fence}{language}\n{self.text.rstrip()}\n{fence}"


def read_attachment(path: str | Path, max_bytes: int = MAX_ATTACHMENT_BYTES) -> Attachment:
    file = user_path(path)
    if not file.exists():
        raise AttachmentError(f"cannot attach {file}: no such file")
    if not file.is_file():
        raise AttachmentError(f"cannot attach {file}: it is not a regular file")
    size = file.stat().st_size
    if size > max_bytes:
        raise AttachmentError(
            f"cannot attach {file}: {size:,} bytes is more than the {max_bytes:,}-byte limit; attach a smaller excerpt"
        )
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise AttachmentError(f"cannot attach {file}: {exc.strerror or exc}") from None
    if b"\x00" in data:
        raise AttachmentError(f"cannot attach {file}: it is a binary file; attach source or text files only")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise AttachmentError(f"cannot attach {file}: it is not UTF-8 text") from None
    return Attachment(file.name, text)


def with_attachments(text: str, attachments: list[Attachment]) -> str:
    """The user message as sent and saved: the question, then each attached file as a fence."""
    if not attachments:
        return text
    return "\n\n".join([text, *(a.as_markdown() for a in attachments)]).strip()
