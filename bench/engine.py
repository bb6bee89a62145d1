"""Engine benchmark on the demo model; every figure is a ratio against a baseline from this run.

(a) generation tok/s through the engine vs a bare llama-cpp-python loop, same threads (target >= 0.97)
(b) follow-up time-to-first-token with a 1,500-token history vs that history from scratch (target >= 10x)
(c) generation tok/s with the default threads vs the best thread count (target >= 0.95)

With --lookup, prompt lookup instead (engine/lookup.py), each figure against plain greedy decoding
of the same prompt in the same run, with llama.cpp's default attention (what --lookup on runs) and
with flash attention on one thread (where this llama.cpp computes a batch's rows exactly as
one-token decodes, so the text must be the same; bench/batch_rounding.py):
(a) rewriting an attached ~1,000-token file with one small change: tok/s (target >= 1.5x)
(b) a free-form answer with no attachment: tok/s (target >= 0.97x)
(c) peak RSS of a process answering (a) (target <= 1.05x)
and whether every answer was the same text, the acceptance rate, and the batch cost here (a
k-token decode vs a 1-token decode), which decides how much a draft may hold.

Run: python bench/engine.py [--tokens 128] [--repeats 3]
     python bench/engine.py --lookup [--tokens 400] [--repeats 3]
"""

from __future__ import annotations

import argparse
import bisect
import inspect
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import llama_cpp

from opencoder_local.context.one_shot import one_shot_prompt
from opencoder_local.engine.backend import safe_model_params
from opencoder_local.engine.decoding import DraftBatch
from opencoder_local.engine import EngineOptions
from opencoder_local.models.registry import open_model
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
    # Plain decoding, as the bare loop decodes: this measures the engine's own cost per token.
    engine = open_model("demo", EngineOptions(n_threads=threads, lookup=False), isolated=False)
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
    warm = open_model("demo", isolated=False)
    for _ in warm.stream(history, GenParams(max_tokens=1)):
        pass
    ttft = {}
    for label, engine in (("follow-up", warm), ("scratch", open_model("demo", isolated=False))):
        for delta in engine.stream(follow, GenParams(max_tokens=1)):
            if delta.stats:
                ttft[label] = delta.stats.ttft_s
                tokens = delta.stats.prompt_tokens
    return ttft["scratch"] / ttft["follow-up"], tokens, warm.count(history).prompt_tokens


def thread_ratio(n_tokens: int, repeats: int) -> tuple[float, dict[int, float]]:
    rates = {}
    for threads in range(1, (os.cpu_count() or 1) + 1):
        engine = open_model("demo", EngineOptions(n_threads=threads, lookup=False), isolated=False)
        rates[threads] = statistics.median(engine_rate(engine, n_tokens) for _ in range(repeats))
    return rates[default_threads()] / max(rates.values()), rates


# --lookup

REWRITE = "Rename the function insort_right to insert_right. Reply with the whole file."
FREE_FORM = [Message("user", "Explain the difference between a process and a thread, with an example.")]


def rewrite_prompt(engine, folder: Path) -> list[Message]:
    """A question with an attached ~1,000-token file (bisect.py of this Python), as `-p ... -f` asks it."""
    shutil.copy(inspect.getsourcefile(bisect), folder / "bisect.py")
    return one_shot_prompt(engine, None, REWRITE, ["bisect.py"], folder, None)[0].messages


def answer(engine, messages: list[Message], n_tokens: int):
    text, stats = "", None
    for delta in engine.stream(messages, GenParams(max_tokens=n_tokens)):
        text += delta.text
        stats = delta.stats or stats
    return text, stats


def compare(label: str, flash_attn: bool, threads: int, n_tokens: int, repeats: int) -> None:
    engines = {lookup: open_model("demo", EngineOptions(n_ctx=4096, n_threads=threads, lookup=lookup,
                                                         flash_attn=flash_attn), isolated=False) for lookup in (False, True)}
    with tempfile.TemporaryDirectory() as folder:
        prompts = {"rewrite": rewrite_prompt(engines[False], Path(folder)), "free-form": FREE_FORM}
    runs = {(name, lookup): [] for name in prompts for lookup in engines}
    for rep in range(repeats):  # interleaved, each engine alternating prompts, so both see the same cache states
        for name, messages in prompts.items():
            for lookup in (False, True) if rep % 2 == 0 else (True, False):
                runs[name, lookup].append(answer(engines[lookup], messages, n_tokens))
    for letter, name in zip("ab", prompts):
        plain, ours = runs[name, False], runs[name, True]
        ratio = statistics.median(s.gen_tok_s for _, s in ours) / statistics.median(s.gen_tok_s for _, s in plain)
        drafted = sum(s.drafted_tokens for _, s in ours)
        accepted = sum(s.accepted_tokens for _, s in ours)
        generated = sum(s.generated_tokens for _, s in ours)
        same = all(text == plain[0][0] for text, _ in plain + ours)
        target = ">= 1.5x" if name == "rewrite" else ">= 0.97x"
        print(f"({letter}) {label}, {name}: lookup / plain tok/s {ratio:.2f}x  (target {target}; "
              f"per run {' '.join(f'{s.gen_tok_s:.1f}' for _, s in ours)} vs {' '.join(f'{s.gen_tok_s:.1f}' for _, s in plain)}); "
              f"acceptance {accepted}/{drafted} = {accepted / max(drafted, 1):.0%}, "
              f"{accepted / max(generated, 1):.0%} of the answer; same text: {'yes' if same else 'NO'}")
        if not same:
            print(f"    first difference at character {first_difference(plain[0][0], ours[0][0])} of the first runs")
    for engine in engines.values():
        engine.close()


def first_difference(a: str, b: str) -> int:
    return next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))


def rss_child(lookup: bool, n_tokens: int) -> None:
    """Answer the rewrite prompt once and print this process's peak RSS in bytes."""
    engine = open_model("demo", EngineOptions(n_ctx=4096, lookup=lookup), isolated=False)
    with tempfile.TemporaryDirectory() as folder:
        answer(engine, rewrite_prompt(engine, Path(folder)), n_tokens)
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)


def rss_ratio(n_tokens: int, repeats: int) -> tuple[float, int, int]:
    peaks = {"plain": [], "lookup": []}
    for _ in range(repeats):
        for mode in peaks:
            out = subprocess.run([sys.executable, __file__, "--rss-child", mode, "--tokens", str(n_tokens)],
                                 check=True, capture_output=True, text=True).stdout
            peaks[mode].append(int(out.split()[-1]))
    plain, ours = statistics.median(peaks["plain"]), statistics.median(peaks["lookup"])
    return ours / plain, int(ours), int(plain)


def batch_costs(flash_attn: bool, threads: int, repeats: int, sizes=(2, 4, 8, 17)) -> dict[int, float]:
    """Time of a k-token decode over a 1-token one, at the rewrite prompt's length."""
    with tempfile.TemporaryDirectory() as folder:
        engine = open_model("demo", EngineOptions(lookup=False), isolated=False)
        prompt = engine.prompt_ids(rewrite_prompt(engine, Path(folder)))
        engine.close()
    with safe_model_params():  # as the engine loads it
        llm = llama_cpp.Llama(str(demo_path()), n_ctx=4096, n_threads=threads, n_threads_batch=threads,
                              flash_attn=flash_attn, verbose=False)
    quiet_llama()
    llm.eval(prompt)
    memory = llama_cpp.llama_get_memory(llm.ctx)
    batch = DraftBatch(max(sizes))
    times = {k: [] for k in (1, *sizes)}
    for _ in range(repeats * 5):
        for k in times:
            began = time.perf_counter()
            batch.decode(llm.ctx, list(range(100, 100 + k)), len(prompt))
            times[k].append(time.perf_counter() - began)
            llama_cpp.llama_memory_seq_rm(memory, 0, len(prompt), -1)
    batch.close()
    llm.close()
    one = statistics.median(times[1])
    return {k: statistics.median(times[k]) / one for k in sizes}


def lookup_report(n_tokens: int, repeats: int) -> None:
    print(f"demo model, {n_tokens}-token answers, {repeats} interleaved runs each")
    configs = ((f"default attention, {default_threads()} threads", False, default_threads()),
               ("flash attention, 1 thread", True, 1))
    for label, flash_attn, threads in configs:
        compare(label, flash_attn, threads, n_tokens, repeats)
        costs = batch_costs(flash_attn, threads, repeats)
        print(f"    batch cost, {label}: " + ", ".join(f"{k} tokens {c:.2f}x" for k, c in costs.items())
              + " of a 1-token decode")
    ratio, ours, plain = rss_ratio(n_tokens, repeats)
    print(f"(c) peak RSS lookup / plain: {ratio:.3f}  ({ours / 2**20:.0f} vs {plain / 2**20:.0f} MiB; target <= 1.05)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tokens", type=int, default=None, help="answer length (default 128; 400 with --lookup)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--lookup", action="store_true", help="prompt lookup vs plain greedy decoding")
    parser.add_argument("--rss-child", choices=("plain", "lookup"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rss_child:
        rss_child(args.rss_child == "lookup", args.tokens or 400)
        return
    if args.lookup:
        lookup_report(args.tokens or 400, args.repeats)
        return
    args.tokens = args.tokens or 128
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
