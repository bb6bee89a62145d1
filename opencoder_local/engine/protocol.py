"""The narrow surface the rest of the app sees: messages in, a stream of deltas out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Protocol, Sequence

from opencoder_local.errors import UserError


@dataclass(frozen=True)
class Message:
    role: str  # "system" | "user" | "assistant"
    content: str


@dataclass(frozen=True)
class GenParams:
    temperature: float = 0.0  # greedy, as the OpenCoder authors evaluate
    max_tokens: int | None = None  # None: as many as the context window allows
    seed: int | None = None
    top_p: float = 0.95
    top_k: int = 40


@dataclass(frozen=True)
class EngineOptions:
    n_ctx: int | None = None  # None: the model's trained window
    n_threads: int | None = None  # None: physical performance cores
    n_gpu_layers: int = -1  # all layers where Metal/CUDA is built in
    exact_tokenizer: bool | None = None  # None: on for OpenCoder GGUFs
    n_batch: int = 512
    lookup: bool = True  # greedy turns check drafts from the conversation in one batch (engine/lookup.py)
    flash_attn: bool = False  # llama-cpp-python's default; on, a CPU decodes far slower at long contexts
    kv_cache_gb: float = 0.0  # the prefix cache on disk (engine/kv_store.py): its cap; 0 is off


@dataclass(frozen=True)
class TurnStats:
    prompt_tokens: int  # the whole prompt sent for this turn
    reused_tokens: int  # of those, served from the KV cache
    generated_tokens: int
    ttft_s: float  # request to first token
    gen_tok_s: float  # generated tokens per second after the first (drafts included: the rate seen)
    stop_reason: str  # "stop" | "length" | "cancelled"
    drafted_tokens: int = 0  # guessed by prompt lookup and checked in a batch
    accepted_tokens: int = 0  # of those, kept: greedy decoding would have written them
    restored_tokens: int = 0  # of reused_tokens, loaded from a state saved on disk (0: none loaded)
    notice: str = ""  # one line for the person (a saved state found damaged and removed), or empty

    @property
    def evaluated_tokens(self) -> int:
        return self.prompt_tokens - self.reused_tokens


class EngineStoppedError(UserError):
    """The model's process ended (crashed, killed for memory); a new engine must be started."""


@dataclass(frozen=True)
class Delta:
    """A piece of the answer; the last one of a turn carries the stats."""

    text: str = ""
    stats: TurnStats | None = None
    tokens: int = 1  # generated tokens this piece holds (a batch from the model process holds several)


@dataclass(frozen=True)
class ContextBudget:
    prompt_tokens: int
    n_ctx: int

    @property
    def remaining(self) -> int:
        return self.n_ctx - self.prompt_tokens


class Engine(Protocol):
    """What the TUI and the CLI need from a model; the llama.cpp engine and test doubles implement it."""

    n_ctx: int
    model_name: str
    quantization: str  # e.g. "Q4_K_M"
    backend: str  # "CPU", "Metal", "CUDA", ...
    chat_mode: bool  # False: a base model, plain completion

    def stream(self, messages: Sequence[Message], params: GenParams) -> Iterator[Delta]: ...

    def count(self, messages: Sequence[Message]) -> ContextBudget: ...

    def cancel(self) -> None: ...

    def wait_ready(self) -> None:
        """Block until the model can answer; a model that cannot load raises a UserError."""

    def prefill(self, messages: Sequence[Message]) -> None:
        """Read a coming turn's prompt so far (system prompt, files, map, history) ahead of it, so the
        turn evaluates only what follows; an engine that cannot returns at once, and so may one that
        reads in another process."""

    def save_state(self) -> None:
        """Keep the model's state for the conversation so far on disk (the prefix cache), if this engine
        keeps one; the model process is asked and this returns at once. Called when a conversation is left."""

    def close(self) -> None:
        """Free the model at once; a turn still streaming ends as cancelled."""
