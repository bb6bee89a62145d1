"""The engine for a model on a server (llama.cpp's llama-server, vLLM), behind the same protocol.

With a local vocabulary (a GGUF the layer above finds for the server: the one --tokenizer names, or an
installed model whose name matches the server's) the app renders the template and tokenizes exactly as for a local model and sends the ids,
so the meter counts what the server evaluates and the server's prompt cache is hit turn after turn.
Without one, the messages go to /v1/chat/completions as text and the counts are estimates: the
status bar says so. Esc hangs up the connection, and the server stops generating when it sees that.
"""

from __future__ import annotations

import codecs
import socket
import threading
import time
from pathlib import Path
from typing import Callable, Iterator, Sequence

import gguf
import httpx

from opencoder_local.engine import server_api
from opencoder_local.engine.endpoint import Endpoint
from opencoder_local.engine.gguf_file import read_gguf
from opencoder_local.engine.model_file import chat_template_for
from opencoder_local.engine.prompt_format import PromptFormat, answer_budget, vocab_only
from opencoder_local.engine.protocol import ContextBudget, Delta, GenParams, Message, TurnStats
from opencoder_local.engine.server_api import Event, ServerError, ServerInfo, ServerStreamError
from opencoder_local.errors import UserError

VocabFinder = Callable[[ServerInfo], "Path | None"]  # the local GGUF with the server's vocabulary, or None
_CHARS_PER_TOKEN = 3  # the estimate without a vocabulary: code runs 3-4 characters a token
_MESSAGE_OVERHEAD = 4  # role markers and separators a template adds per message
_NO_EXACT_PROMPT = ("the server tokenizes this model's prompts (no local vocabulary): there is no exact prompt "
                    "to show; --tokenizer names a local GGUF with the server's vocabulary")


class EstimatedFormat:
    """Counts without a vocabulary (the server tokenizes): an estimate, never below the truth by much."""

    template = None

    def __init__(self, n_ctx: int):
        self.n_ctx = n_ctx

    def count(self, messages: Sequence[Message]) -> ContextBudget:
        size = sum(_MESSAGE_OVERHEAD + -(-len(m.content.encode()) // _CHARS_PER_TOKEN) for m in messages)
        return ContextBudget(size + _MESSAGE_OVERHEAD, self.n_ctx)

    def text(self, messages: Sequence[Message]) -> str:
        raise UserError(_NO_EXACT_PROMPT)


class RemoteEngine:
    """A model on a server; one turn at a time, each on a connection of its own (so Esc can hang it up)."""

    quantization = ""  # the server's own business; the status bar shows its address instead

    def __init__(self, endpoint: Endpoint, find_vocab: VocabFinder | None = None, n_ctx: int | None = None,
                 exact_tokenizer: bool | None = None, api: str | None = None):
        """`find_vocab` is asked, once the server has said what it serves, for a local vocabulary;
        without one (None, or it finds none) the server tokenizes and counts are estimates."""
        self.endpoint = endpoint
        headers = {"Accept": "application/json"}
        key = endpoint.api_key()
        if key is not None:
            headers["Authorization"] = f"Bearer {key}"
        # No keep-alive: every turn opens its own connection, whose socket cancel() shuts down.
        self._client = httpx.Client(base_url=endpoint.url, headers=headers, trust_env=False,
                                    timeout=httpx.Timeout(endpoint.timeout, connect=min(endpoint.timeout, 10.0)),
                                    limits=httpx.Limits(max_keepalive_connections=0))
        try:
            self.server = server_api.probe(self._client, endpoint)
            self.format = self._prompt_format(find_vocab, n_ctx, exact_tokenizer)
        except BaseException:
            self._client.close()
            raise
        self.n_ctx = self.format.n_ctx
        self.model_name = self.server.model_file.removesuffix(".gguf") or self.server.model_id or endpoint.url
        # Exact: ids made here go over the wire. Otherwise a local vocabulary still counts (closely:
        # the server applies its own template), and the status bar says the tokens are the server's.
        ids_api = "completion" if self.server.llama_cpp else "completions" if self.server.takes_ids else "chat"
        self.api = api or (ids_api if isinstance(self.format, PromptFormat) else "chat")
        self.exact = isinstance(self.format, PromptFormat) and self.api != "chat"
        self.backend = endpoint.url if self.exact else f"{endpoint.url} · server's tokens"
        self._lock = threading.Lock()
        self._cancel = threading.Event()
        self._socket: socket.socket | None = None  # the running turn's connection

    def _prompt_format(self, find_vocab: VocabFinder | None, n_ctx: int | None, exact: bool | None):
        window = self.server.n_ctx
        if window is None and n_ctx is None:
            raise ServerError(f"the server at {self.endpoint.label} does not say its context window: give it with --ctx")
        if window is not None and n_ctx is not None and n_ctx > window:
            raise UserError(f"--ctx must be at most the server's {window:,}-token window")
        window = n_ctx or window
        path = find_vocab(self.server) if find_vocab is not None else None
        if path is None:
            return EstimatedFormat(window)
        info = read_gguf(path)
        model = vocab_only(info, exact)
        n_vocab = len(info.get(gguf.Keys.Tokenizer.LIST) or [])
        if self.server.n_vocab is not None and n_vocab and n_vocab != self.server.n_vocab:
            model.close()
            raise UserError(f"{path} has {n_vocab:,} tokens but the model at {self.endpoint.label} has "
                            f"{self.server.n_vocab:,}: --tokenizer must name a GGUF of the served model")
        template = chat_template_for(info) or self.server.chat_template
        return PromptFormat(model.vocab, template, window, model)

    # the protocol

    @property
    def chat_mode(self) -> bool:
        return self.api == "chat" or self.format.template is not None

    def prompt_ids(self, messages: Sequence[Message]) -> list[int]:
        if not self.exact:
            raise UserError("the server tokenizes this model's prompts: there are no local ids")
        return self.format.ids(messages)

    def text(self, messages: Sequence[Message]) -> str:
        """The exact prompt text the ids are made from (--show-prompt)."""
        if not self.exact:
            raise UserError(_NO_EXACT_PROMPT)
        return self.format.text(messages)

    def count(self, messages: Sequence[Message]) -> ContextBudget:
        return self.format.count(messages)

    def wait_ready(self) -> None:
        """The server answered the probe in the constructor: ready."""

    def cancel(self) -> None:
        """Hang up the running turn's connection: the server stops generating when it notices."""
        self._cancel.set()
        self._hang_up()

    def prefill(self, messages: Sequence[Message]) -> None:
        """A server reads the prompt when the turn comes (and keeps its own prompt cache)."""

    def save_state(self) -> None:
        """A server keeps its own prompt cache."""

    def close(self) -> None:
        self.cancel()
        self._client.close()

    def stream(self, messages: Sequence[Message], params: GenParams = GenParams()) -> Iterator[Delta]:
        """Check the prompt against the window and start the turn; the answer comes as deltas."""
        if self.exact:
            ids = self.prompt_ids(messages)
            prompt_tokens = len(ids)
            max_new = answer_budget(prompt_tokens, self.n_ctx, params)
            maker = server_api.completion_body if self.api == "completion" else server_api.completions_body
            path = "/completion" if self.api == "completion" else "/v1/completions"
            body = maker(ids, max_new, params, self.server.model_id)
        else:
            prompt_tokens = self.count(messages).prompt_tokens
            max_new = params.max_tokens
            path, body = "/v1/chat/completions", server_api.chat_body(list(messages), max_new, params,
                                                                      self.server.model_id)
        self._cancel.clear()
        return self._turn(path, body, prompt_tokens, max_new)

    # a turn

    def _trace(self, name: str, info: dict) -> None:
        """httpcore's trace hook: the new connection's socket, kept so cancel() can shut it down."""
        if name == "connection.connect_tcp.complete":
            stream = info.get("return_value")
            self._socket = stream.get_extra_info("socket") if stream is not None else None
            if self._cancel.is_set():
                self._hang_up()

    def _hang_up(self) -> None:
        sock = self._socket
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)  # wakes the reader at once, unlike close()
            except OSError:
                pass  # already closed

    def _turn(self, path: str, body: dict, prompt_tokens: int, max_new: int | None) -> Iterator[Delta]:
        with self._lock:
            yield from self._run(path, body, prompt_tokens, max_new)

    def _run(self, path: str, body: dict, prompt_tokens: int, max_new: int | None) -> Iterator[Delta]:
        start = time.perf_counter()
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        parse = server_api.completion_event if self.api == "completion" else server_api.openai_event
        generated, reason, usage = 0, None, Event()
        limit = max_new if max_new is not None else self.n_ctx  # no answer is longer than the window
        first = last = start
        try:
            request = self._client.build_request("POST", path, json=body, extensions={"trace": self._trace})
            response = self._client.send(request, stream=True)
        except httpx.HTTPError as exc:
            if not self._cancel.is_set():
                raise ServerStreamError(server_api.error_line(self.endpoint, exc)) from None
            response = None
        try:
            if response is not None and server_api.refused(response):
                raise server_api.http_error(self.endpoint, response)
            for event in server_api.events(response, self.endpoint, parse) if response is not None else ():
                if reason == "stop" and event.tokens:  # the server's GGUF does not stop there: end its turn
                    self._hang_up()
                    break
                if generated >= limit and (event.tokens or event.text):
                    self._hang_up()  # a server that goes on past the limit it was given: ours holds
                    reason = "length"
                    break
                text, count, stop = self._text_of(event, decoder, limit - generated)
                if count:
                    last = time.perf_counter()
                    first = last if generated == 0 else first
                    generated += count
                if text:
                    yield Delta(text, tokens=count)
                reason = "stop" if stop else event.finish or reason
                if event.prompt_tokens is not None:
                    usage = event
                if event.done:
                    break
        except (httpx.HTTPError, ServerStreamError) as exc:
            if not self._cancel.is_set():
                if isinstance(exc, ServerStreamError):
                    raise
                raise ServerStreamError(server_api.error_line(self.endpoint, exc)) from None
        finally:
            if response is not None:
                response.close()
            self._socket = None
        if self._cancel.is_set() and reason != "stop":
            reason = "cancelled"
        elif reason is None:
            raise ServerStreamError(f"the server at {self.endpoint.label} ended the stream before the answer ended")
        if usage.generated_tokens and reason != "stop":
            generated = usage.generated_tokens  # the server's count holds the end-of-text token too
        if usage.prompt_tokens and not self.exact:
            prompt_tokens = usage.prompt_tokens  # the server's own count beats the estimate
        rate = (generated - 1) / (last - first) if generated > 1 and last > first else 0.0
        ttft = (first if generated else last) - start
        stats = TurnStats(prompt_tokens, usage.cached_tokens or 0, generated, ttft, rate, reason)
        yield Delta(decoder.decode(b"", final=True), stats, 0)

    def _text_of(self, event: Event, decoder, room: int) -> tuple[str, int, bool]:
        """An event's text, how many tokens it holds (at most `room`), and whether one of them is a stop token.

        With the ids (llama-server sends them) the text is decoded here from the local vocabulary,
        byte for byte as the local engine decodes it; otherwise the server's text is taken. Every id
        is checked against the vocabulary first: llama.cpp aborts the process on one outside it."""
        if event.tokens is None or not self.exact:
            return event.text, (1 if event.text else 0), False
        vocab = self.format.vocab
        tokens = event.tokens[:room]
        pieces = []
        for count, token in enumerate(tokens, 1):
            if not 0 <= token < vocab.size:
                raise ServerStreamError(f"the server at {self.endpoint.label} sent token id {token}, outside the "
                                        f"vocabulary's {vocab.size:,}: does --tokenizer name the served model?")
            if vocab.is_stop(token):
                return decoder.decode(b"".join(pieces)), count, True
            pieces.append(vocab.piece(token))
        return decoder.decode(b"".join(pieces)), len(tokens), False
