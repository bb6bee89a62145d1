"""Progress of long jobs (download, conversion, quantization, verification).

A job asks a `Bars` factory for one bar per stage; the command line draws them on a terminal,
the app turns them into messages. Jobs never know which.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Callable, Protocol, TextIO


class Bar(Protocol):
    def advance(self, n: int) -> None: ...

    def set(self, done: int) -> None: ...

    def close(self) -> None: ...


# (label, total, unit) -> a started bar; unit is "B" for bytes or "" for steps.
Bars = Callable[[str, int, str], Bar]


def clock_text(seconds: float) -> str:
    """A duration as a clock shows it: 0:42, 12:05, 1:02:03."""
    seconds = int(max(seconds, 0))
    if seconds >= 3600:
        return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
    return f"{seconds // 60}:{seconds % 60:02d}"


def size_text(n: float) -> str:
    """Bytes as a person reads them: 512 B, 3.4 MB, 4.71 GB."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.2f} {unit}" if unit == "GB" else f"{n / scale:.1f} {unit}"
    return f"{int(n)} B"


class TerminalBar:
    """A one-line bar (amount, rate, ETA) redrawn at most ten times a second; silent when the
    stream is not a terminal."""

    def __init__(self, label: str, total: int, unit: str = "B", stream: TextIO | None = None):
        self.label, self.total, self.unit, self.done = label, max(total, 1), unit, 0
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = self.stream.isatty()
        self.start = self._last = time.monotonic()

    def advance(self, n: int) -> None:
        self.done += n
        now = time.monotonic()
        if self.enabled and (now - self._last > 0.1 or self.done >= self.total):
            self._last = now
            self._draw(now)

    def set(self, done: int) -> None:
        self.advance(done - self.done)

    def line(self, now: float) -> str:
        elapsed = max(now - self.start, 1e-6)
        rate = self.done / elapsed
        eta = (self.total - self.done) / rate if rate > 0 else 0
        frac = min(self.done / self.total, 1.0)
        bar = "#" * int(frac * 24)
        if self.unit == "B":
            amount = f"{size_text(self.done):>9} / {size_text(self.total):<9} {rate / 1e6:7.1f} MB/s"
        else:
            amount = f"{self.done}/{self.total}"
        return f"{self.label:<18} [{bar:<24}] {amount} ETA {clock_text(eta)} "

    def _draw(self, now: float) -> None:
        self.stream.write("\r" + self.line(now))
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self._draw(time.monotonic())
            self.stream.write("\n")
            self.stream.flush()


def terminal_bars(stream: TextIO | None = None) -> Bars:
    """Bars drawn on `stream` (standard error by default) when it is a terminal."""
    return lambda label, total, unit="B": TerminalBar(label, total, unit, stream)


class JsonBar:
    """A bar as JSON lines, for a program that shows the progress itself (the app runs `opencoder pull
    --progress json` in a process of its own): {"stage", "done", "total", "unit"}, at most ten a second."""

    def __init__(self, label: str, total: int, unit: str, stream: TextIO):
        self.label, self.total, self.unit, self.done, self.stream = label, max(total, 1), unit, 0, stream
        self._last = 0.0
        self._emit()

    def advance(self, n: int) -> None:
        self.done += n
        now = time.monotonic()
        if now - self._last > 0.1:
            self._last = now
            self._emit()

    def set(self, done: int) -> None:
        self.advance(done - self.done)

    def close(self) -> None:
        self._emit()

    def _emit(self) -> None:
        record = {"stage": self.label, "done": self.done, "total": self.total, "unit": self.unit}
        self.stream.write(json.dumps(record) + "\n")
        self.stream.flush()


def json_bars(stream: TextIO) -> Bars:
    return lambda label, total, unit="B": JsonBar(label, total, unit, stream)


class _Silent:
    def advance(self, n: int) -> None:
        pass

    def set(self, done: int) -> None:
        pass

    def close(self) -> None:
        pass


def silent_bars(label: str, total: int, unit: str = "B") -> Bar:
    return _Silent()
