"""Engine benchmark on the demo model; every figure is a ratio against a baseline from this run.

(a) generation tok/s through the engine vs a bare llama-cpp-python loop, same threads (target >= 0.97)
(b) follow-up time-to-first-token with a 1,500-token history vs that history from scratch (target >= 10x)
(c) generation tok/s with the default threads vs the best thread count (target >= 0.95)

Run: python bench/engine.py [--tokens 128] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import llama_cpp

from opencoder_local.engine.backend import safe_model_params
from opencoder_local.engine.llama_engine import EngineOptions, load_engine
from opencoder_local.engine.quiet import quiet_llama
from opencoder_local.engine.protocol import GenParams, Message
from opencoder_local.engine.threads import default_threads
from opencoder_local.models.registry import demo_path

QUESTION = [Message("user", "Write a long, well commented Python module implementing a linked list class.")]


def engine_rate(engine, n_tokens: int) -> float:
    stats = None
    for delta in engine.stream(QUESTION, GenParams(max_tokens=n_tokens)):
        stats = delta.stats or stats
    return stats.gen_tok_s


def bare_rate(llm: llama_cpp.Llama, prompt: list[int], n_tokens: int) -> float:
    """The plainest llama-cpp-python loop: generate() with greedy sampling, timed after the first token."""
    llm.reset()
    first = None
    for i, _ in enumerate(llm.generate(prompt, temp=0.0, top_k=1, top_p=1.0, min_p=0.0, repeat_penalty=1.0)):
        if i == 0:
            first = time.perf_counter()
        if i + 1 == n_tokens:
            break
    return (n_tokens - 1) / (time.perf_counter() - first)


def overhead_ratio(threads: int, n_tokens: int, repeats: int) -> tuple[float, float, float]:
    engine = load_engine("demo", EngineOptions(n_threads=threads))
    with safe_model_params():  # as the engine loads it
        llm = llama_cpp.Llama(str(demo_path()), n_ctx=engine.n_ctx, n_threads=threads, n_threads_batch=threads,
                              verbose=False)
    quiet_llama()
    prompt = engine.prompt_ids(QUESTION)
    ours, bare = [], []
    for _ in range(repeats):  # interleaved, so drift on a noisy machine hits both alike
        ours.append(engine_rate(engine, n_tokens))
        bare.append(bare_rate(llm, prompt, n_tokens))
    return statistics.median(ours) / statistics.median(bare), statistics.median(ours), statistics.median(bare)


def follow_up_ratio() -> tuple[float, int, int]:
    source = open(llama_cpp.__file__.replace("__init__.py", "llama_types.py")).read()[:5200]
    history = [
        Message("user", "Here is a module:\n```python\n" + source + "\n```\nWhat does it define?"),
        Message("assistant", "It defines typed dictionaries for the OpenAI-compatible API."),
    ]
    follow = history + [Message("user", "Which class is the largest?")]
    warm = load_engine("demo")
    for _ in warm.stream(history, GenParams(max_tokens=1)):
        pass
    ttft = {}
    for label, engine in (("follow-up", warm), ("scratch", load_engine("demo"))):
        for delta in engine.stream(follow, GenParams(max_tokens=1)):
            if delta.stats:
                ttft[label] = delta.stats.ttft_s
                tokens = delta.stats.prompt_tokens
    return ttft["scratch"] / ttft["follow-up"], tokens, warm.count(history).prompt_tokens


def thread_ratio(n_tokens: int, repeats: int) -> tuple[float, dict[int, float]]:
    rates = {}
    for threads in range(1, (os.cpu_count() or 1) + 1):
        engine = load_engine("demo", EngineOptions(n_threads=threads))
        rates[threads] = statistics.median(engine_rate(engine, n_tokens) for _ in range(repeats))
    return rates[default_threads()] / max(rates.values()), rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    threads = default_threads()
    ratio, ours, bare = overhead_ratio(threads, args.tokens, args.repeats)
    print(f"(a) engine / bare loop generation rate: {ratio:.3f}  ({ours:.1f} vs {bare:.1f} tok/s, {threads} threads; target >= 0.97)")
    speedup, total, history = follow_up_ratio()
    print(f"(b) follow-up TTFT speed-up over scratch: {speedup:.1f}x  ({history}-token history, {total}-token prompt; target >= 10x)")
    t_ratio, rates = thread_ratio(args.tokens, args.repeats)
    shown = ", ".join(f"{t}: {r:.1f}" for t, r in rates.items())
    print(f"(c) default threads / best threads rate: {t_ratio:.3f}  (default {threads}; tok/s by threads {shown}; target >= 0.95)")


if __name__ == "__main__":
    main()
