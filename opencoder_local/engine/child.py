"""The model's own process: loads the GGUF, then answers turns that arrive on its socket.

Run by engine.process as `python -m opencoder_local.engine.child FD LOAD_JSON`. It has an
interpreter of its own, so the app's rendering never holds the lock generation needs between
tokens. It ends when the app's end of the socket closes, whatever it is doing (even loading).
"""

from __future__ import annotations

import json
import os
import queue
import socket
import sys
import threading
from dataclasses import asdict

from opencoder_local.engine.protocol import EngineOptions, GenParams
from opencoder_local.engine.wire import Channel
from opencoder_local.errors import UserError


class _Turns:
    """Turn requests for the main thread, and cancels that may arrive before their turn starts."""

    def __init__(self) -> None:
        self.pending: queue.Queue[dict] = queue.Queue()
        self.cancelled: set[int] = set()
        self.current: int | None = None
        self.engine = None
        self.lock = threading.Lock()

    def cancel(self, turn: int) -> None:
        with self.lock:
            self.cancelled.add(turn)
            if self.current == turn and self.engine is not None:
                self.engine.cancel()

    def begin(self, turn: int, start):
        """Start a turn; a cancel that arrived before it (or arrives from now on) stops it."""
        with self.lock:
            self.current = turn
            deltas = start()  # clears the engine's cancel flag
            if turn in self.cancelled:
                self.engine.cancel()
        return deltas


def _listen(channel: Channel, turns: _Turns) -> None:
    """Read requests until the app goes away, then end the process at once."""
    for batch in channel.batches():
        for message in batch:
            if message["op"] == "turn":
                turns.pending.put(message)
            elif message["op"] == "cancel":
                turns.cancel(message["turn"])
    os._exit(0)


def _answer(engine, channel: Channel, turns: _Turns, request: dict) -> None:
    turn = request["turn"]
    try:
        deltas = turns.begin(turn, lambda: engine.generate(request["ids"], request["max_new"], GenParams(**request["params"])))
        for delta in deltas:
            if delta.stats is None:
                channel.send({"ev": "delta", "turn": turn, "text": delta.text})
            else:
                channel.send({"ev": "done", "turn": turn, "text": delta.text, "stats": asdict(delta.stats)})
    except UserError as exc:
        channel.send({"ev": "error", "turn": turn, "error": str(exc)})
    except Exception as exc:  # a failed decode (out of memory, say): this turn fails, the process lives on
        channel.send({"ev": "error", "turn": turn, "error": f"{type(exc).__name__}: {exc}"})


def main(argv: list[str]) -> None:
    channel = Channel(socket.socket(fileno=int(argv[0])))
    load = json.loads(argv[1])
    turns = _Turns()
    threading.Thread(target=_listen, args=(channel, turns), daemon=True, name="requests").start()

    from opencoder_local.engine.gguf_file import read_gguf
    from opencoder_local.engine.llama_engine import LlamaEngine

    try:  # the app checked the file (engine.model_file.check_model): read its metadata, check nothing twice
        engine = LlamaEngine(read_gguf(load["model"], check_data=False), EngineOptions(**load["options"]))
    except UserError as exc:
        channel.send({"ev": "failed", "error": str(exc)})
        return
    turns.engine = engine
    channel.send({"ev": "ready", "backend": engine.backend, "n_ctx": engine.n_ctx, "n_threads": engine.n_threads})
    try:
        while True:
            _answer(engine, channel, turns, turns.pending.get())
    except OSError:  # the app is gone
        os._exit(0)


if __name__ == "__main__":
    main(sys.argv[1:])
