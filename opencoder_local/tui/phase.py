"""What the chat screen is doing: one value the status bar and the footer show (the status bar
shows each phase's value, and the model's name while it loads)."""

from __future__ import annotations

from enum import Enum


class Phase(Enum):
    NO_MODEL = "no model"  # before the first load, or the load failed
    LOADING = "loading"  # the model loads; questions can be typed meanwhile
    WAITING = "waiting"  # a question waits for the model to load
    IDLE = "ready"
    GENERATING = "generating"
    STOPPING = "stopping…"  # Esc was pressed: the answer ends and is saved as stopped
    STOPPED = "stopped"  # ready, after an answer that was stopped or cut short
    MODEL_STOPPED = "model stopped"  # the model process died: the next question starts another
    RUNNING = "running command"  # /run, /test or a proposed command runs; Esc stops it and its processes

    @property
    def loading(self) -> bool:
        return self in (Phase.LOADING, Phase.WAITING)

    @property
    def answering(self) -> bool:
        """An answer is being written (until its end has been shown)."""
        return self in (Phase.GENERATING, Phase.STOPPING)
