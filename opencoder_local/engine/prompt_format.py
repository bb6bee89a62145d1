"""A chat's exact prompt: the template applied, tokenized with the model's own vocabulary, counted
against the window. The app, the CLI and every engine format through a PromptFormat, and none of
them needs the weights for it."""

from __future__ import annotations

import threading
from typing import Sequence

from opencoder_local.engine.gguf_file import GGUFFile
from opencoder_local.engine.model_file import chat_template_for, context_window, uses_exact_tokenizer
from opencoder_local.engine.protocol import ContextBudget, GenParams, Message
from opencoder_local.engine.quiet import quiet_llama
from opencoder_local.engine.template import render_chat
from opencoder_local.engine.vocab import Vocab, VocabOnlyModel
from opencoder_local.errors import UserError

_REMEMBERED = 8  # prompts whose ids are kept: the meter's count, then the turn that sends the same prompt


class ContextFullError(UserError):
    """The prompt leaves no room for an answer in the context window."""

    def __init__(self, prompt_tokens: int, n_ctx: int):
        self.prompt_tokens = prompt_tokens
        self.n_ctx = n_ctx
        super().__init__(
            f"the conversation takes {prompt_tokens:,} of the {n_ctx:,}-token context window, "
            "leaving no room for an answer: start a new conversation or drop files from the working set"
        )


def answer_budget(prompt_tokens: int, n_ctx: int, params: GenParams) -> int:
    """How many tokens the answer may take; a prompt that leaves no room raises ContextFullError."""
    if prompt_tokens >= n_ctx:
        raise ContextFullError(prompt_tokens, n_ctx)
    room = n_ctx - prompt_tokens
    return min(room, params.max_tokens) if params.max_tokens else room


def vocab_only(info: GGUFFile, exact_tokenizer: bool | None = None) -> VocabOnlyModel:
    """A checked file's vocabulary alone, for tokenizing without loading weights."""
    quiet_llama()
    return VocabOnlyModel(info.path, info, uses_exact_tokenizer(info, exact_tokenizer))


def prompt_text(vocab: Vocab, template: str | None, messages: Sequence[Message]) -> str:
    """The prompt as text, exactly as it is tokenized: the chat template applied, generation prompt included.

    A model without a template (a base model) gets the messages' text, system prompt left out."""
    if template is None:
        return "".join(m.content for m in messages if m.role != "system")
    return render_chat(template, messages, bos_token=vocab.bos_text, eos_token=vocab.eos_text)


def build_prompt(vocab: Vocab, template: str | None, messages: Sequence[Message]) -> list[int]:
    """Exactly the ids the model will see for this conversation (generation prompt included)."""
    ids = vocab.encode(prompt_text(vocab, template, messages))
    if vocab.add_bos and (not ids or ids[0] != vocab.bos_id):
        ids.insert(0, vocab.bos_id)
    return ids


class PromptFormat:
    """A vocabulary, a chat template and a window: a chat's exact prompt text, ids and count.

    The ids of the last few prompts are remembered, so a turn sends the very ids its count made
    (the meter counts the prompt as it is typed; the turn that follows does not tokenize it again)."""

    def __init__(self, vocab: Vocab, template: str | None, n_ctx: int, owner: VocabOnlyModel | None = None):
        self.vocab = vocab
        self.template = template
        self.n_ctx = n_ctx
        self._owner = owner  # the vocabulary-only model to free on close(), if this format loaded it
        self._ids: dict[tuple[Message, ...], tuple[int, ...]] = {}
        self._lock = threading.Lock()  # the meter counts in one worker while a turn starts in another

    @classmethod
    def vocab_only(cls, info: GGUFFile, exact_tokenizer: bool | None = None, n_ctx: int | None = None) -> "PromptFormat":
        """A checked file's format from its vocabulary alone (no weights)."""
        model = vocab_only(info, exact_tokenizer)
        return cls(model.vocab, chat_template_for(info), context_window(info, n_ctx), model)

    def text(self, messages: Sequence[Message]) -> str:
        return prompt_text(self.vocab, self.template, messages)

    def ids(self, messages: Sequence[Message]) -> list[int]:
        key = tuple(messages)
        with self._lock:
            found = self._ids.get(key)
        if found is None:
            found = tuple(build_prompt(self.vocab, self.template, key))
            with self._lock:
                if len(self._ids) >= _REMEMBERED:
                    self._ids.pop(next(iter(self._ids)))
                self._ids[key] = found
        return list(found)

    def count(self, messages: Sequence[Message]) -> ContextBudget:
        return ContextBudget(len(self.ids(messages)), self.n_ctx)

    def close(self) -> None:
        if self._owner is not None:
            self._owner.close()
