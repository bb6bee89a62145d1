"""Does llama.cpp compute each row of a k-token batch exactly as a one-token decode? Prompt lookup
gives plain greedy decoding's tokens only where it does (engine/lookup.py, README).

For the demo model requantized to each weight type (from its Q4_1, so the weights are poor but the
kernels are the real ones), with llama.cpp's default attention and with flash attention on one
thread and on the default threads: after a ~1,000-token prompt, 48 greedy tokens decoded one at a
time, then the same tokens again in batches of k. Prints the largest logit difference between the
two ("=" when every logit is bitwise equal) and how many of the 48 greedy choices it changed.

Run: python bench/batch_rounding.py [--types q4_1,q4_0,...]
"""

from __future__ import annotations

import argparse
import bisect
import ctypes
import inspect
import tempfile
from pathlib import Path

import llama_cpp
import numpy as np

from opencoder_local.engine.backend import safe_model_params
from opencoder_local.engine.decoding import DraftBatch
from opencoder_local.engine.prompt_format import PromptFormat
from opencoder_local.models.registry import model_file
from opencoder_local.engine.protocol import Message
from opencoder_local.engine.quiet import quiet_llama
from opencoder_local.engine.threads import default_threads
from opencoder_local.models.registry import demo_path

FTYPES = {"q4_1": None, "q4_0": 2, "q5_0": 8, "q8_0": 7, "iq4_nl": 25, "q4_k_m": 15, "q6_k": 18, "f16": 1}
TOKENS = 48
SIZES = (2, 8, 16)


def quantize(folder: Path, name: str) -> Path:
    """The demo model as `name` (the demo itself for q4_1; others through an F16 copy)."""
    if FTYPES[name] is None:
        return demo_path()
    f16 = folder / "demo-f16.gguf"
    out = folder / f"demo-{name}.gguf"
    for source, target, ftype in ((demo_path(), f16, 1), (f16, out, FTYPES[name])):
        if target.exists():
            continue
        params = llama_cpp.llama_model_quantize_default_params()
        params.ftype, params.allow_requantize = ftype, True
        if llama_cpp.llama_model_quantize(str(source).encode(), str(target).encode(), ctypes.byref(params)) != 0:
            raise SystemExit(f"llama.cpp could not quantize the demo model to {name}")
    return out


def logits(llm: llama_cpp.Llama, rows: range) -> np.ndarray:
    return np.array([np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(llm.ctx, i), shape=(llm.n_vocab(),))
                     for i in rows])


def compare(path: Path, prompt: list[int], flash_attn: bool, threads: int) -> dict[int, tuple[float, int]]:
    with safe_model_params():
        llm = llama_cpp.Llama(str(path), n_ctx=2048, n_threads=threads, n_threads_batch=threads,
                              flash_attn=flash_attn, verbose=False)
    quiet_llama()
    llm.eval(prompt)
    start = len(prompt)
    batch = DraftBatch(max(SIZES))
    token, tokens, single = int(logits(llm, range(-1, 0))[0].argmax()), [], []
    for i in range(TOKENS):  # plain greedy decoding
        tokens.append(token)
        batch.decode(llm.ctx, [token], start + i)
        single.append(logits(llm, range(1))[0])
        token = int(single[-1].argmax())
    single = np.array(single)
    memory = llama_cpp.llama_get_memory(llm.ctx)
    found = {}
    for k in SIZES:
        llama_cpp.llama_memory_seq_rm(memory, 0, start, -1)
        rows = []
        for at in range(0, TOKENS, k):
            part = tokens[at:at + k]
            batch.decode(llm.ctx, part, start + at)
            rows.append(logits(llm, range(len(part))))
        rows = np.concatenate(rows)
        found[k] = (float(np.abs(rows - single).max()), int((rows.argmax(1) != single.argmax(1)).sum()))
    batch.close()
    llm.close()
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--types", default=",".join(FTYPES), help="comma-separated, from " + ", ".join(FTYPES))
    args = parser.parse_args()
    prompt_format = PromptFormat.vocab_only(model_file("demo"))
    source = Path(inspect.getsourcefile(bisect)).read_text()
    prompt = prompt_format.ids([Message("user", f"```python\n{source}```\nRename insort_right to insert_right.")])
    configs = [("default attention", False, default_threads()), ("flash attention, 1 thread", True, 1),
               (f"flash attention, {default_threads()} threads", True, default_threads())]
    print(f"{len(prompt)}-token prompt, {TOKENS} tokens; per batch size k: largest |logit difference| "
          "('=' bitwise equal) / greedy choices changed")
    with tempfile.TemporaryDirectory() as folder:
        for name in args.types.split(","):
            path = quantize(Path(folder), name)
            for label, flash_attn, threads in configs:
                found = compare(path, prompt, flash_attn, threads)
                cells = "  ".join(f"k={k}: {'=' if d == 0 else f'{d:.2g}'}/{flips}" for k, (d, flips) in found.items())
                print(f"{name:7s} {label:28s} {cells}", flush=True)


if __name__ == "__main__":
    main()
