"""When to show the text streamed so far: as often as the UI can afford, no more.

On two cores the model's threads and the UI share the CPU: every millisecond the UI spends
re-laying out a growing Markdown answer is a millisecond a llama.cpp thread waits at its barrier
(measured here: 11 ms of UI CPU per token at 20 frames/s, the app at 0.53x of the engine). So the
frame interval adapts: the app's CPU time between two frames, over the wall time, is held near a
budget. A fast machine gets the fastest rate; a slow one fewer, larger frames. No text is dropped.

The text itself waits in an IncomingText until a frame takes it: the generating thread wakes the UI
once a frame, not once a token (a message per token cost the UI's loop about half a millisecond, as
much as the drawing itself at the demo model's pace).
"""

from __future__ import annotations

import threading
import time
from typing import Callable

FASTEST_S = 1 / 30
SLOWEST_S = 0.5
CPU_BUDGET = 0.10  # of one core, spent by this process while an answer streams


class FramePacer:
    """Call due() as text arrives; when it says so, show everything pending and call shown()."""

    def __init__(self, budget: float = CPU_BUDGET, fastest: float = FASTEST_S, slowest: float = SLOWEST_S,
                 clock: Callable[[], float] = time.perf_counter, cpu: Callable[[], float] = time.process_time):
        self.budget, self.fastest, self.slowest = budget, fastest, slowest
        self.interval = fastest
        self._clock, self._cpu = clock, cpu
        self._last_wall = clock()
        self._last_cpu = cpu()

    def due(self) -> bool:
        return self._clock() - self._last_wall >= self.interval

    def shown(self) -> None:
        """A frame's text was handed to the UI: adapt the interval to what the last one cost."""
        wall, cpu = self._clock(), self._cpu()
        spent = (cpu - self._last_cpu) / max(wall - self._last_wall, 1e-6)
        wanted = self.interval * spent / self.budget
        # Move half-way (in ratio) toward the interval that would meet the budget: steady, not jumpy.
        self.interval = min(self.slowest, max(self.fastest, (self.interval * max(wanted, 1e-6)) ** 0.5))
        self._last_wall, self._last_cpu = wall, cpu


class IncomingText:
    """Text from the generating thread, taken by the UI a frame at a time.

    add() (any thread) calls `wake` when its text starts a new batch, so the UI hears once per frame;
    take() (the UI) empties the batch."""

    def __init__(self, wake: Callable[[], object]):
        self._wake = wake
        self._lock = threading.Lock()
        self._pieces: list[str] = []

    def add(self, text: str) -> None:
        with self._lock:
            self._pieces.append(text)
            first = len(self._pieces) == 1
        if first:
            self._wake()

    def take(self) -> str:
        with self._lock:
            text = "".join(self._pieces)
            self._pieces.clear()
        return text
