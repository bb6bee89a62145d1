"""One file of the user's project read as text, or refused with a one-line reason.

Every guard is here: missing files, broken symlinks and loops, folders, pipes and devices
(never opened: a FIFO would block), unreadable files, binary files, files too large to read
whole (refused from their size before a byte is read), and text that is not UTF-8 (decoded
with replacement characters and a warning).
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass
from pathlib import Path

MAX_READ_BYTES = 64 * 1024 * 1024  # the bound when a caller names none: no read is ever unbounded
SNIFF_BYTES = 8192  # a NUL byte in the first 8 KiB marks a binary file, as git decides
NOT_UTF8 = "not UTF-8: decoded with replacement characters"


class Refused(Exception):
    """A file that cannot join the working set; str() is the one-line reason."""


class TooLarge(Refused):
    """More bytes than any window could take; the caller words the reason with the budget."""

    def __init__(self, size: int):
        self.size = size
        super().__init__(f"too large: {size:,} bytes")


@dataclass(frozen=True)
class FileText:
    text: str
    warning: str | None = None
    size: int = 0  # bytes on disk


def check_regular(path: Path) -> os.stat_result:
    """The file's stat (symlinks followed), or a Refused that says why it is not a readable file."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        if os.path.lexists(path):
            raise Refused("broken symlink: its target does not exist") from None
        raise Refused("no such file") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise Refused("symlink loop: it never reaches a file") from None
        raise Refused(f"cannot read it: {exc.strerror or exc}") from None
    if stat.S_ISDIR(info.st_mode):
        raise Refused("it is a folder")
    if not stat.S_ISREG(info.st_mode):
        raise Refused("not a regular file (a pipe, socket or device)")
    if _kernel_file(path):
        raise Refused("a kernel file (/proc, /sys): its reads can block or never end")
    return info


KERNEL_FOLDERS = ("/proc", "/sys")


def _kernel_file(path: Path) -> bool:
    """A file of the kernel's: it says size 0 and its read may block forever (/proc/kmsg) or be endless."""
    try:
        real = os.path.realpath(path)
    except (OSError, ValueError):
        return False
    return any(real == folder or real.startswith(folder + "/") for folder in KERNEL_FOLDERS)


def _open_regular(path: Path):
    """Open for reading without blocking (a FIFO swapped in after the check would block open()),
    and check what was opened is still a regular file."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    fd = os.open(path, flags)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise Refused("not a regular file (a pipe, socket or device)")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_text(path: Path, lines: tuple[int, int] | None = None, max_bytes: int | None = None) -> FileText:
    """The file's text (or lines START-END of it); at most `max_bytes` are ever read (never unbounded)."""
    if max_bytes is None:
        max_bytes = MAX_READ_BYTES
    info = check_regular(path)
    if lines is None and max_bytes is not None and info.st_size > max_bytes:
        raise TooLarge(info.st_size)
    try:
        with _open_regular(path) as handle:
            data = _read_lines(handle, lines, max_bytes) if lines else handle.read(_cap(max_bytes))
    except OSError as exc:
        raise Refused(f"cannot read it: {exc.strerror or exc}") from None
    if max_bytes is not None and len(data) > max_bytes:
        raise TooLarge(len(data) if lines else max(len(data), info.st_size))  # /proc files say size 0
    if b"\0" in data[:SNIFF_BYTES] or (lines is None and b"\0" in data):
        raise Refused("binary file: only text files can be added")
    try:
        return FileText(data.decode("utf-8-sig"), None, info.st_size)
    except UnicodeDecodeError:
        return FileText(data.decode("utf-8", "replace"), NOT_UTF8, info.st_size)


def _cap(max_bytes: int | None) -> int:
    return -1 if max_bytes is None else max_bytes + 1  # one byte more shows it grew past the cap


def _read_lines(handle, lines: tuple[int, int], max_bytes: int | None) -> bytes:
    """Lines START-END (1-based, inclusive), read in bounded pieces: a range of a huge file is cheap."""
    start, end = lines
    kept: list[bytes] = []
    size, number, limit = 0, 1, _cap(max_bytes)
    while number <= end:
        piece = handle.readline(65536)
        if not piece:
            break
        if number >= start:
            kept.append(piece)
            size += len(piece)
            if 0 <= limit <= size:
                break
        if piece.endswith(b"\n"):
            number += 1
    return b"".join(kept)
