"""The engine the chat app uses: llama.cpp in a process of its own, behind the same protocol.

The app keeps only the vocabulary, so counting stays exact and instant; the prompt is tokenized
here and sent as ids, so the model sees exactly what the meter counted. The model process is a
fresh interpreter (like multiprocessing's "spawn", the same on macOS and Linux) that shares no
interpreter lock with the UI. If it dies, the turn in flight raises EngineStoppedError and the app
starts another; close() ends it at once, even in the middle of loading. A cancel() must be
acknowledged within CANCEL_DEADLINE_S and the turn ended within STOP_DEADLINE_S of that: a process
that misses either is hung (stopped, frozen, or stuck in a compute step after it read the stop) and
is killed, and the turn raises EngineStoppedError the same way, so a stop never waits on it for ever.
With the prefix cache on, save_state() asks the process to save the KV state (it does so between
turns, the app never waits) and close() gives it QUIT_SAVE_S to save and end before it is killed.
"""

from __future__ import annotations

import socket
import sys
import threading
from typing import Iterator, Sequence

from opencoder_local.children import Child
from opencoder_local.engine.gguf_file import GGUFFile
from opencoder_local.engine.prompt_format import PromptFormat, answer_budget
from opencoder_local.engine.protocol import (ContextBudget, Delta, EngineOptions, EngineStoppedError, GenParams,
                                             Message, TurnStats)
from opencoder_local.engine.wire import (EVENTS, Cancel, Channel, Error, Failed, Load, Piece, Prefill, Quit, Ready,
                                         SaveState, Stopping, Turn, WireError, encode)
from opencoder_local.errors import UserError

CANCEL_DEADLINE_S = 1.0  # a cancel is acknowledged at once; this long without a word, the process is hung
STOP_DEADLINE_S = 10.0  # acknowledged, the turn ends after its current token or compute step; this long, it is hung
QUIT_SAVE_S = 0.5  # quitting waits this long at most for the model's state to be saved; then the process is killed
_QUIT_MARGIN_S = 0.1  # the process drops its save this much earlier, so that it removes its own temp file


class ProcessEngine:
    """A model loading or loaded in its own process; one turn at a time. `info` is a file check_model()
    passed: the model process trusts that check and does not repeat it."""

    child_command: tuple[str, ...] = ("-m", "opencoder_local.engine.child")  # after the interpreter

    def __init__(self, info: GGUFFile, options: EngineOptions = EngineOptions(), label: str | None = None):
        self.format = PromptFormat.vocab_only(info, options.exact_tokenizer, options.n_ctx)
        self.n_ctx = self.format.n_ctx
        self.model_name = label or info.path.stem
        self.quantization = info.file_type_name
        self.backend = "…"  # what llama.cpp found, once the model process says
        self.template = self.format.template
        self.vocab = self.format.vocab
        self._ready = self._closed = False
        self._turn = 0
        self._lock = threading.Lock()  # the turn a reader waits for, and its deadline, against the deadline's timer
        self._awaited: int | None = None
        self._deadline: threading.Timer | None = None
        self._acknowledged_turn: int | None = None  # the turn whose stop was acknowledged (its deadline is the longer)
        self._hung: str | None = None  # why the process was taken for hung and killed
        self._keeps_state = options.kv_cache_gb > 0
        self._unsaved = False  # a turn has run since the state was last saved
        self._channel, self._child = self._spawn(Load(str(info.path), options))
        self._events = self._channel.batches()

    def _spawn(self, load: Load) -> tuple[Channel, Child]:
        ours, theirs = socket.socketpair()
        argv = [sys.executable, *self.child_command, str(theirs.fileno()), encode(load).decode()]
        try:
            child = Child(argv, "the model process", pass_fds=(theirs.fileno(),))
        except UserError:
            ours.close()
            raise
        finally:
            theirs.close()
        return Channel(ours, EVENTS), child

    @property
    def pid(self) -> int:
        return self._child.pid

    @property
    def exit_code(self) -> int | None:
        """None while the model process runs; negative: the signal that ended it."""
        return self._child.poll()

    # the protocol

    @property
    def chat_mode(self) -> bool:
        return self.template is not None

    def prompt_ids(self, messages: Sequence[Message]) -> list[int]:
        return self.format.ids(messages)

    def count(self, messages: Sequence[Message]) -> ContextBudget:
        return self.format.count(messages)

    def wait_ready(self) -> None:
        """Block until the model has loaded; its load error, or its death, is one UserError."""
        if self._ready:
            return
        try:
            for batch in self._events:
                for event in batch:
                    if isinstance(event, Ready):
                        self.backend = event.backend
                        self._ready = True
                        return
                    if isinstance(event, Failed):
                        self.close()
                        raise UserError(event.error)
        except WireError as exc:
            raise self._stopped("while loading the model", exc) from None
        raise self._stopped("while loading the model")

    def stream(self, messages: Sequence[Message], params: GenParams = GenParams()) -> Iterator[Delta]:
        """Send the turn now (a cancel() from here on stops it) and return its answer as deltas."""
        ids = self.prompt_ids(messages)
        max_new = answer_budget(len(ids), self.n_ctx, params)
        self._turn += 1
        self._await(self._turn)
        try:
            self._channel.send(Turn(self._turn, tuple(ids), max_new, params))
            self._unsaved = self._keeps_state
        except OSError:
            raise self._stopped("before this answer began") from None
        return self._receive(self._turn, len(ids))

    def _receive(self, turn: int, prompt_tokens: int) -> Iterator[Delta]:
        try:
            for batch in self._events:
                text = []
                for event in batch:
                    if getattr(event, "turn", None) != turn:
                        continue  # the tail of a turn whose reader gave up
                    if isinstance(event, Piece):
                        text.append(event.text)
                        continue
                    if isinstance(event, Stopping):
                        self._acknowledged(turn)
                        continue
                    self._ended(turn)  # Done or Error
                    if self._hung:  # the deadline struck just before it came: the process is gone all the same
                        raise self._stopped("while answering")
                    if isinstance(event, Error):
                        raise UserError(event.error)
                    yield Delta("".join(text) + event.text, event.stats, len(text))
                    return
                if text:
                    yield Delta("".join(text), tokens=len(text))
            if not self._closed:
                raise self._stopped("while answering")
            # closed by us: the answer so far is all there is
            yield Delta("", TurnStats(prompt_tokens, 0, 0, 0.0, 0.0, "cancelled"), 0)
        except WireError as exc:
            raise self._stopped("while answering", exc) from None
        finally:
            if self._ended(turn) and not self._closed:
                self._send_cancel()  # the reader gave up: stop generating what nobody reads

    def cancel(self) -> None:
        """Stop the current turn within one token (or one compute step of its prompt); a model process that
        has not acknowledged the cancel CANCEL_DEADLINE_S later, or not ended the turn STOP_DEADLINE_S after
        acknowledging it, is killed."""
        with self._lock:  # armed before the cancel goes: its acknowledgement may come back at once
            if self._awaited is not None and self._deadline is None and not self._closed:
                self._arm(CANCEL_DEADLINE_S, self._awaited, f"no answer to a stop within {CANCEL_DEADLINE_S:g} s")
        self._send_cancel()

    def _arm(self, seconds: float, turn: int, why: str) -> None:
        """Call with the lock held: `turn` must end (or be acknowledged) within `seconds`."""
        self._disarm()
        self._deadline = threading.Timer(seconds, self._give_up, (turn, why))
        self._deadline.daemon = True
        self._deadline.start()

    def _send_cancel(self) -> None:
        try:
            self._channel.send(Cancel(self._turn))
        except OSError:
            pass  # the process is gone: nothing runs

    def _await(self, turn: int | None) -> None:
        """A reader waits for `turn` from now on (None: for no turn)."""
        with self._lock:
            self._awaited = turn
            self._disarm()

    def _ended(self, turn: int) -> bool:
        """Nobody waits for `turn` any more; True if it was awaited until now."""
        with self._lock:
            if self._awaited != turn:
                return False
            self._awaited = None
            self._disarm()
            return True

    def _acknowledged(self, turn: int) -> None:
        """The model process has read the cancel: the turn ends after its current token or compute step,
        and must within STOP_DEADLINE_S (a process can read a stop and then freeze)."""
        with self._lock:
            if self._awaited == turn and self._acknowledged_turn != turn:
                self._acknowledged_turn = turn
                self._arm(STOP_DEADLINE_S, turn, f"a stop was acknowledged but the answer did not end within "
                                                 f"{STOP_DEADLINE_S:g} s")

    def _disarm(self) -> None:
        """Call with the lock held: the deadline of the turn awaited until now is void."""
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _give_up(self, turn: int, why: str) -> None:
        """A deadline of a cancel has passed: the process is hung. Its reader sees EOF."""
        with self._lock:
            if self._awaited != turn or self._closed:
                return
            self._hung = why
            self._child.kill()  # SIGKILL ends a stopped process too

    def prefill(self, messages: Sequence[Message]) -> None:
        """Have the model process read a coming turn's prompt so far while no turn runs (the turn sent
        next stops it between batches and evaluates the rest); returns at once."""
        if not self._ready or self._closed or self._awaited is not None:
            return
        try:
            self._channel.send(Prefill(tuple(self.prompt_ids(messages))))
            self._unsaved = self._keeps_state
        except OSError:
            pass  # the process is gone: the next turn says so

    def save_state(self) -> None:
        """Ask the model process to save its KV state after the turns sent so far; returns at once."""
        if not (self._unsaved and self._ready) or self._closed:
            return
        try:
            self._channel.send(SaveState())
            self._unsaved = False
        except OSError:
            pass  # the process is gone: the next turn says so

    def close(self) -> None:
        """End the model process: at once while loading or with nothing to save, else once it has saved
        its state (stopping a turn still running), never later than QUIT_SAVE_S."""
        if self._closed:
            return
        saving = self._unsaved and self._ready and self._hung is None and self.exit_code is None
        self._closed = True
        self._await(None)
        if saving:
            try:
                self._channel.send(Quit(QUIT_SAVE_S - _QUIT_MARGIN_S))
                self._child.wait(timeout=QUIT_SAVE_S)  # killed if still running then
            except OSError:
                pass
        self._channel.shutdown()
        self._child.kill()
        self._child.wait()
        self._channel.sock.close()
        # The vocabulary stays: a count may be running on it in another thread (it is a few MB).

    def _stopped(self, when: str, garbled: WireError | None = None) -> EngineStoppedError:
        """The model process has ended (or sent what cannot be read, and is ended): why, in one line."""
        if self._closed:
            return EngineStoppedError("the model was closed")
        if garbled is not None:
            self._child.kill()
            self._child.wait()
            return EngineStoppedError(f"the model process sent {garbled} {when} and was stopped")
        if self._hung:
            self._child.wait()
            return EngineStoppedError(f"the model process stopped responding {when} ({self._hung}) and was ended")
        self._child.wait(timeout=5)  # it may have closed its socket but live on: then it is killed
        last = self._child.last_words()
        detail = f" ({last[:200]})" if last else ""
        return EngineStoppedError(f"the model process {self._child.how_it_ended()} {when}{detail}")
