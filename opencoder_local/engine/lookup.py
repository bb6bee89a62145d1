"""Prompt lookup: guess the next tokens from where the last few occurred before, and how many guesses pay.

Pure Python, no llama.cpp and no clock: engine/decoding.py checks the guesses against the model in one
batch; engine/lookup_costs.py measures and stores the cost table.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

NGRAM = 3  # tokens that must match before what followed them is proposed
MAX_DRAFT = 16  # most tokens proposed at once


@dataclass(frozen=True)
class Candidate:
    """What followed the last tokens where they occurred before."""

    tokens: list[int]
    fresh: bool  # True: a new match; False: the continuation of a source the answer has been following


class NgramIndex:
    """The conversation's tokens and, for each n-gram, the position after its latest occurrence.

    Each appended token costs one dict write and a proposal costs its length: nothing scans the prompt
    again. A source whose continuation the answer keeps following (a file being copied) is followed
    on, rather than looked up anew, so a phrase repeated elsewhere does not pull the guess away."""

    def __init__(self, tokens: list[int], n: int = NGRAM):
        self.n = n
        self.tokens: list[int] = []
        self._after: dict[tuple[int, ...], int] = {}
        self._cursor: int | None = None  # the position in `tokens` the answer is following, if any
        self.extend(tokens)

    def append(self, token: int) -> None:
        tokens = self.tokens
        if len(tokens) >= self.n:  # the n-gram that ended before this token is followed by it
            self._after[tuple(tokens[-self.n:])] = len(tokens)
        if self._cursor is not None:
            self._cursor = self._cursor + 1 if tokens[self._cursor] == token else None
        tokens.append(token)

    def extend(self, tokens: list[int]) -> None:
        for token in tokens:
            self.append(token)

    def candidate(self, limit: int) -> Candidate | None:
        """Up to `limit` tokens that followed the current tail before; None when it never occurred."""
        if limit <= 0:
            return None
        fresh = self._cursor is None
        if fresh:
            start = self._after.get(tuple(self.tokens[-self.n:]))
            if start is None:
                return None
            self._cursor = start
        return Candidate(self.tokens[self._cursor:self._cursor + limit], fresh)


class _Rate:
    """A running estimate of a probability, moving 1/16 of the way to each new outcome."""

    def __init__(self, prior: float):
        self.value = prior

    def add(self, success: bool) -> None:
        self.value += (float(success) - self.value) / 16


@dataclass(frozen=True)
class CostTable:
    """What a decode of k tokens costs on one machine and model, in one-token decodes.

    Fixed while answers run, so what is drafted depends on the tokens alone and the same question
    gets the same batches, and the same answer, whatever else the machine is doing. `points` are
    (k, cost) for the sizes measured, k >= 2 ascending; between them the cost is linear, past the
    last it grows by the last segment's cost per token."""

    points: tuple[tuple[int, float], ...]

    def __post_init__(self) -> None:
        sizes = [k for k, _ in self.points]
        if not sizes or sizes[0] < 2 or sizes != sorted(set(sizes)):
            raise ValueError("a cost table needs sizes of 2 or more, ascending, each once")
        if not all(isinstance(c, float) and math.isfinite(c) and c > 0 for _, c in self.points):
            raise ValueError("a cost table needs costs that are finite numbers above 0")

    def __call__(self, size: int) -> float:
        points = ((1, 1.0), *self.points)
        for (k0, c0), (k1, c1) in zip(points, points[1:]):
            if size <= k1:
                return c0 + (c1 - c0) * max(size - k0, 0) / (k1 - k0)
        (k0, c0), (k1, c1) = points[-2:]
        return c1 + (c1 - c0) * (size - k1) / (k1 - k0)


# A CPU's figures (the demo model, default attention, two x86 cores on a quiet machine): the table
# lookup drafts by until `opencoder calibrate` measures this machine's own.
DEFAULT_COSTS = CostTable(((2, 1.47), (4, 2.12), (8, 3.61), (17, 6.77)))


class DraftPolicy:
    """How many of a candidate's tokens to draft: the number that gives the most tokens per second.

    A step with a draft of k yields on average 1 + p1 + p1*p2 + ... + p1*p2**(k-1) tokens and costs
    costs(k+1); a one-token step yields 1 and costs 1. p1 is the chance a new match's first token is
    right, p2 the chance of each token after a right one (and of a source being followed). Steps
    without a draft still score the candidate's first token against the model's, so prose learns
    that its matches miss without paying for them. No clock: the choice is a function of the tokens
    seen so far and the cost table."""

    def __init__(self, costs: CostTable, max_draft: int = MAX_DRAFT):
        self.max_draft = max_draft
        self._costs = [costs(size) for size in range(max_draft + 2)]  # by batch size; [0] unused
        self.first = _Rate(0.3)
        self.follow = _Rate(0.7)

    def length(self, candidate: Candidate) -> int:
        chance = self.first.value if candidate.fresh else self.follow.value
        best, best_rate, expected = 0, 1.0, 1.0
        for length in range(1, min(self.max_draft, len(candidate.tokens)) + 1):
            expected += chance
            chance *= self.follow.value
            rate = expected / self._costs[length + 1]
            if rate > best_rate:
                best, best_rate = length, rate
        return best

    def score(self, candidate: Candidate, drafted: int, produced: list[int]) -> None:
        """Learn from a step: the model produced `produced` (the accepted draft, then its own token)."""
        rate = self.first if candidate.fresh else self.follow
        for guess, actual in zip(candidate.tokens[:max(drafted, 1)], produced):
            rate.add(guess == actual)
            if guess != actual:
                return
            rate = self.follow
