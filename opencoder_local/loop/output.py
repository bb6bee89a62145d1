"""What a command wrote, kept in bounded memory however much it writes.

The first `HEAD_BYTES` and the last `TAIL_BYTES` are kept as bytes, with totals of bytes and lines:
a test run's first lines say what ran and its last lines say what failed, and a 100 MB flood costs
no more than a short run. Text is made only when it is asked for: printable for a screen (colours
and control codes removed, invalid UTF-8 replaced), and cut to a number of tokens for the model.
"""

from __future__ import annotations

import threading
from typing import Callable

from opencoder_local.terminal_text import program_output

HEAD_BYTES = 64 << 10
TAIL_BYTES = 256 << 10
MODEL_LINE_CHARS = 2000  # a longer line is cut for the model: a minified file says nothing more


class CapturedOutput:
    """A command's output so far: the head, the tail and the totals (thread-safe: one writer, any readers)."""

    def __init__(self, head_bytes: int = HEAD_BYTES, tail_bytes: int = TAIL_BYTES):
        self._head_limit = head_bytes
        self._tail_limit = tail_bytes
        self._head = bytearray()
        self._tail = bytearray()
        self._newlines = 0
        self._kept_newlines_dropped = 0  # newlines in bytes that fell out of the tail
        self.total_bytes = 0
        self._last_byte = b""
        self._lock = threading.Lock()

    def feed(self, data: bytes) -> None:
        if not data:
            return
        with self._lock:
            self.total_bytes += len(data)
            self._newlines += data.count(b"\n")
            self._last_byte = data[-1:]
            room = self._head_limit - len(self._head)
            if room > 0:
                self._head += data[:room]
                data = data[room:]
            if not data:
                return
            if len(data) >= self._tail_limit:
                self._kept_newlines_dropped += self._tail.count(b"\n") + data[:-self._tail_limit].count(b"\n")
                self._tail[:] = data[-self._tail_limit:]
                return
            self._tail += data
            # Cut in big steps: memory stays under twice the limit and the cost stays linear.
            if len(self._tail) >= 2 * self._tail_limit:
                cut = len(self._tail) - self._tail_limit
                self._kept_newlines_dropped += self._tail.count(b"\n", 0, cut)
                del self._tail[:cut]

    @property
    def total_lines(self) -> int:
        with self._lock:
            return self._newlines + (1 if self._last_byte not in (b"", b"\n") else 0)

    def _parts(self) -> tuple[bytes, bytes, int, int]:
        """Head, tail (at most its limit), and the bytes and lines left out between them."""
        with self._lock:
            tail = bytes(self._tail[-self._tail_limit:])
            cut = len(self._tail) - len(tail)
            lines_out = self._kept_newlines_dropped + self._tail.count(b"\n", 0, cut)
            bytes_out = self.total_bytes - len(self._head) - len(tail)
            return bytes(self._head), tail, bytes_out, lines_out

    def text(self) -> str:
        """All that is kept, colours and control codes removed, with a line saying what was left out."""
        head, tail, lines_out = self._texts()
        if tail is None:
            return head
        return f"{head}{'' if head.endswith(chr(10)) else chr(10)}{_marker(lines_out)}\n{tail}"

    def display_text(self) -> str:
        """What to show on a screen: printable, whatever bytes the command wrote."""
        return self.text()

    def for_model(self, count_tokens: Callable[[str], int], max_tokens: int) -> str:
        """The output within `max_tokens` as `count_tokens` counts: whole if it fits, else its first
        and (more of) its last lines with "[N lines left out]" between."""
        head, tail, lines_out = self._texts()
        first = [_cut(line) for line in head.split("\n")]
        last = [_cut(line) for line in tail.split("\n")] if tail is not None else []
        lines = first + last
        if not lines_out and tail is None:
            whole = "\n".join(lines)
            if count_tokens(whole) <= max_tokens:
                return whole
        low, high, best = -1, len(lines), ""  # the most lines kept that fit: a binary search on the count
        while low < high:
            keep = (low + high + 1) // 2
            candidate = _kept(lines, keep, lines_out)
            if count_tokens(candidate) <= max_tokens:
                low, best = keep, candidate
            else:
                high = keep - 1
        return best

    def _texts(self) -> tuple[str, str | None, int]:
        """The head's and the tail's text (None: nothing was left out, the head holds it all) and the
        lines left out between them."""
        head, tail, bytes_out, lines_out = self._parts()
        if not bytes_out:
            return program_output((head + tail).decode("utf-8", "replace")), None, 0
        return (program_output(head.decode("utf-8", "replace")), program_output(tail.decode("utf-8", "replace")),
                max(lines_out, 1))


def _cut(line: str) -> str:
    return line if len(line) <= MODEL_LINE_CHARS else line[:MODEL_LINE_CHARS] + " [cut]"


def _marker(lines: int) -> str:
    return f"[{lines:,} line{'' if lines == 1 else 's'} left out]"


def _kept(lines: list[str], keep: int, lines_out: int) -> str:
    """The first quarter and the last three quarters of `keep` lines, a marker between (-1: the marker alone
    does not fit either, so nothing)."""
    if keep < 0:
        return ""
    if keep >= len(lines) and not lines_out:
        return "\n".join(lines)
    first = keep // 4
    last = keep - first
    left_out = len(lines) - keep + lines_out
    return "\n".join([*lines[:first], _marker(left_out), *lines[len(lines) - last:]])
