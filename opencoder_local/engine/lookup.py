"""Prompt lookup: guess the next tokens from where the last few occurred before, and how many guesses pay.

Pure Python, no llama.cpp: engine/decoding.py checks the guesses against the model in one batch.
"""

from __future__ import annotations

import statistics
from collections import deque
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


class BatchCosts:
    """What a decode of `size` tokens costs on this machine, in one-token decodes.

    Medians of the latest timings of each size, so one batch held up by other work moves nothing
    once a size has a few; the first timing of each size is dropped (llama.cpp plans a graph for a
    batch shape it has not seen). A size not timed yet is estimated from the extra cost per token of
    those that were, or from a CPU's before any was."""

    PRIOR = 0.5  # extra per token before any batch is timed: a CPU's (a GPU's is far less)
    SETTLED = 3  # timings of a size before its estimate stands on its own

    def __init__(self) -> None:
        self._times: dict[int, deque[float]] = {}  # seconds, by size

    def add(self, size: int, seconds: float) -> None:
        if size in self._times:
            self._times[size].append(seconds)
        else:
            self._times[size] = deque(maxlen=9)  # the first: a new graph

    def settled(self, size: int) -> bool:
        return len(self._times.get(size, ())) >= self.SETTLED and self.timed(1)

    def timed(self, size: int) -> bool:
        return bool(self._times.get(size))

    def __call__(self, size: int) -> float:
        if size == 1:
            return 1.0
        if not self.timed(1):
            return 1 + self.PRIOR * (size - 1)
        one = statistics.median(self._times[1])
        if self.timed(size):
            return statistics.median(self._times[size]) / one
        extras = [(statistics.median(times) / one - 1) / (k - 1) for k, times in self._times.items() if k > 1 and times]
        return 1 + max(statistics.median(extras) if extras else self.PRIOR, 0.0) * (size - 1)


class DraftPolicy:
    """How many of a candidate's tokens to draft: the number that gives the most tokens per second.

    A step with a draft of k yields on average 1 + p1 + p1*p2 + ... + p1*p2**(k-1) tokens and costs
    costs(k+1); a one-token step yields 1 and costs 1. p1 is the chance a new match's first token is
    right, p2 the chance of each token after a right one (and of a source being followed). Steps
    without a draft still score the candidate's first token against the model's, so prose learns
    that its matches miss without paying for them."""

    def __init__(self, costs: BatchCosts, max_draft: int = MAX_DRAFT):
        self.costs = costs
        self.max_draft = max_draft
        self.first = _Rate(0.3)
        self.follow = _Rate(0.7)

    def length(self, candidate: Candidate) -> int:
        chance = self.first.value if candidate.fresh else self.follow.value
        best, best_rate, expected = 0, 1.0, 1.0
        for length in range(1, min(self.max_draft, len(candidate.tokens)) + 1):
            expected += chance
            chance *= self.follow.value
            rate = expected / self.costs(length + 1)
            if rate > best_rate:
                best, best_rate = length, rate
        if best == 0 and candidate.tokens and not self.costs.settled(2):
            return 1  # a few one-token drafts, until a 2-token batch's cost is known from this machine
        return best

    def score(self, candidate: Candidate, drafted: int, produced: list[int]) -> None:
        """Learn from a step: the model produced `produced` (the accepted draft, then its own token)."""
        rate = self.first if candidate.fresh else self.follow
        for guess, actual in zip(candidate.tokens[:max(drafted, 1)], produced):
            rate.add(guess == actual)
            if guess != actual:
                return
            rate = self.follow
