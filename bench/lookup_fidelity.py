"""Is an answer with prompt lookup the model's greedy answer? Lookup's batches round differently
from one-token decodes (bench/batch_rounding.py), so this checks every token it gives.

For each prompt (code rewrites of an attached file, explanations, prose), the demo model answers
through the engine as the app runs it (lookup on, default attention and threads, this machine's
cost table or the built-in one). Then the answer's own token ids are replayed one at a time (the
one-token reference: the prompt evaluated as the engine evaluates it, then each answer token by a
one-token decode) and the reference's logits say, at every position, whether the token taken is
their argmax and, where it is not, by how much the top logit exceeds the taken token's ("gap").

Targets: >= 99% of tokens the reference's argmax; every gap within the largest batch-vs-single
logit difference batch_rounding.py measures for the demo's weights (Q4_1), measured in this run.

Run: python bench/lookup_fidelity.py [--tokens 200] [--threads N]
"""

from __future__ import annotations

import argparse
import bisect
import colorsys
import fnmatch
import inspect
import keyword
import tempfile
from dataclasses import dataclass
from pathlib import Path

import llama_cpp
import numpy as np

from batch_rounding import compare
from opencoder_local.context.one_shot import one_shot_prompt
from opencoder_local.engine import EngineOptions
from opencoder_local.engine.backend import safe_model_params
from opencoder_local.engine.lookup import DEFAULT_COSTS
from opencoder_local.engine.protocol import GenParams
from opencoder_local.engine.quiet import quiet_llama
from opencoder_local.engine.threads import default_threads
from opencoder_local.models.registry import demo_path, open_model

ARGMAX_TARGET = 0.99
SCALE = "".join(f"def scale_{i}(value):\n    return value * {i} + {i * 7}\n\n" for i in range(16))
CONFIG = "".join(f"[server.{name}]\nhost = \"10.0.0.{i}\"\nport = {8000 + i}\ntimeout = 30\n\n"
                 for i, name in enumerate(("alpha", "beta", "gamma", "delta", "epsilon", "zeta")))

# (label, kind, question, attached file name, its text or None)
PROMPTS = [
    ("bisect: rename a function", "rewrite", "Rename the function insort_right to insert_right. Reply with the whole file.",
     "bisect.py", inspect.getsource(bisect)),
    ("scale: rename a function", "rewrite", "Rewrite the whole file with scale_5 renamed to grow_5.", "scale.py", SCALE),
    ("colorsys: type hints", "rewrite", "Add type hints to every function. Reply with the whole file.",
     "colorsys.py", inspect.getsource(colorsys)),
    ("keyword: a comment", "rewrite", "Add a comment above kwlist saying where it comes from. Reply with the whole file.",
     "keyword.py", inspect.getsource(keyword)),
    ("config: change ports", "rewrite", "Change every port to 9000. Reply with the whole file.", "servers.toml", CONFIG),
    ("fnmatch: explain", "explanation", "Explain what fnmatch.translate does, step by step.",
     "fnmatch.py", inspect.getsource(fnmatch)),
    ("hash map", "explanation", "Explain what a hash map is, with an example in Python.", None, None),
    ("process vs thread", "explanation", "Explain the difference between a process and a thread, with an example.",
     None, None),
    ("lighthouse story", "prose", "Write a short story about a lighthouse keeper who finds a message in a bottle.",
     None, None),
    ("letter", "prose", "Write a letter to a friend about learning to cook.", None, None),
    ("argparse notes: summarize", "prose", "Summarize this text in one paragraph for a beginner.",
     "notes.txt", argparse.__doc__),
]


@dataclass
class Result:
    label: str
    kind: str
    tokens: int
    drafted: int
    accepted: int
    gaps: list[float]  # at each token that is not the reference's argmax


def prompt_messages(engine, folder: Path, question: str, name: str | None, text: str | None):
    """The messages `opencoder -p QUESTION -f NAME` sends."""
    if name is not None:
        (folder / name).write_text(text, encoding="utf-8")
    return one_shot_prompt(engine, None, question, [name] if name else [], folder, None)[0].messages


def lookup_answer(folder: Path, question: str, name: str | None, text: str | None, n_tokens: int, threads: int):
    """A fresh engine's prompt ids, answer ids, stats and cost table (nothing cached: the prompt is
    evaluated as the reference evaluates it)."""
    engine = open_model("demo", EngineOptions(n_ctx=4096, n_threads=threads), isolated=False)
    try:
        messages = prompt_messages(engine, folder, question, name, text)
        stats = [d.stats for d in engine.stream(messages, GenParams(max_tokens=n_tokens)) if d.stats][0]
        return engine.prompt_ids(messages), list(engine.answer_ids), stats, engine.lookup_costs
    finally:
        engine.close()


def reference_gaps(llm: llama_cpp.Llama, prompt: list[int], answer: list[int]) -> list[float]:
    """Replay `answer` one token at a time after `prompt`; the gap at each token that is not the argmax."""
    llm.reset()
    llama_cpp.llama_memory_clear(llama_cpp.llama_get_memory(llm.ctx), True)
    llm.eval(prompt)
    gaps = []
    for i, token in enumerate(answer):
        row = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(llm.ctx, -1), shape=(llm.n_vocab(),))
        if int(row.argmax()) != token:
            gaps.append(float(row.max() - row[token]))
        if i < len(answer) - 1:
            llm.eval([token])
    return gaps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tokens", type=int, default=200, help="longest answer (default 200)")
    parser.add_argument("--threads", type=int, default=default_threads(), help="default: as the app runs")
    args = parser.parse_args()
    threads = args.threads
    with safe_model_params():  # the reference: loaded as the engine loads it
        llm = llama_cpp.Llama(str(demo_path()), n_ctx=4096, n_batch=512, n_threads=threads, n_threads_batch=threads,
                              verbose=False)
    quiet_llama()
    results, rounding_prompt, costs = [], None, None
    print(f"demo model (Q4_1), {threads} threads, default attention, answers up to {args.tokens} tokens")
    print(f"{'prompt':28s} {'kind':12s} {'tokens':>6s} {'accepted/drafted':>16s} {'argmax':>7s}  gaps where not")
    with tempfile.TemporaryDirectory() as folder:
        for label, kind, question, name, text in PROMPTS:
            prompt, answer, stats, costs = lookup_answer(Path(folder), question, name, text, args.tokens, threads)
            rounding_prompt = rounding_prompt or prompt
            gaps = reference_gaps(llm, prompt, answer)
            results.append(Result(label, kind, len(answer), stats.drafted_tokens, stats.accepted_tokens, gaps))
            share = 1 - len(gaps) / len(answer)
            shown = " ".join(f"{g:.2f}" for g in gaps) or "-"
            print(f"{label:28s} {kind:12s} {len(answer):6d} {f'{stats.accepted_tokens}/{stats.drafted_tokens}':>16s} "
                  f"{share:7.1%}  {shown}", flush=True)
    llm.close()
    limit = max(d for d, _ in compare(demo_path(), rounding_prompt, False, threads).values())
    tokens = sum(r.tokens for r in results)
    gaps = [g for r in results for g in r.gaps]
    share = 1 - len(gaps) / tokens
    accepted, drafted = sum(r.accepted for r in results), sum(r.drafted for r in results)
    table = "built-in" if costs == DEFAULT_COSTS else "this machine's (opencoder calibrate)"
    verdict = "met" if share >= ARGMAX_TARGET and all(g <= limit for g in gaps) else "NOT met"
    print(f"all {len(results)} prompts: {tokens} tokens, {share:.2%} the one-token reference's argmax (target >= 99%); "
          f"{len(gaps)} not, largest gap {max(gaps, default=0):.2f} (limit {limit:.2f}: the largest batch-vs-single "
          f"logit difference for Q4_1, measured in this run); {accepted}/{drafted} drafted tokens accepted, "
          f"{table} cost table; targets {verdict}")


if __name__ == "__main__":
    main()
