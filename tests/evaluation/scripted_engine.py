"""An engine that answers from a script: exact control of what a model says, for the harness's tests."""

from __future__ import annotations

from opencoder_local.engine import ContextBudget, Delta, TurnStats


class ScriptedEngine:
    model_name = "scripted"
    quantization = "none"
    backend = "CPU"
    n_ctx = 4096

    def __init__(self, pieces: list[str] | None = None, chat: bool = True, answers: dict[str, str] | None = None):
        self.pieces = pieces
        self.answers = answers or {}  # a problem's prompt text in the message -> the whole answer
        self.chat_mode = chat
        self.cancelled = False
        self.asked: list[str] = []

    def count(self, messages) -> ContextBudget:
        return ContextBudget(sum(len(m.content) // 4 for m in messages), self.n_ctx)

    def stream(self, messages, params):
        self.cancelled = False
        self.asked.append(messages[-1].content)
        pieces = self.pieces if self.pieces is not None else [self._answer(messages[-1].content)]
        for piece in pieces:
            yield Delta(piece)
        yield Delta("", TurnStats(10, 0, len(pieces), 0.0, 100.0, "cancelled" if self.cancelled else "stop"), 0)

    def _answer(self, message: str) -> str:
        return next((text for key, text in self.answers.items() if key in message), "no idea")

    def cancel(self) -> None:
        self.cancelled = True

    def wait_ready(self) -> None:
        pass

    def prefill(self, messages) -> None:
        pass

    def close(self) -> None:
        pass
