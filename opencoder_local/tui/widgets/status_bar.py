"""Model, backend, the exact context meter broken down, live tokens/s, and what the app is doing."""

from __future__ import annotations

import time

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.message import Message
from textual.widgets import Label

from opencoder_local.engine.protocol import TurnStats
from opencoder_local.terminal_text import printable
from opencoder_local.tui.phase import Phase


RATE_INTERVAL_S = 0.5
_PHASE_CLASSES = {Phase.IDLE: "-ready", Phase.STOPPED: "-ready", Phase.NO_MODEL: "-error",
                  Phase.MODEL_STOPPED: "-error"}  # every other phase is busy


class StatusBar(Horizontal):
    class Rate(Message, bubble=False):
        """Live tokens/s from the generation thread; only the newest one matters."""

        def __init__(self, tok_s: float):
            super().__init__()
            self.tok_s = tok_s

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, StatusBar.Rate)

    def compose(self) -> ComposeResult:
        for name in ("state", "model", "backend", "context", "rate"):
            yield Label("", id=name, markup=False)  # a model's file name may contain [brackets]

    def show_phase(self, phase: Phase, model: str | None) -> None:
        """What the chat is doing (a question waiting for the model shows as the load it waits for)."""
        label = self.query_one("#state", Label)
        label.update(printable(f"loading {model}…") if phase.loading else phase.value)
        label.set_classes(_PHASE_CLASSES.get(phase, "-busy"))

    def set_model(self, name: str, quantization: str, backend: str) -> None:
        shown = name if quantization.lower() in name.lower() else f"{name} {quantization}"
        shown = printable(shown)  # a server's model id is the server's text
        self.query_one("#model", Label).update(shown.strip())
        self.query_one("#backend", Label).update(printable(backend))

    def show_turn(self, backend: str, stats: TurnStats) -> None:
        """After an answer: how much of its prompt the backend's KV cache (a server's prompt cache) served,
        or a state saved on disk (a conversation reopened), and how many of prompt lookup's guessed tokens
        the model kept."""
        cached = f" · {stats.reused_tokens:,}/{stats.prompt_tokens:,} cached" if stats.reused_tokens else ""
        if stats.restored_tokens:
            cached = f" · {stats.restored_tokens:,}/{stats.prompt_tokens:,} from disk"
        drafts = f" · lookup {stats.accepted_tokens:,}/{stats.drafted_tokens:,} kept" if stats.drafted_tokens else ""
        self.query_one("#backend", Label).update(backend + cached + drafts)

    def on_status_bar_rate(self, message: Rate) -> None:
        # A fixed-width label (app.tcss): updating it once a frame needs no layout of the screen.
        self.query_one("#rate", Label).update(f"{message.tok_s:,.1f} tok/s" if message.tok_s else "", layout=False)

    def show_context(self, n_ctx: int, parts: dict[str, int], dropped: int) -> None:
        """The window broken down: what the prompt takes (system, files, history) and the answer's room."""
        label = self.query_one("#context", Label)
        label.update(meter(n_ctx, parts, dropped))
        label.set_class(sum(parts.values()) >= n_ctx * 0.9 or dropped > 0, "-full")


def meter(n_ctx: int, parts: dict[str, int], dropped: int) -> str:
    """The window's parts; the project map's only when the prompt carries one."""
    project_map = parts.get("map", 0)
    prompt = parts["system"] + parts["files"] + project_map + parts["history"]
    shown_map = f" · map {project_map:,}" if project_map else ""
    text = (f"ctx {prompt:,} / {n_ctx:,}: sys {parts['system']:,} · files {parts['files']:,}{shown_map}"
            f" · hist {parts['history']:,} · answer {parts['reserve']:,}")
    return text + f" · {dropped} old msg{'s' if dropped != 1 else ''} dropped" if dropped else text


class RateMeter:
    """Live tokens/s from the generation thread, posted to the status bar at a steady rate."""

    def __init__(self, status: StatusBar):
        self.status = status
        self.tokens, self.first, self.posted = 0, 0.0, 0.0

    def add(self, tokens: int) -> None:
        now = time.perf_counter()
        self.tokens += tokens
        self.first = self.first or now
        if now - self.posted >= RATE_INTERVAL_S and self.tokens > 1 and now > self.first:
            self.status.post_message(StatusBar.Rate((self.tokens - 1) / (now - self.first)))
            self.posted = now
