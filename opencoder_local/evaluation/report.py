"""What a person reads: the progress line with the running pass rate, and the table of results
beside the figures OpenCoder published for the same model."""

from __future__ import annotations

import re
import sys
import time
from typing import Sequence, TextIO

from opencoder_local.evaluation.run import Row, Summary
from opencoder_local.progress import clock_text

# Greedy pass@1 from the OpenCoder model cards (huggingface.co/infly/OpenCoder-8B-Instruct and siblings).
PUBLISHED = {
    "humaneval": {("1.5b", "base"): 54.3, ("8b", "base"): 66.5, ("1.5b", "instruct"): 72.5, ("8b", "instruct"): 83.5},
    "humaneval+": {("1.5b", "base"): 49.4, ("8b", "base"): 63.4, ("1.5b", "instruct"): 67.7, ("8b", "instruct"): 78.7},
}


def published(names: Sequence[str], benchmark: str) -> float | None:
    """OpenCoder's own figure for the model any of `names` calls (opencoder-8b-instruct,
    OpenCoder-1.5B-Base-Q8_0, ...); None for any other model or benchmark."""
    figures = PUBLISHED.get(benchmark, {})
    for name in names:
        flat = re.sub(r"[^a-z0-9.]+", "-", name.lower())
        if "opencoder" not in flat:
            continue
        size = next((s for s in ("1.5b", "8b") if re.search(rf"(^|-){re.escape(s)}(-|$)", flat)), None)
        kind = next((k for k in ("instruct", "base") if k in flat), None)
        if (size, kind) in figures:
            return figures[(size, kind)]
    return None


def benchmark_of(data: str | None) -> str:
    """The published table a data file is compared with: HumanEval's own, HumanEval+ by its file's name."""
    if data is None:
        return "humaneval"
    return "humaneval+" if re.search(r"humaneval[-_ ]?(\+|plus)", data.lower()) else "other"


def pass_text(passed: int, total: int) -> str:
    return f"{passed}/{total} = {100 * passed / total:.1f}%" if total else "0/0"


class ProgressLine:
    """One line redrawn on a terminal (at most ten times a second): done, the running pass rate, ETA.
    Silent when the stream is not a terminal."""

    def __init__(self, stream: TextIO | None = None):
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = self.stream.isatty()

    def start(self, model: str, total: int, rows: Sequence[Row]) -> None:
        self.model, self.total = model, total
        self.done, self.passed, self.resumed = len(rows), sum(r.passed for r in rows), len(rows)
        self.started = self._drawn = time.monotonic()
        self._draw()

    def checked(self, row: Row) -> None:
        self.done += 1
        self.passed += row.passed
        now = time.monotonic()
        if now - self._drawn > 0.1 or self.done == self.total:
            self._drawn = now
            self._draw()

    def line(self) -> str:
        frac = self.done / self.total if self.total else 1.0
        new = self.done - self.resumed
        rate = new / (time.monotonic() - self.started) if new else 0.0
        eta = clock_text((self.total - self.done) / rate) if rate else "-"
        return (f"{self.model:<14} [{'#' * int(frac * 20):<20}] {self.done}/{self.total}  "
                f"pass {pass_text(self.passed, self.done)}  ETA {eta} ")

    def _draw(self) -> None:
        if self.enabled:
            self.stream.write("\r" + self.line())
            self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self._draw()
            self.stream.write("\n")
            self.stream.flush()


def table(summaries: Sequence[Summary], benchmark: str) -> str:
    """One row per model: pass@1 with the count, time, tokens/s, and OpenCoder's published figure."""
    head = ("model", "pass@1", "time", "tok/s", "published")
    lines = []
    for s in summaries:
        figure = published([s.model, s.label], benchmark)
        note = "" if s.complete else " (interrupted)"
        lines.append((s.model, pass_text(s.passed, len(s.rows)) + note, clock_text(s.time_s), f"{s.tok_s:.1f}",
                      f"{figure:.1f}%" if figure is not None else "-"))
    widths = [max(len(row[i]) for row in [head, *lines]) for i in range(len(head))]
    text = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in [head, *lines]]
    reasons = _reasons(summaries)
    return "\n".join(text + ([f"failures: {reasons}"] if reasons else []))


def _reasons(summaries: Sequence[Summary]) -> str:
    counts: dict[str, int] = {}
    for s in summaries:
        for row in s.rows:
            if not row.passed:
                counts[row.reason or "?"] = counts.get(row.reason or "?", 0) + 1
    return ", ".join(f"{reason} {n}" for reason, n in sorted(counts.items(), key=lambda kv: -kv[1]))
