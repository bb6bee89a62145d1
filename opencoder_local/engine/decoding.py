"""A turn's tokens after its prompt: one decode per token, or the last token and a draft in one batch.

Both give greedy decoding's tokens; `LookupSteps` checks a draft from engine/lookup.py in the batch,
keeps the longest prefix the model itself would have written plus the model's next token, and
removes the rest from the KV cache. Either way a step returns at least one token.
"""

from __future__ import annotations

import llama_cpp
import numpy as np

from opencoder_local.engine.lookup import MAX_DRAFT, CostTable, DraftPolicy, NgramIndex


class PlainSteps:
    """One decode per token, sampled with the turn's sampler."""

    drafted = accepted = 0

    def __init__(self, llm: llama_cpp.Llama, sampler):
        self.llm = llm
        self.sampler = sampler

    def first(self) -> int:
        """The token after the prompt (its logits are the last the prompt's evaluation left)."""
        return llama_cpp.llama_sampler_sample(self.sampler, self.llm.ctx, -1)

    def after(self, token: int, room: int) -> list[int]:
        """Decode `token`; return what follows it (`room`: tokens the answer may still take)."""
        self.llm.eval([token])
        return [self.first()]

    def settle(self, passed: int) -> None:
        """The turn ended having moved past `passed` of the tokens the last step returned."""


class DraftBatch:
    """A llama_batch for the last token and a draft, every position asking for its logits."""

    def __init__(self, size: int = MAX_DRAFT + 1):
        self.size = size
        self._batch = llama_cpp.llama_batch_init(size, 0, 1)

    def decode(self, ctx, tokens: list[int], start: int) -> None:
        batch = self._batch
        batch.n_tokens = len(tokens)
        for i, token in enumerate(tokens):
            batch.token[i] = token
            batch.pos[i] = start + i
            batch.n_seq_id[i] = 1
            batch.seq_id[i][0] = 0
            batch.logits[i] = True
        code = llama_cpp.llama_decode(ctx, batch)
        if code != 0:
            raise RuntimeError(f"llama_decode returned {code}")

    def close(self) -> None:
        if self._batch is not None:
            llama_cpp.llama_batch_free(self._batch)
            self._batch = None


class LookupSteps(PlainSteps):
    """Greedy decoding that checks a guess from the conversation itself with each decode, when it pays
    by the cost table: what is drafted, and so each batch's shape, follows from the tokens alone."""

    def __init__(self, llm: llama_cpp.Llama, sampler, prompt: list[int], batch: DraftBatch, costs: CostTable):
        super().__init__(llm, sampler)
        self.batch = batch
        self.index = NgramIndex(prompt)
        self.policy = DraftPolicy(costs, batch.size - 1)
        self._n_vocab = llm.n_vocab()
        self._memory = llama_cpp.llama_get_memory(llm.ctx)
        self._start: int | None = None  # the position the last step's token was decoded at

    def after(self, token: int, room: int) -> list[int]:
        llm = self.llm
        self._start = llm.n_tokens
        self.index.append(token)
        # The batch must leave the window's last position free, and an answer's last token is never decoded.
        limit = min(self.policy.max_draft, room - 1, llm.n_ctx() - 1 - self._start)
        candidate = self.index.candidate(limit)
        draft = candidate.tokens[:self.policy.length(candidate)] if candidate else []
        produced = self._check(token, draft) if draft else super().after(token, room)
        if candidate is not None:
            self.policy.score(candidate, len(draft), produced)
        self.drafted += len(draft)
        self.accepted += len(produced) - 1
        self.index.extend(produced[:-1])
        return produced

    def _check(self, token: int, draft: list[int]) -> list[int]:
        """Decode `token` and the draft at once; the draft's longest prefix greedy decoding agrees with,
        then the model's own next token."""
        llm, start = self.llm, self._start
        fed = [token] + draft
        self.batch.decode(llm.ctx, fed, start)
        llm.input_ids[start:start + len(fed)] = fed
        produced = []
        for i in range(len(fed)):
            row = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(llm.ctx, i), shape=(self._n_vocab,))
            produced.append(int(row.argmax()))  # the first of equal maxima, as the greedy sampler picks
            if i == len(draft) or produced[-1] != draft[i]:
                break
        self._keep(start + len(produced))  # the token and the accepted draft
        return produced

    def _keep(self, end: int) -> None:
        """Keep only positions before `end` in the KV cache."""
        self.llm.n_tokens = end
        llama_cpp.llama_memory_seq_rm(self._memory, 0, end, -1)

    def settle(self, passed: int) -> None:
        if self._start is None:
            return
        end = self._start + 1 + passed
        if end < self.llm.n_tokens:  # the answer ended inside a batch: drop what greedy decoding never fed
            self._keep(end)
