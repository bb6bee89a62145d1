"""A pull's progress: one bar per stage as the stages arrive, redrawn at a steady rate.

Reports may come ten times a second or not for a while (a slow network); the rows are redrawn
every REFRESH_S from the newest report of each stage, so the speed falls while nothing arrives
and the ETA keeps counting.
"""

from __future__ import annotations

import collections
import time
from typing import Callable

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Label, ProgressBar

from opencoder_local.models.pull_process import StageProgress
from opencoder_local.progress import clock_text, size_text

REFRESH_S = 0.25
RATE_WINDOW_S = 5.0


class _Rate:
    """Units per second over the last RATE_WINDOW_S, counted up to now: a stall shows as a falling rate."""

    def __init__(self) -> None:
        self.samples: collections.deque[tuple[float, int]] = collections.deque()

    def add(self, now: float, done: int) -> None:
        self.samples.append((now, done))
        while len(self.samples) > 1 and now - self.samples[1][0] >= RATE_WINDOW_S:
            self.samples.popleft()

    def per_second(self, now: float) -> float:
        (first_t, first_done), (_, last_done) = self.samples[0], self.samples[-1]
        return (last_done - first_done) / (now - first_t) if now > first_t else 0.0


def detail_text(progress: StageProgress, rate: float) -> str:
    """Amount done, and for bytes the speed and the time left: 1.20 GB / 3.10 GB · 45.0 MB/s · ETA 0:42."""
    done, total = progress.done, progress.total
    if progress.unit != "B":
        return f"{done:,} / {total:,}"
    text = f"{size_text(done)} / {size_text(total)}"
    if done < total and rate > 0:
        text += f" · {size_text(rate)}/s · ETA {clock_text((total - done) / rate)}"
    return text


class StageRow(Horizontal):
    """One stage: its name, a bar and the numbers."""

    def __init__(self, stage: str):
        super().__init__()
        self.stage = stage

    def compose(self) -> ComposeResult:
        yield Label(self.stage.capitalize(), classes="stage", markup=False)
        yield ProgressBar(show_eta=False)
        yield Label("", classes="detail", markup=False)

    def show(self, progress: StageProgress, rate: float) -> None:
        self.query_one(ProgressBar).update(total=max(progress.total, 1), progress=progress.done)
        self.query_one(".detail", Label).update(detail_text(progress, rate))


class PullProgress(Vertical):
    def __init__(self, clock: Callable[[], float] = time.monotonic, **kwargs):
        super().__init__(**kwargs)
        self._clock = clock
        self._latest: dict[str, StageProgress] = {}
        self._rates: dict[str, _Rate] = {}
        self._rows: dict[str, StageRow] = {}

    def on_mount(self) -> None:
        self.set_interval(REFRESH_S, self.refresh_rows)

    @property
    def stages(self) -> list[str]:
        """The stages shown so far, in the order they came."""
        return list(self._rows)

    def report(self, progress: StageProgress) -> None:
        """The newest numbers of a stage; shown at the next refresh."""
        self._latest[progress.stage] = progress
        self._rates.setdefault(progress.stage, _Rate()).add(self._clock(), progress.done)

    async def refresh_rows(self) -> None:
        now = self._clock()
        for stage, progress in list(self._latest.items()):
            row = self._rows.get(stage)
            if row is None:
                row = self._rows[stage] = StageRow(stage)
                await self.mount(row)
            row.show(progress, self._rates[stage].per_second(now))
