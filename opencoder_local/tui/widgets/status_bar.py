"""Model, backend, the exact context meter, live tokens/s, and what the app is doing."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.message import Message
from textual.widgets import Label

from opencoder_local.engine.protocol import ContextBudget


class StatusBar(Horizontal):
    class Rate(Message, bubble=False):
        """Live tokens/s from the generation thread; only the newest one matters."""

        def __init__(self, tok_s: float):
            super().__init__()
            self.tok_s = tok_s

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, StatusBar.Rate)

    class Context(Message, bubble=False):
        """A fresh count of the prompt as it would be sent, from the counting thread.

        `seq` numbers the counts in the order they were asked for: an older one never replaces a newer."""

        def __init__(self, budget: ContextBudget, dropped: int, attachments: int, seq: int):
            super().__init__()
            self.budget = budget
            self.dropped = dropped
            self.attachments = attachments
            self.seq = seq

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, StatusBar.Context) and message.seq <= self.seq

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._context_seq = 0  # the newest count shown

    def compose(self) -> ComposeResult:
        for name in ("state", "model", "backend", "context", "rate"):
            yield Label("", id=name, markup=False)  # a model's file name may contain [brackets]

    def set_state(self, text: str, kind: str = "") -> None:
        label = self.query_one("#state", Label)
        label.update(text)
        label.set_classes(kind)

    def set_model(self, name: str, quantization: str, backend: str) -> None:
        shown = name if quantization.lower() in name.lower() else f"{name} {quantization}"
        self.query_one("#model", Label).update(shown.strip())
        self.query_one("#backend", Label).update(backend)

    def on_status_bar_rate(self, message: Rate) -> None:
        # A fixed-width label (app.tcss): updating it once a frame needs no layout of the screen.
        self.query_one("#rate", Label).update(f"{message.tok_s:,.1f} tok/s" if message.tok_s else "", layout=False)

    def on_status_bar_context(self, message: Context) -> None:
        if message.seq < self._context_seq:
            return  # a slow count of an older draft
        self._context_seq = message.seq
        budget = message.budget
        text = f"ctx {budget.prompt_tokens:,} / {budget.n_ctx:,}"
        if message.dropped:
            text += f" ({message.dropped} old msgs not sent)"
        if message.attachments:
            text += f" +{message.attachments} file{'s' if message.attachments > 1 else ''}"
        label = self.query_one("#context", Label)
        label.update(text)
        label.set_class(budget.prompt_tokens >= budget.n_ctx * 0.9, "-full")
