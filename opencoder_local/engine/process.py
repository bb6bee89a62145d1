"""The engine the chat app uses: llama.cpp in a process of its own, behind the same protocol.

The app keeps only the vocabulary, so counting stays exact and instant; the prompt is tokenized
here and sent as ids, so the model sees exactly what the meter counted. The model process is a
fresh interpreter (like multiprocessing's "spawn", the same on macOS and Linux) that shares no
interpreter lock with the UI. If it dies, the turn in flight raises EngineStoppedError and the app
starts another; close() ends it at once, even in the middle of loading.
"""

from __future__ import annotations

import collections
import json
import signal
import socket
import subprocess
import sys
import threading
from dataclasses import asdict
from typing import Iterator, Sequence

from opencoder_local.engine.gguf_file import GGUFFile
from opencoder_local.engine.prompt_format import PromptFormat, answer_budget
from opencoder_local.engine.protocol import (ContextBudget, Delta, EngineOptions, EngineStoppedError, GenParams,
                                             Message, TurnStats)
from opencoder_local.engine.wire import Channel
from opencoder_local.errors import UserError

_STDERR_LINES = 20  # the model process's last words, for the notice when it dies


class ProcessEngine:
    """A model loading or loaded in its own process; one turn at a time. `info` is a file check_model()
    passed: the model process trusts that check and does not repeat it."""

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
        self._stderr: collections.deque[str] = collections.deque(maxlen=_STDERR_LINES)
        self._channel, self._process = self._spawn(str(info.path), options)
        self._events = self._channel.batches()

    def _spawn(self, path: str, options: EngineOptions) -> tuple[Channel, subprocess.Popen]:
        ours, theirs = socket.socketpair()
        load = json.dumps({"model": path, "options": asdict(options)})
        try:
            process = subprocess.Popen(
                [sys.executable, "-m", "opencoder_local.engine.child", str(theirs.fileno()), load],
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,  # llama.cpp's aborts would otherwise draw over the app
                start_new_session=True,  # the terminal's signals are the app's to handle
            )
        except OSError as exc:
            ours.close()
            raise UserError(f"cannot start the model process: {exc.strerror or exc}") from None
        finally:
            theirs.close()
        self._stderr_reader = threading.Thread(target=self._keep_stderr, args=(process.stderr,), daemon=True,
                                               name="model-stderr")
        self._stderr_reader.start()
        return Channel(ours), process

    def _keep_stderr(self, stream) -> None:
        for line in stream:
            self._stderr.append(line.decode("utf-8", "replace").rstrip())
        stream.close()

    @property
    def pid(self) -> int:
        return self._process.pid

    @property
    def exit_code(self) -> int | None:
        """None while the model process runs; negative: the signal that ended it."""
        return self._process.poll()

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
        for batch in self._events:
            for event in batch:
                if event["ev"] == "ready":
                    self.backend = event["backend"]
                    self._ready = True
                    return
                if event["ev"] == "failed":
                    self.close()
                    raise UserError(event["error"])
        raise self._stopped("while loading the model")

    def stream(self, messages: Sequence[Message], params: GenParams = GenParams()) -> Iterator[Delta]:
        """Send the turn now (a cancel() from here on stops it) and return its answer as deltas."""
        ids = self.prompt_ids(messages)
        max_new = answer_budget(len(ids), self.n_ctx, params)
        self._turn += 1
        request = {"op": "turn", "turn": self._turn, "ids": ids, "max_new": max_new, "params": asdict(params)}
        try:
            self._channel.send(request)
        except OSError:
            raise self._stopped("before this answer began") from None
        return self._receive(self._turn, len(ids))

    def _receive(self, turn: int, prompt_tokens: int) -> Iterator[Delta]:
        finished = False
        try:
            for batch in self._events:
                text = []
                for event in batch:
                    if event.get("turn") != turn:
                        continue  # the tail of a turn whose reader gave up
                    if event["ev"] == "delta":
                        text.append(event["text"])
                    elif event["ev"] == "done":
                        finished = True
                        yield Delta("".join(text) + event["text"], TurnStats(**event["stats"]), len(text))
                        return
                    else:
                        raise UserError(event["error"])
                if text:
                    yield Delta("".join(text), tokens=len(text))
            if not self._closed:
                raise self._stopped("while answering")
            finished = True  # closed by us: the answer so far is all there is
            yield Delta("", TurnStats(prompt_tokens, 0, 0, 0.0, 0.0, "cancelled"), 0)
        finally:
            if not finished and not self._closed:
                self.cancel()  # the reader gave up: stop generating what nobody reads

    def cancel(self) -> None:
        """Stop the current turn within one token (or one compute step of its prompt)."""
        try:
            self._channel.send({"op": "cancel", "turn": self._turn})
        except OSError:
            pass  # the process is gone: nothing runs

    def close(self) -> None:
        """End the model process at once (loading, idle or answering)."""
        if self._closed:
            return
        self._closed = True
        self._channel.shutdown()
        if self._process.poll() is None:
            self._process.kill()
        self._process.wait()
        self._channel.sock.close()
        # The vocabulary stays: a count may be running on it in another thread (it is a few MB).

    def _stopped(self, when: str) -> EngineStoppedError:
        if self._closed:
            return EngineStoppedError("the model was closed")
        try:
            code = self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:  # it closed its socket but lives on: end it
            self._process.kill()
            code = self._process.wait()
        if code < 0:
            how = f"was killed by {signal.Signals(-code).name}"
        else:
            how = f"exited with status {code}"
        self._stderr_reader.join(timeout=2)  # its last words are still in the pipe
        last = next((line for line in reversed(self._stderr) if line.strip()), "")
        detail = f" ({last[:200]})" if last else ""
        return EngineStoppedError(f"the model process {how} {when}{detail}")
