"""A loaded model's KV cache to and from the prefix cache on disk (engine/kv_store.py).

llama.cpp's sequence state API (llama_state_seq_get_data / llama_state_seq_set_data on sequence 0)
carries the K and V cells of the prompt and nothing else: Llama.save_state() would also copy the
scores array, n_ctx x n_vocab floats (1.6 GB at 8K tokens with a 49K vocabulary). A loaded state
leaves the llama object exactly as the in-memory prefix reuse does: its input_ids and n_tokens name
the tokens whose cells are in the cache, and the turn evaluates only what follows the shared prefix.
"""

from __future__ import annotations

import ctypes
import time
from typing import Sequence

import llama_cpp

from opencoder_local import locations
from opencoder_local.engine.gguf_file import GGUFFile
from opencoder_local.engine.kv_store import GB, KvStore, SaveReport, model_identity

MIN_GAIN = 64  # tokens a saved state must add to what the KV cache holds to be worth a file read
MIN_SAVE = 64  # a shorter prompt is evaluated faster than a file is found and read


class PrefixCache:
    def __init__(self, llm: llama_cpp.Llama, info: GGUFFile, cap_gb: float, flash_attn: bool):
        self._llm = llm
        identity = model_identity(info.path, llama_cpp=llama_cpp.__version__, flash_attn=flash_attn,
                                  type_k="f16", type_v="f16")
        self.store = KvStore(locations.kv_cache_dir(), int(cap_gb * GB), identity)

    def take_notices(self) -> str:
        notices, self.store.notices = self.store.notices, []
        return " · ".join(notices)

    def restore(self, ids: Sequence[int], reused: int) -> int:
        """Load the saved state sharing the longest prefix with `ids`, if it covers MIN_GAIN tokens more
        than the `reused` the KV cache already holds. Returns the shared prefix it brought (0: none
        loaded; the llama object is then as it was, or empty if llama.cpp refused the state)."""
        llm = self._llm
        found = self.store.best(ids, llm.n_ctx())
        if found is None or found[1] < reused + MIN_GAIN:
            return 0
        entry, shared = found
        payload = self.store.read(entry)
        if payload is None:
            return 0
        memory = llama_cpp.llama_get_memory(llm.ctx)
        llama_cpp.llama_memory_clear(memory, True)
        buffer = (ctypes.c_uint8 * len(payload)).from_buffer(payload)
        read = llama_cpp.llama_state_seq_set_data(llm.ctx, buffer, len(payload), 0)
        if read == 0 or llama_cpp.llama_memory_seq_pos_max(memory, 0) != len(entry.ids) - 1:
            llama_cpp.llama_memory_clear(memory, True)
            llm.n_tokens = 0
            self.store.discard(entry, "llama.cpp could not read it")
            return 0
        llm.input_ids[:len(entry.ids)] = entry.ids
        llm.n_tokens = len(entry.ids)
        return shared

    def save(self, deadline: float | None = None) -> SaveReport | None:
        """Save the KV cache's tokens (the last prompt and its answer) unless they are saved already;
        `deadline` (time.monotonic()) drops a save that cannot finish by then."""
        llm = self._llm
        n = llm.n_tokens
        if n < MIN_SAVE:
            return None
        ids = [int(t) for t in llm.input_ids[:n]]
        if self.store.holds(ids):
            return None
        memory = llama_cpp.llama_get_memory(llm.ctx)
        llama_cpp.llama_memory_seq_rm(memory, 0, n, -1)  # cells past n_tokens (a stopped batch) are no prefix
        if llama_cpp.llama_memory_seq_pos_max(memory, 0) != n - 1:
            return None
        size = llama_cpp.llama_state_seq_get_size(llm.ctx, 0)
        if size > self.store.cap_bytes:
            return None
        start = time.monotonic()
        buffer = (ctypes.c_uint8 * size)()
        got = llama_cpp.llama_state_seq_get_data(llm.ctx, buffer, size, 0)
        if got == 0 or (deadline is not None and time.monotonic() > deadline):
            return None
        report = self.store.save(ids, memoryview(buffer)[:got], deadline)
        if report is None:
            return None
        return SaveReport(report.tokens, report.bytes, time.monotonic() - start)
