"""A scripted engine for the tests that need exact control of the answer and its timing."""

from __future__ import annotations

import re
import threading
import time
from typing import Iterator, Sequence

from opencoder_local.engine.prompt_format import ContextFullError
from opencoder_local.engine.protocol import ContextBudget, Delta, GenParams, Message, TurnStats


def pieces(text: str) -> list[str]:
    """Token-sized pieces: words with their following whitespace."""
    return re.findall(r"\S+\s*|\s+", text)


class ScriptedEngine:
    """Answers with the given texts in turn (the last one repeats), `delay` seconds per piece."""

    model_name = "Scripted-Coder-1B"
    quantization = "Q4_1"
    backend = "CPU"
    chat_mode = True

    def __init__(self, answers: Sequence[str] | str = "Hello.", delay: float = 0.0, n_ctx: int = 4096,
                 pause_after: int | None = None):
        self.answers = [answers] if isinstance(answers, str) else list(answers)
        self.delay = delay
        self.n_ctx = n_ctx
        self.turns = 0
        self.prompts: list[list[Message]] = []
        self.prefilled: list[list[Message]] = []  # what the app asked to be read ahead, in order
        self._cancel = threading.Event()
        # With pause_after, each turn yields that many pieces, sets `paused` and waits for the test
        # to set `resume` (or for a cancel): a test can act mid-answer without racing the stream.
        self.pause_after = pause_after
        self.paused, self.resume = threading.Event(), threading.Event()
        self.closed = False

    def wait_ready(self) -> None:
        pass

    def prefill(self, messages: Sequence[Message]) -> None:
        self.prefilled.append(list(messages))

    def save_state(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True
        self._cancel.set()

    def count(self, messages: Sequence[Message]) -> ContextBudget:
        return ContextBudget(sum(3 + len(pieces(m.content)) for m in messages) + 2, self.n_ctx)

    def cancel(self) -> None:
        self._cancel.set()

    def stream(self, messages: Sequence[Message], params: GenParams = GenParams()) -> Iterator[Delta]:
        """Like the real engine, the turn begins at the call: a cancel() from then on stops it."""
        prompt = self.count(messages).prompt_tokens
        if prompt >= self.n_ctx:
            raise ContextFullError(prompt, self.n_ctx)
        self._cancel.clear()
        self.prompts.append(list(messages))
        answer = self.answers[min(self.turns, len(self.answers) - 1)]
        self.turns += 1
        return self._turn(prompt, answer)

    def _turn(self, prompt: int, answer: str) -> Iterator[Delta]:
        sent, reason = 0, "stop"
        for index, piece in enumerate(pieces(answer)):
            if index == self.pause_after:
                self.paused.set()
                while not (self.resume.wait(0.01) or self._cancel.is_set()):
                    pass
            if self._cancel.is_set():
                reason = "cancelled"
                break
            if self.delay:
                time.sleep(self.delay)
            sent += 1
            yield Delta(piece)
        yield Delta("", TurnStats(prompt, 0, sent, 0.01, 123.4, reason))
