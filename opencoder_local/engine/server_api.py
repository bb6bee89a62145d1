"""What a serving engine says over HTTP, through httpx: what it serves, and its answers as events.

Three ways to ask, one per kind of server:
- `completion`: llama.cpp's own `/completion`, the prompt as token ids; its events carry the
  generated ids and, at the end, the evaluated and cached prompt tokens.
- `completions`: OpenAI's `/v1/completions` with token ids (vLLM); usage at the end.
- `chat`: OpenAI's `/v1/chat/completions` with the messages as text, when there is no local
  vocabulary: the server applies its template and tokenizes (llama-cpp-python's own server).
Every failure is one line naming the server (ServerError; the stream's ServerStreamError).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import PurePosixPath, PureWindowsPath
from typing import Any, Iterator

import httpx

from opencoder_local.engine.endpoint import Endpoint
from opencoder_local.engine.protocol import EngineStoppedError, GenParams, Message
from opencoder_local.errors import UserError
from opencoder_local.peer_data import NotJsonError, PeerDataError, capped_lines, json_document, parse_json


_ERROR_BODY = 64 * 1024  # of a refusal's body: its message is all we show


class ServerError(UserError):
    """The server refused or failed a request, or cannot be reached."""


class ServerStreamError(EngineStoppedError):
    """The server stopped answering in the middle of a turn (killed, a network failure, a broken stream).

    An EngineStoppedError: the answer so far is kept, marked, and the next question connects again."""


@dataclass(frozen=True)
class ServerInfo:
    """What a server says about itself (whatever it leaves out is None)."""

    llama_cpp: bool  # llama.cpp's server: /completion, /props, slots
    takes_ids: bool  # prompts as token ids: llama.cpp's server and vLLM (others, e.g. llama-cpp-python's: text)
    model_id: str  # the name requests carry
    model_ids: tuple[str, ...]
    n_ctx: int | None  # the window one request gets (a llama.cpp slot's, vLLM's max_model_len)
    n_vocab: int | None
    chat_template: str | None
    model_path: str | None

    @property
    def model_file(self) -> str:
        """The served model's file name (llama-server's model path, else its id), without folders."""
        name = self.model_path or self.model_id
        return PureWindowsPath(PurePosixPath(name).name).name


@dataclass
class Event:
    """One server-sent event read into what the engine needs; `done` marks the last one."""

    text: str = ""
    tokens: list[int] | None = None  # the generated ids, where the server sends them
    done: bool = False
    finish: str | None = None  # "stop" | "length"
    prompt_tokens: int | None = None
    cached_tokens: int | None = None
    generated_tokens: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def error_line(endpoint: Endpoint, exc: httpx.HTTPError) -> str:
    """An httpx failure as the one line a user sees (never the request's headers: the key is in them)."""
    where = f"the server at {endpoint.label}"
    if isinstance(exc, httpx.ConnectTimeout):
        return f"{where} did not accept a connection in time: is the address right?"
    if isinstance(exc, httpx.ConnectError):
        reason = str(exc).split("] ", 1)[-1] or "connection failed"
        return f"cannot reach {where}: {reason} (is it running?)"
    if isinstance(exc, httpx.TimeoutException):
        return f"{where} did not answer within {endpoint.timeout:g} s (a longer timeout goes in config.toml)"
    if isinstance(exc, httpx.RemoteProtocolError):
        return f"{where} closed the connection: {exc}"
    return f"{where}: {type(exc).__name__}: {exc}"


def http_error(endpoint: Endpoint, response: httpx.Response) -> ServerError:
    """A refusal (4xx/5xx) or a redirect as one line, with the server's own message and, for a full window,
    what to do."""
    where = f"the server at {endpoint.label}"
    if response.status_code < 400:
        location = response.headers.get("Location", "")[:200]
        return ServerError(f"{where} answered HTTP {response.status_code}, a redirect to {location!r}: "
                           "give --model the address it redirects to")
    try:
        body = json_document(response.iter_bytes(), _ERROR_BODY, endpoint.timeout)
    except (PeerDataError, httpx.HTTPError):
        body = None
    error = body.get("error", body) if isinstance(body, dict) else None
    message = error.get("message") if isinstance(error, dict) else None
    message = message or (body.get("detail") if isinstance(body, dict) else None) or response.reason_phrase
    if isinstance(error, dict) and error.get("type") == "exceed_context_size_error":
        return ServerError(f"{where} has a {error.get('n_ctx', '?'):,}-token window and the prompt takes "
                           f"{error.get('n_prompt_tokens', '?'):,}: start a new conversation or drop files")
    if response.status_code == 401:
        how = (f"check the key in {endpoint.api_key_env}" if endpoint.api_key_env
               else "name its variable with api_key_env in config.toml's [endpoints.NAME]")
        return ServerError(f"{where} wants an API key (HTTP 401: {message}): {how}")
    return ServerError(f"{where} answered HTTP {response.status_code}: {str(message)[:300]}")


def refused(response: httpx.Response) -> bool:
    """Whether an answer is a refusal or a redirect (requests follow none: a server's address is given whole)."""
    return response.status_code >= 300


def _get_json(client: httpx.Client, endpoint: Endpoint, path: str) -> Any | None:
    """GET a JSON document, read within bounds; None where the server has no such page (404, 405 or not JSON)."""
    try:
        with client.stream("GET", path) as response:
            if response.status_code in (404, 405, 501):
                return None
            if refused(response):
                raise http_error(endpoint, response)
            try:
                return json_document(response.iter_bytes(), seconds=endpoint.timeout)
            except NotJsonError:
                return None
            except PeerDataError as exc:
                raise ServerError(f"the server at {endpoint.label} sent {exc} for {path}") from None
    except httpx.HTTPError as exc:
        raise ServerError(error_line(endpoint, exc)) from None


def probe(client: httpx.Client, endpoint: Endpoint) -> ServerInfo:
    """Ask the server what it serves: its models, the window, the vocabulary size, its template."""
    props = _get_json(client, endpoint, "/props")
    llama_cpp = isinstance(props, dict) and isinstance(props.get("default_generation_settings"), dict)
    props = props if llama_cpp else {}
    listing = _get_json(client, endpoint, "/v1/models")
    models = listing.get("data") if isinstance(listing, dict) else None
    models = [m for m in models if isinstance(m, dict) and isinstance(m.get("id"), str)] if isinstance(models, list) else []
    if not models and not llama_cpp:
        raise ServerError(f"the server at {endpoint.label} lists no models at /v1/models: "
                          "is it an OpenAI-compatible server (llama-server, vLLM)?")
    ids = tuple(m["id"] for m in models)
    wanted = endpoint.model
    if wanted is not None and ids and wanted not in ids:
        raise ServerError(f"the server at {endpoint.label} does not serve {wanted!r}; it serves: {', '.join(ids)}")
    chosen = next((m for m in models if m["id"] == wanted), models[0] if models else {})
    meta = chosen.get("meta") if isinstance(chosen.get("meta"), dict) else {}
    settings = props.get("default_generation_settings", {})
    n_ctx = settings.get("n_ctx") or props.get("n_ctx") or chosen.get("max_model_len") or meta.get("n_ctx_train")
    return ServerInfo(
        llama_cpp=llama_cpp,
        takes_ids=llama_cpp or chosen.get("owned_by") == "vllm",
        model_id=wanted or chosen.get("id") or props.get("model_alias") or "",
        model_ids=ids,
        n_ctx=int(n_ctx) if isinstance(n_ctx, int) and n_ctx > 0 else None,
        n_vocab=meta.get("n_vocab") if isinstance(meta.get("n_vocab"), int) else None,
        chat_template=props.get("chat_template") or None,
        model_path=props.get("model_path") or None,
    )


# The three request bodies; llama.cpp's samplers are named so a temperature above 0 samples as the
# local engine does (top-k, top-p, temperature), without the server's own extras (min-p and others).

def completion_body(ids: list[int], max_new: int, params: GenParams, model: str) -> dict[str, Any]:
    return {"prompt": ids, "n_predict": max_new, "stream": True, "cache_prompt": True, "return_tokens": True,
            "temperature": params.temperature, "top_k": params.top_k, "top_p": params.top_p, "min_p": 0.0,
            "samplers": ["top_k", "top_p", "temperature"], "seed": -1 if params.seed is None else params.seed}


def completions_body(ids: list[int], max_new: int, params: GenParams, model: str) -> dict[str, Any]:
    body = {"model": model, "prompt": ids, "max_tokens": max_new, "stream": True,
            "stream_options": {"include_usage": True},
            "temperature": params.temperature, "top_p": params.top_p, "top_k": params.top_k}
    return body if params.seed is None else {**body, "seed": params.seed}


def chat_body(messages: list[Message], max_new: int | None, params: GenParams, model: str) -> dict[str, Any]:
    body = {"model": model, "messages": [{"role": m.role, "content": m.content} for m in messages],
            "stream": True, "stream_options": {"include_usage": True}, "temperature": params.temperature,
            "top_p": params.top_p, "top_k": params.top_k,
            "repeat_penalty": 1.0}  # llama.cpp-family servers' name; llama-cpp-python's default is 1.1
    if max_new is not None:
        body["max_tokens"] = max_new
    return body if params.seed is None else {**body, "seed": params.seed}


_FINISH = {"eos": "stop", "word": "stop", "stop": "stop", "limit": "length", "length": "length"}


def completion_event(data: dict[str, Any]) -> Event:
    """One event of llama.cpp's /completion stream; its ids must be integers (their range is the
    vocabulary's to judge)."""
    tokens = data.get("tokens")
    if tokens is not None and not (isinstance(tokens, list) and all(_is_int(t) for t in tokens)):
        raise ValueError(f"token ids that are not integers: {json.dumps(tokens)[:80]}")
    event = Event(text=_text(data.get("content")), tokens=tokens)
    if data.get("stop"):
        timings = data.get("timings") if isinstance(data.get("timings"), dict) else {}
        event.done = True
        event.finish = _finish(data.get("stop_type"))
        event.prompt_tokens = _count(data.get("tokens_evaluated"))
        event.cached_tokens = _count(timings.get("cache_n"))
        event.generated_tokens = _count(data.get("tokens_predicted"))
    return event


def openai_event(data: dict[str, Any]) -> Event:
    """One event of an OpenAI stream, completions or chat (the usage comes last, with no choices)."""
    event = Event()
    choices = data.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        choice = choices[0]
        delta = choice.get("delta")
        event.text = _text(delta.get("content") if isinstance(delta, dict) else choice.get("text"))
        if choice.get("finish_reason"):
            event.finish = _finish(choice["finish_reason"])
    usage = data.get("usage")
    if isinstance(usage, dict):
        details = usage.get("prompt_tokens_details")
        event.prompt_tokens = _count(usage.get("prompt_tokens"))
        event.generated_tokens = _count(usage.get("completion_tokens"))
        event.cached_tokens = _count(details.get("cached_tokens")) if isinstance(details, dict) else None
    return event


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _finish(reason: Any) -> str:
    return _FINISH.get(reason, "stop") if isinstance(reason, str) else "stop"


def _text(value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValueError(f"answer text that is not a string: {json.dumps(value)[:80]}")
    return value


def _count(value: Any) -> int | None:
    """A token count the server reports; anything but a non-negative integer is taken as not said."""
    return value if _is_int(value) and value >= 0 else None


_FIELD = re.compile(r"^(data|error): ?(.*)$")


def events(response: httpx.Response, endpoint: Endpoint, parse) -> Iterator[Event]:
    """The server-sent events of a streaming response, parsed; an `error` event, a line that is not
    an event or a line too long raises ServerStreamError. Ends at the server's [DONE] or when the body ends."""
    try:
        yield from _events(response, endpoint, parse)
    except PeerDataError as exc:
        raise ServerStreamError(f"the server at {endpoint.label} sent {exc} in its answer") from None


def _events(response: httpx.Response, endpoint: Endpoint, parse) -> Iterator[Event]:
    for line in capped_lines(response.iter_bytes()):
        if not line or line.startswith((":", "event:", "id:", "retry:")):
            continue  # blank separators, comments (pings), event names
        match = _FIELD.match(line)
        if match is None:
            raise ServerStreamError(f"the server at {endpoint.label} sent a malformed stream: {line[:120]!r}")
        if match.group(2) == "[DONE]":
            return
        try:
            data = parse_json(match.group(2).encode())
        except PeerDataError as exc:
            raise ServerStreamError(f"the server at {endpoint.label} sent a malformed event: {exc}") from None
        if not isinstance(data, dict):
            raise ServerStreamError(f"the server at {endpoint.label} sent an event that is not an object")
        error = data.get("error") if match.group(1) == "data" else data
        if error:
            message = error.get("message", error) if isinstance(error, dict) else error
            raise ServerStreamError(f"the server at {endpoint.label} failed the answer: {str(message)[:300]}")
        try:
            event = parse(data)
        except ValueError as exc:
            raise ServerStreamError(f"the server at {endpoint.label} sent {exc}") from None
        yield event
