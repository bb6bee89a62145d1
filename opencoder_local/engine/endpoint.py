"""A model served over HTTP (llama.cpp's llama-server, vLLM): where it is and how to reach it.

No HTTP library is imported here: naming an endpoint costs nothing, and a local model never loads one.
An API key is never held: only the name of the environment variable that has it, read when a
connection is made (engine/remote.py), so no setting, log or screen can show it."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Iterable
from urllib.parse import urlsplit

from opencoder_local.errors import UserError

DEFAULT_TIMEOUT_S = 300.0  # a long prompt on a busy GPU box may take minutes before the first token


@dataclass(frozen=True)
class Endpoint:
    url: str  # scheme, host and port (and a path prefix, if the server sits under one); no trailing /v1
    name: str | None = None  # the config's name for it, e.g. "gpu-box"
    model: str | None = None  # which of the server's models to ask for; None: the one it serves
    api_key_env: str | None = None  # the environment variable holding the API key
    tokenizer: str | None = None  # a local GGUF (name or path) with the server's vocabulary
    timeout: float = DEFAULT_TIMEOUT_S

    def api_key(self) -> str | None:
        """The API key, read from the environment now; a variable that is named but unset is an error."""
        if self.api_key_env is None:
            return None
        key = os.environ.get(self.api_key_env, "")
        if not key:
            raise UserError(f"{self.label}: the API key variable {self.api_key_env} is not set in the environment")
        return key

    @property
    def label(self) -> str:
        return f"{self.name} ({self.url})" if self.name else self.url


def is_url(model: str) -> bool:
    return model.startswith(("http://", "https://"))


def normal_url(url: str) -> str:
    """The server's base URL as typed, checked: http(s), a host, no query; a trailing / or /v1 dropped."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise UserError(f"{url!r} is not a server address: give http://HOST:PORT (or https://...)")
    try:
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        raise UserError(f"{url!r}: the port must be a number") from None
    base = url.rstrip("/")
    return base[: -len("/v1")] if base.endswith("/v1") else base


def find_endpoint(model: str | None, endpoints: Iterable[Endpoint]) -> Endpoint | None:
    """The endpoint a --model value names: a configured name, or a URL (with a configured endpoint's
    settings when one has that URL); None for a local model."""
    if model is None:
        return None
    endpoints = list(endpoints)
    for endpoint in endpoints:
        if endpoint.name == model:
            return endpoint
    if not is_url(model):
        return None
    url = normal_url(model)
    return next((e for e in endpoints if e.url == url), Endpoint(url))
