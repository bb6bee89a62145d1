"""The engine: a checked model file (or a server's endpoint) in, a stream of answer deltas out.

It knows no model names, catalogs or screens: the layers above resolve a name to a file
(models/) and decide what to call it. Importing this package loads no llama.cpp and no HTTP client;
open_engine() loads the one the target needs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from opencoder_local.engine.endpoint import Endpoint
from opencoder_local.engine.protocol import (ContextBudget, Delta, Engine, EngineOptions, EngineStoppedError,
                                             GenParams, Message, TurnStats)

if TYPE_CHECKING:
    from opencoder_local.engine.gguf_file import GGUFFile
    from opencoder_local.engine.remote import VocabFinder

__all__ = ["ContextBudget", "Delta", "Endpoint", "Engine", "EngineOptions", "EngineStoppedError", "GenParams",
           "Message", "TurnStats", "open_engine"]


def open_engine(target: GGUFFile | Endpoint, options: EngineOptions = EngineOptions(), *, isolated: bool = True,
                label: str | None = None, find_vocab: VocabFinder | None = None, api: str | None = None,
                stop_loading: Callable[[], bool] | None = None) -> Engine:
    """The one way to an engine: a model on a server (an Endpoint), or a checked model file
    (engine.model_file.check_model) loaded in a process of its own (`isolated`, the app's choice)
    or in this one (the one-shot's: nothing competes with it there).

    `label` is what the status bar calls a local model; `find_vocab` and `api` are for a server;
    `stop_loading` is asked while an in-process load runs: True abandons it (a ModelFileError)."""
    if isinstance(target, Endpoint):
        from opencoder_local.engine.remote import RemoteEngine

        return RemoteEngine(target, find_vocab, options.n_ctx, options.exact_tokenizer, api)
    if isolated:
        from opencoder_local.engine.process import ProcessEngine

        return ProcessEngine(target, options, label)
    from opencoder_local.engine.llama_engine import LlamaEngine

    return LlamaEngine(target, options, stop_loading, label)
