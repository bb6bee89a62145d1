"""The conversation as it will be sent: system prompt, working set, and as much history as fits.

The order keeps llama.cpp's KV cache valid from one turn to the next: the system prompt, then
the files (least recently changed first), then the project map (context/repo_map.py), then the
history, then the new question. The files and the map travel at the head of the first user message
kept, so no template sees two user messages in a row and the model's own default system prompt
stays. When the history outgrows the window the oldest exchanges are cut, a quarter of the window
beyond what is needed, and the cut is kept (`start`) on the next turns while they fit: each turn
then reuses the cache instead of re-evaluating everything after a cut that moved by one exchange.
"""

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
    parts: dict[str, int]  # exact tokens of "system", "files", "map", "history" (summing to the prompt), "reserve"


def answer_reserve(n_ctx: int, max_tokens: int | None) -> int:
    """Room kept free for the answer when deciding how much history fits."""
    wanted = max_tokens if max_tokens else 512
    return max(1, min(wanted, n_ctx // 4))


def text_counter(engine) -> Callable[[str], int]:
    """Tokens a text adds to a prompt, counted by the engine itself (its vocabulary and template)."""
    empty = engine.count([Message("user", "")]).prompt_tokens
    return lambda text: engine.count([Message("user", text)]).prompt_tokens - empty


def with_files(files: str, turns: Sequence[Message]) -> list[Message]:
    """The turns with the files' message at the head of the first user message (or before all)."""
    if not files:
        return list(turns)
    if turns and turns[0].role == "user":
        first = turns[0].content
        return [Message("user", f"{files}\n\n{first}" if first else files), *turns[1:]]
    return [Message("user", files), *turns]


def fit_to_window(count: Counter, system: str | None, history: Sequence[Message], reserve: int,
                  files: str = "", start: int = 0, repo_map: str = "") -> Prompt:
    """Leave out the oldest exchanges until the prompt leaves `reserve` tokens.

    Never left out: the system prompt, the files, the map, the newest question (and what follows it).
    `start` is the cut the previous turn used: kept while the prompt fits with it."""
    head = [Message("system", system)] if system else []
    context = "\n\n".join(part for part in (files, repo_map) if part)
    turns = list(history)
    newest = max((i for i, m in enumerate(turns) if m.role == "user"), default=max(len(turns) - 1, 0))
    cut = _exchange_start(turns, min(start, newest))
    budget = count(head + with_files(context, turns[cut:]))
    limit = budget.n_ctx - reserve
    if budget.prompt_tokens > limit:
        goal = limit - budget.n_ctx // 4  # a cut big enough for the next turns to fit after it
        while budget.prompt_tokens > goal and cut < newest:
            cut = _exchange_start(turns, cut + 1)
            budget = count(head + with_files(context, turns[cut:]))
    kept = with_files(context, turns[cut:])
    parts = _parts(count, head, files, context, bool(kept), budget.prompt_tokens, reserve)
    return Prompt(head + kept, budget, cut, parts)


def _parts(count: Counter, head: list[Message], files: str, files_and_map: str, asking: bool, total: int,
           reserve: int) -> dict[str, int]:
    """The prompt's exact breakdown: each part is what it adds to the count, so the parts sum to `total`."""
    if not asking:
        return {"system": total, "files": 0, "map": 0, "history": 0, "reserve": reserve}
    # A template may add its default system prompt only before a first message: count it as system.
    system = count(head + [Message("user", "")]).prompt_tokens
    with_files_tokens = count(head + with_files(files, [])).prompt_tokens if files else system
    with_map = (count(head + with_files(files_and_map, [])).prompt_tokens if files_and_map != files
                else with_files_tokens)
    return {"system": system, "files": with_files_tokens - system, "map": with_map - with_files_tokens,
            "history": total - with_map, "reserve": reserve}


def free_for_files(count: Counter, system: str | None, files: str, question: str, reserve: int) -> int:
    """Tokens more files may take: the window less the reserve, the system prompt, the files and the
    question. Older history does not count: it is cut to make room, the files never are."""
    return fit_to_window(count, system, [Message("user", question)], reserve, files).budget.remaining - reserve


def _exchange_start(turns: Sequence[Message], index: int) -> int:
    """The first question at or after `index`: the kept history always starts at a question."""
    while index < len(turns) - 1 and turns[index].role != "user":
        index += 1
    return index
