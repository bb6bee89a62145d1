"""The conversation as it will be sent: the system prompt and as many recent turns as fit."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

from opencoder_local.engine.protocol import ContextBudget, Message

Counter = Callable[[Sequence[Message]], ContextBudget]


@dataclass(frozen=True)
class Prompt:
    messages: list[Message]
    budget: ContextBudget  # exact: the engine counted these very messages
    dropped: int  # older messages left out so the rest fits


def answer_reserve(n_ctx: int, max_tokens: int | None) -> int:
    """Room kept free for the answer when deciding how much history fits."""
    wanted = max_tokens if max_tokens else 512
    return max(1, min(wanted, n_ctx // 4))


def fit_to_window(count: Counter, system: str | None, history: Sequence[Message], reserve: int) -> Prompt:
    """Drop the oldest turns until the prompt leaves `reserve` tokens; never drop the newest message."""
    head = [Message("system", system)] if system else []
    turns = list(history)
    dropped = 0
    budget = count(head + turns)
    while budget.prompt_tokens > budget.n_ctx - reserve and len(turns) > 1:
        cut = 1
        while cut < len(turns) - 1 and turns[cut].role != "user":
            cut += 1  # keep whole exchanges: the kept history starts at a question
        turns = turns[cut:]
        dropped += cut
        budget = count(head + turns)
    return Prompt(head + turns, budget, dropped)
