"""What another machine sends us (the Hub, a model server), read within bounds.

Every JSON document and every line of a stream from a peer is read through here, so a peer that
sends an endless document, one enormous line or a document that trickles forever costs a bounded
amount of memory and time, and becomes a PeerDataError the caller turns into its own one line
(it names the peer; this module does not know who is talking).
"""

from __future__ import annotations

import json
import time
from typing import Any, Iterable, Iterator

MAX_DOCUMENT = 16 * 1024 * 1024  # a Hub listing of 100,000 files is about 20 MB over 100 pages
MAX_LINE = 4 * 1024 * 1024  # one server-sent event: a token's text, or the last event's timings and settings


class PeerDataError(Exception):
    """What a peer sent is too large, too slow, or not JSON; the message completes "the peer sent ..."."""


class NotJsonError(PeerDataError):
    """A document that is not JSON at all (an HTML page, say), as opposed to one too large."""


def read_capped(chunks: Iterable[bytes], limit: int = MAX_DOCUMENT, seconds: float | None = None) -> bytes:
    """All of a body, refused once it passes `limit` bytes or, with `seconds`, takes longer than that."""
    deadline = None if seconds is None else time.monotonic() + seconds
    data = bytearray()
    for chunk in chunks:
        data += chunk
        if len(data) > limit:
            raise PeerDataError(f"a document larger than {_size(limit)}")
        if deadline is not None and time.monotonic() > deadline:
            raise PeerDataError(f"a document that took over {seconds:g} s to arrive")
    return bytes(data)


def json_document(chunks: Iterable[bytes], limit: int = MAX_DOCUMENT, seconds: float | None = None) -> Any:
    """A JSON document read with `read_capped` and parsed with `parse_json`."""
    return parse_json(read_capped(chunks, limit, seconds))


def parse_json(data: bytes) -> Any:
    """The value of a peer's JSON document; malformed, too deep or not Unicode is a PeerDataError."""
    try:
        value = json.loads(data)
        json.dumps(value, ensure_ascii=False).encode("utf-8")  # a lone surrogate escape fails here, not later
    except RecursionError:
        raise PeerDataError("a JSON document nested too deeply to be read") from None
    except (ValueError, UnicodeError):
        raise NotJsonError(f"something that is not JSON ({_start(data)})") from None
    return value


def capped_lines(chunks: Iterable[bytes], limit: int = MAX_LINE) -> Iterator[str]:
    """The lines of a body (\\n or \\r\\n), as text; a line longer than `limit` bytes is a PeerDataError
    as soon as that many bytes have come without a line break."""
    pending = bytearray()
    for chunk in chunks:
        searched = len(pending)  # what came before holds no line break
        pending += chunk
        start = 0
        while (end := pending.find(b"\n", max(start, searched))) >= 0:
            yield _text(pending[start:end])
            start = end + 1
        del pending[:start]
        if len(pending) > limit:
            raise PeerDataError(f"a line longer than {_size(limit)}")
    if pending:
        yield _text(pending)


def _text(line: bytes | bytearray) -> str:
    return bytes(line).removesuffix(b"\r").decode("utf-8", errors="replace")


def _start(data: bytes) -> str:
    head = data[:40].decode("utf-8", errors="replace").strip()
    return f"it starts {head!r}" if head else "it is empty"


def _size(n: int) -> str:
    return f"{n / (1024 * 1024):g} MiB"
