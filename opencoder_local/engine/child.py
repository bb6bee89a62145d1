"""The model's own process: loads the GGUF, then answers turns that arrive on its socket.

Run by engine.process as `python -m opencoder_local.engine.child FD LOAD` (LOAD: a wire.Load
line). It has an interpreter of its own, so the app's rendering never holds the lock generation
needs between tokens. It ends when the app's end of the socket closes, whatever it is doing (even
loading), and at once, with one line on standard error, if it is sent what it cannot read.
"""

from __future__ import annotations

import os
import queue
import socket
import sys
import threading
import time
from typing import NoReturn

from opencoder_local.engine.wire import (LOAD, REQUESTS, Cancel, Channel, Done, Error, Failed, Load, Piece, Prefill,
                                         Quit, Ready, SaveState, Stopping, Turn, WireError, decode)
from opencoder_local.errors import UserError


class _Turns:
    """Turn, prefill and save requests for the main thread, and cancels that may arrive before their turn
    starts."""

    def __init__(self) -> None:
        self.pending: queue.Queue[Turn | Prefill | SaveState | Quit] = queue.Queue()
        self.cancelled: set[int] = set()
        self.current: int | None = None
        self.prefilling = False
        self.engine = None
        self.lock = threading.Lock()
        self.quit_by: float | None = None  # set by a Quit: the time.monotonic() its save must end by

    def quit(self, request: Quit) -> None:
        """Stop the current turn and every waiting one; the main thread saves, then ends the process."""
        with self.lock:
            self.quit_by = time.monotonic() + request.deadline_s
            if self.engine is not None:
                self.engine.cancel()
        self.pending.put(request)

    def cancel(self, turn: int) -> None:
        """Stop `turn`, and a prefill running ahead of it (the turn it reads for may be this one)."""
        with self.lock:
            self.cancelled.add(turn)
            if (self.current == turn or self.prefilling) and self.engine is not None:
                self.engine.cancel()

    def prefill(self, request: Prefill) -> None:
        """Read a coming turn's prompt ahead, until done or until another request arrives."""
        with self.lock:
            self.prefilling = True
            work = self.engine.read_ahead(list(request.ids), lambda: not self.pending.empty())  # clears its cancel flag
            if self.quit_by is not None:
                self.engine.cancel()
        try:
            work()
        finally:
            with self.lock:
                self.prefilling = False

    def begin(self, turn: int, start):
        """Start a turn; a cancel that arrived before it (or arrives from now on) stops it."""
        with self.lock:
            self.current = turn
            deltas = start()  # clears the engine's cancel flag
            if turn in self.cancelled or self.quit_by is not None:
                self.engine.cancel()
        return deltas


def _listen(channel: Channel, turns: _Turns) -> None:
    """Read requests until the app goes away, then end the process at once.

    A cancel is acknowledged here, not by the turn (which ends after its current token): the app
    takes a process that says nothing within its deadline for hung, however slow its tokens."""
    try:
        for batch in channel.batches():
            for request in batch:
                if isinstance(request, (Turn, Prefill, SaveState)):
                    turns.pending.put(request)
                elif isinstance(request, Quit):
                    turns.quit(request)
                elif isinstance(request, Cancel):
                    turns.cancel(request.turn)
                    channel.send(Stopping(request.turn))
    except WireError as exc:
        _quit(exc)
    except OSError:  # the app is gone
        pass
    os._exit(0)


def _quit(exc: WireError) -> NoReturn:
    """End at once with one line for the app: it reports the process's last words when it ends."""
    print(f"opencoder: the model process got {exc}", file=sys.stderr, flush=True)
    os._exit(2)


def _answer(engine, channel: Channel, turns: _Turns, request: Turn) -> None:
    turn = request.turn
    try:
        deltas = turns.begin(turn, lambda: engine.generate(list(request.ids), request.max_new, request.params))
        for delta in deltas:
            if delta.stats is None:
                channel.send(Piece(turn, delta.text))
            else:
                channel.send(Done(turn, delta.text, delta.stats))
    except UserError as exc:
        channel.send(Error(turn, str(exc)))
    except Exception as exc:  # a failed decode (out of memory, say): this turn fails, the process lives on
        channel.send(Error(turn, f"{type(exc).__name__}: {exc}"))


def main(argv: list[str]) -> None:
    channel = Channel(socket.socket(fileno=int(argv[0])), REQUESTS)
    try:
        load: Load = decode(argv[1], LOAD)
    except WireError as exc:
        _quit(exc)
    turns = _Turns()
    threading.Thread(target=_listen, args=(channel, turns), daemon=True, name="requests").start()

    from opencoder_local.engine.gguf_file import read_gguf
    from opencoder_local.engine.llama_engine import LlamaEngine

    try:  # the app checked the file (engine.model_file.check_model): read its metadata, check nothing twice
        engine = LlamaEngine(read_gguf(load.model, check_data=False), load.options)
    except UserError as exc:
        channel.send(Failed(str(exc)))
        return
    turns.engine = engine
    channel.send(Ready(engine.backend, engine.n_ctx, engine.n_threads))
    try:
        while True:
            request = turns.pending.get()
            if isinstance(request, Turn) and turns.quit_by is None:
                _answer(engine, channel, turns, request)
            elif isinstance(request, Prefill) and turns.quit_by is None:
                turns.prefill(request)
            elif isinstance(request, SaveState) and turns.quit_by is None:
                engine.save_state()
            elif isinstance(request, Quit):
                engine.save_state(turns.quit_by)
                os._exit(0)
    except OSError:  # the app is gone
        os._exit(0)


if __name__ == "__main__":
    main(sys.argv[1:])
