"""The llama.cpp engine: load a GGUF, format chats, stream answers, cancel, count tokens."""

from __future__ import annotations

import codecs
import os
import threading
import time
from pathlib import Path
from typing import Callable, Iterator, Sequence

import llama_cpp

from opencoder_local.engine.backend import backend_in_use, safe_model_params
from opencoder_local.engine.decoding import DraftBatch, LookupSteps, PlainSteps
from opencoder_local.engine.gguf_file import GGUFFile
from opencoder_local.engine.lookup import DEFAULT_COSTS, CostTable
from opencoder_local.engine.lookup_costs import measure_costs, store_costs, stored_costs
from opencoder_local.engine.kv_store import SaveReport, common_prefix
from opencoder_local.engine.model_file import chat_template_for, context_window, uses_exact_tokenizer
from opencoder_local.engine.prefix_cache import PrefixCache
from opencoder_local.engine.prompt_format import PromptFormat, answer_budget
from opencoder_local.engine.protocol import ContextBudget, Delta, EngineOptions, GenParams, Message, TurnStats
from opencoder_local.engine.quiet import quiet_llama
from opencoder_local.engine.threads import default_threads
from opencoder_local.engine.vocab import OPENCODER_OVERRIDES, Vocab
from opencoder_local.errors import ModelFileError, UserError


class _Cancelled(Exception):
    pass


class LlamaEngine:
    """One loaded model and its KV cache; one turn at a time. `info` is a file check_model() passed:
    it is not checked again here. `label` is what the status bar calls it (default: the file's name)."""

    def __init__(self, info: GGUFFile, options: EngineOptions, stop_loading: Callable[[], bool] | None = None,
                 label: str | None = None):
        self.info = info
        self.n_ctx = context_window(info, options.n_ctx)
        self.n_threads = options.n_threads or default_threads()
        most = 4 * (os.cpu_count() or 1)
        if not 1 <= self.n_threads <= most:
            raise UserError(f"--threads must be between 1 and {most} on this machine")
        self.backend = backend_in_use(options.n_gpu_layers)
        self.model_name = label or info.path.stem
        self.quantization = info.file_type_name
        exact = uses_exact_tokenizer(info, options.exact_tokenizer)
        quiet_llama()
        try:
            progress = {}
            if stop_loading is not None:
                self._progress_cb = llama_cpp.llama_progress_callback(lambda _done, _data: not stop_loading())
                progress["progress_callback"] = self._progress_cb
            with safe_model_params(**progress):
                self._llm = llama_cpp.Llama(
                    model_path=str(info.path),
                    n_ctx=self.n_ctx,
                    n_batch=min(options.n_batch, self.n_ctx),
                    n_threads=self.n_threads,
                    n_threads_batch=self.n_threads,
                    n_gpu_layers=options.n_gpu_layers,
                    flash_attn=options.flash_attn,
                    use_mmap=True,
                    kv_overrides=dict(OPENCODER_OVERRIDES) if exact else None,
                    verbose=False,
                )
        except (ValueError, RuntimeError) as exc:
            raise ModelFileError(f"llama.cpp could not load {info.path}: {exc}") from None
        quiet_llama()
        self.vocab = Vocab(llama_cpp.llama_model_get_vocab(self._llm.model), info, exact)
        self.template = chat_template_for(info)
        self.format = PromptFormat(self.vocab, self.template, self.n_ctx)
        self._cancel = threading.Event()
        self._lock = threading.Lock()
        # llama.cpp calls this once per graph node: worth it for a long prompt, not per token.
        self._abort_cb = llama_cpp.ggml_abort_callback(lambda _data: self._cancel.is_set())
        self._no_abort_cb = llama_cpp.ggml_abort_callback(0)
        self._draft_batch = DraftBatch() if options.lookup else None
        # Fixed for the engine's life, never timed during a turn: the same question, the same batches.
        self.lookup_costs = (stored_costs(info.path, self.n_threads) if options.lookup else None) or DEFAULT_COSTS
        self.answer_ids: list[int] = []  # the latest turn's tokens, a stop token included
        self._disk = PrefixCache(self._llm, info, options.kv_cache_gb, options.flash_attn) if options.kv_cache_gb > 0 else None
        self._from_disk = 0  # tokens at the cache's start restored from disk and not yet reported by a turn

    @property
    def chat_mode(self) -> bool:
        return self.template is not None

    def tokenize(self, text: str) -> list[int]:
        return self.vocab.encode(text)

    def prompt_ids(self, messages: Sequence[Message]) -> list[int]:
        return self.format.ids(messages)

    def count(self, messages: Sequence[Message]) -> ContextBudget:
        return self.format.count(messages)

    def cancel(self) -> None:
        """Stop the running turn within one token (or one compute step of prompt evaluation)."""
        self._cancel.set()

    def _evaluate(self, ids: list[int], ahead: Callable[[], bool] | None = None) -> tuple[int, int]:
        """Feed the prompt, reusing the cached prefix (from memory, or from a state saved on disk when
        that holds more of it); returns how many tokens were reused, and how many of those came from disk
        (restored by this call or by a read ahead of it). Reading ahead (`ahead` given), every token is
        fed and the feeding stops between batches once ahead() is true."""
        llm = self._llm
        reused = common_prefix(llm.input_ids[: llm.n_tokens], ids)
        restored = self._disk.restore(ids, reused) if self._disk is not None else 0
        if restored:
            self._from_disk = restored
        if self._disk is not None:
            reused = common_prefix(llm.input_ids[: llm.n_tokens], ids)  # a refused load empties the cache
        if ahead is None:
            reused = min(reused, len(ids) - 1)  # the last prompt token must be decoded for its logits
        if restored:
            # From a state on disk, go on from a batch boundary: the prompt's evaluation from there is
            # then in the batches a fresh one uses, so asking the same again gives the same answer
            # (another split of a batch may round a near tie the other way).
            reused -= reused % llm.n_batch
        memory = llama_cpp.llama_get_memory(llm.ctx)
        if not llama_cpp.llama_memory_seq_rm(memory, 0, reused, -1):
            # Recurrent models cannot drop a suffix of their state: start over.
            llama_cpp.llama_memory_clear(memory, True)
            reused = 0
        llm.n_tokens = reused
        self._from_disk = min(self._from_disk, reused)
        step = llm.n_batch
        llama_cpp.llama_set_abort_callback(llm.ctx, self._abort_cb, None)
        try:
            for start in range(reused, len(ids), step):
                self._check_cancel()
                if ahead is not None and ahead():
                    break
                self._decode(ids[start:start + step])
        finally:
            llama_cpp.llama_set_abort_callback(llm.ctx, self._no_abort_cb, None)
        return reused, self._from_disk

    def _decode(self, ids: list[int]) -> None:
        try:
            self._llm.eval(ids)
        except RuntimeError:
            if self._cancel.is_set():
                raise _Cancelled from None
            raise

    def _check_cancel(self) -> None:
        if self._cancel.is_set():
            raise _Cancelled

    def _sampler(self, params: GenParams):
        chain = llama_cpp.llama_sampler_chain_init(llama_cpp.llama_sampler_chain_default_params())
        if params.temperature <= 0:
            llama_cpp.llama_sampler_chain_add(chain, llama_cpp.llama_sampler_init_greedy())
        else:
            seed = params.seed if params.seed is not None else llama_cpp.LLAMA_DEFAULT_SEED
            for stage in (
                llama_cpp.llama_sampler_init_top_k(params.top_k),
                llama_cpp.llama_sampler_init_top_p(params.top_p, 1),
                llama_cpp.llama_sampler_init_temp(params.temperature),
                llama_cpp.llama_sampler_init_dist(seed),
            ):
                llama_cpp.llama_sampler_chain_add(chain, stage)
        return chain

    def stream(self, messages: Sequence[Message], params: GenParams = GenParams()) -> Iterator[Delta]:
        """Start a turn and return its answer as deltas; the last delta carries the turn's stats.

        The prompt is checked and the turn begins when this is called, not at the first delta:
        a cancel() from then on stops this turn, even before its prompt is evaluated."""
        ids = self.prompt_ids(messages)
        return self.generate(ids, answer_budget(len(ids), self.n_ctx, params), params)

    def generate(self, ids: list[int], max_new: int, params: GenParams) -> Iterator[Delta]:
        """Start a turn on prompt ids already counted against the window (the model process's entry)."""
        self._cancel.clear()
        return self._turn(ids, max_new, params)

    def prefill(self, messages: Sequence[Message]) -> None:
        """Read a coming turn's prompt so far into the KV cache, now and in this thread, so that turn
        evaluates only what follows it; cancel() stops the reading."""
        self.read_ahead(self.prompt_ids(messages))()

    def read_ahead(self, ids: list[int], stop_early: Callable[[], bool] = lambda: False) -> Callable[[], None]:
        """The work of reading `ids` ahead of the turn that will begin with them (the model process's
        entry). The cancel flag is cleared now, so a cancel() from here on stops it; it also stops
        between batches once stop_early() is true."""
        self._cancel.clear()

        def work() -> None:
            with self._lock:
                try:
                    self._evaluate(ids, stop_early)
                except _Cancelled:
                    pass

        return work

    def calibrate_lookup(self) -> tuple[CostTable, Path]:
        """Measure what k-token batches cost against one-token decodes with this model and these
        threads, store it for later engines (`opencoder calibrate`) and use it from now on."""
        with self._lock:
            table = measure_costs(self._llm, self.tokenize(Path(__file__).read_text(encoding="utf-8")))
            stored = store_costs(self.info.path, self.n_threads, table)
        self.lookup_costs = table
        return table, stored

    def wait_ready(self) -> None:
        """Loaded in the constructor: always ready."""

    def save_state(self, deadline: float | None = None) -> SaveReport | None:
        """Save the KV cache's tokens to the prefix cache on disk (when it is on); `deadline`
        (time.monotonic()) drops a save that cannot finish by then, leaving no file."""
        if self._disk is None:
            return None
        with self._lock:
            try:
                return self._disk.save(deadline)
            except (OSError, UserError) as exc:  # a full disk, a folder we may not write: the answer stands
                self._disk.store.notices.append(f"the model's state could not be saved: {exc}")
                return None

    def close(self) -> None:
        self.cancel()
        with self._lock:
            if self._draft_batch is not None:
                self._draft_batch.close()
            self._llm.close()

    def _turn(self, ids: list[int], max_new: int, params: GenParams) -> Iterator[Delta]:
        with self._lock:
            yield from self._run(ids, max_new, params)

    def _steps(self, ids: list[int], sampler, params: GenParams) -> PlainSteps:
        if self._draft_batch is not None and params.temperature <= 0:
            return LookupSteps(self._llm, sampler, ids, self._draft_batch, self.lookup_costs)
        return PlainSteps(self._llm, sampler)

    def _run(self, ids: list[int], max_new: int, params: GenParams) -> Iterator[Delta]:
        start = time.perf_counter()
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        sampler = self._sampler(params)
        steps = self._steps(ids, sampler, params)
        generated, reused, restored, reason = 0, 0, 0, "length"
        first = last = start
        pending = 0  # the next of `produced` to give; those before it are answered and fed to the model
        self.answer_ids = answer = []
        try:
            reused, restored = self._evaluate(ids)
            self._from_disk = 0  # reported by this turn
            produced = [steps.first()]
            while generated < max_new:
                self._check_cancel()
                if pending == len(produced):
                    produced, pending = steps.after(produced[-1], max_new - generated), 0
                token = produced[pending]
                last = time.perf_counter()
                if generated == 0:
                    first = last
                generated += 1
                answer.append(token)
                if self.vocab.is_stop(token):
                    reason = "stop"
                    break
                text = decoder.decode(self.vocab.piece(token))
                if text:
                    yield Delta(text)
                if generated < max_new:
                    pending += 1
        except _Cancelled:
            reason = "cancelled"
        finally:
            steps.settle(pending)
            llama_cpp.llama_sampler_free(sampler)
        tail = decoder.decode(b"", final=True)
        rate = (generated - 1) / (last - first) if generated > 1 and last > first else 0.0
        notice = self._disk.take_notices() if self._disk is not None else ""
        stats = TurnStats(len(ids), reused, generated, (first if generated else last) - start, rate, reason,
                          steps.drafted, steps.accepted, restored, notice)
        yield Delta(tail, stats, 0)

