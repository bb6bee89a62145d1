"""The header of a safetensors file: an 8-byte little-endian length, then that many bytes of JSON.

The converter reads its tensor table through here; a download checks with `check_complete`
that a finished file is exactly what its header describes (the format allows no gap between
tensors and nothing after the last one), which catches truncated and damaged files.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

from opencoder_local import documents
from opencoder_local.errors import UserError

MAX_HEADER = 100 * 1024 * 1024


class SafetensorsError(UserError):
    """A safetensors file that cannot be read, or whose header does not match its bytes."""


def read_header(path: Path) -> tuple[dict[str, Any], int, int]:
    """The header object, the offset where tensor data starts, and the file's size."""
    try:
        size = path.stat().st_size
        with path.open("rb") as fh:
            head = fh.read(8)
            if len(head) < 8:
                raise SafetensorsError(f"{path} is truncated or not a safetensors file")
            (n,) = struct.unpack("<Q", head)
            if n > min(size - 8, MAX_HEADER):
                raise SafetensorsError(f"{path} is corrupt or truncated: bad header length")
            raw = fh.read(n)
    except OSError as exc:
        raise SafetensorsError(f"cannot read {path}: {exc.strerror or exc}") from None
    header = documents.parse_json(raw, f"{path} is corrupt: its header")
    if not isinstance(header, dict):
        raise SafetensorsError(f"{path} is corrupt: its header is not a JSON object")
    return header, 8 + n, size


def check_complete(path: Path) -> None:
    """Raise unless the tensors' byte ranges tile the data exactly, from its start to the file's end."""
    header, base, size = read_header(path)
    spans = sorted(_span(path, name, entry) for name, entry in header.items() if name != "__metadata__")
    end = 0
    for start, stop, name in spans:
        if start != end:
            raise SafetensorsError(f"{path} is corrupt: tensor {name} starts at byte {start:,} of the data, not {end:,}")
        end = stop
    if base + end != size:
        raise SafetensorsError(f"{path} is {size:,} bytes but its header describes {base + end:,}")


def _span(path: Path, name: str, entry: Any) -> tuple[int, int, str]:
    offsets = entry.get("data_offsets") if isinstance(entry, dict) else None
    if not (isinstance(offsets, list) and len(offsets) == 2
            and all(isinstance(o, int) and not isinstance(o, bool) and o >= 0 for o in offsets)
            and offsets[0] <= offsets[1]):
        raise SafetensorsError(f"{path} is corrupt: tensor {name} has no valid data_offsets")
    return offsets[0], offsets[1], name
