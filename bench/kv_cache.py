"""The prefix cache on disk (engine/kv_store.py), on the demo model, in one run:

(a) a ~3,000-token conversation reopened after a restart (a fresh engine: a new llama.cpp context):
    time to first token from the saved state vs evaluating it all again (target >= 5x)
(b) the save's time and file size, and the load's time with the file in the page cache (warm) and
    dropped from it first (cold: posix_fadvise DONTNEED on that file alone)
(c) KV bytes per token for the OpenCoder 1.5B and 8B shapes (f16 K and V), and their save and load
    times at 4K and 8K tokens extrapolated from the bytes/s measured here.

Run: python bench/kv_cache.py [--tokens 3000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHAPES = {  # layers, KV heads, head dim
    "OpenCoder-1.5B": (24, 14, 160),
    "OpenCoder-8B": (32, 8, 128),
}


def conversation(count, tokens: int):
    """History built from this project's sources until the prompt holds about `tokens` tokens."""
    from opencoder_local.engine import Message

    sources = sorted((ROOT / "opencoder_local" / "engine").glob("*.py"))
    messages = []
    for path in sources:
        text = path.read_text(encoding="utf-8")[:2500]
        turn = [Message("user", f"Here is {path.name}:\n{text}\nWhat does it do?"),
                Message("assistant", f"{path.name} is one module of the engine; it does one job.")]
        if count(messages + turn).prompt_tokens > tokens:
            break
        messages += turn
    return messages


def engine(gb: float, n_ctx: int):
    from opencoder_local.engine import EngineOptions
    from opencoder_local.models.registry import open_model

    return open_model("demo", EngineOptions(n_ctx=n_ctx, kv_cache_gb=gb), isolated=False)


def ttft(model, messages):
    from opencoder_local.engine import GenParams

    stats = None
    for delta in model.stream(messages, GenParams(max_tokens=4)):
        stats = delta.stats or stats
    return stats


def cold(path: Path) -> None:
    """Drop this one file's pages from the page cache (they are clean: the save fsynced them)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def timed_load(path: Path, ids, n_ctx: int, drop: bool) -> float:
    """A fresh engine's load of the saved state alone (read, checksum, llama_state_seq_set_data)."""
    model = engine(1000, n_ctx)
    if drop:
        cold(path)
    start = time.perf_counter()
    loaded = model._disk.restore(ids, 0)  # the bench times the step a turn takes before evaluating
    seconds = time.perf_counter() - start
    model.close()
    assert loaded == len(ids), "the saved state was not loaded"
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tokens", type=int, default=3000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    os.environ["OPENCODER_HOME"] = tempfile.mkdtemp(prefix="kv-bench-")
    from opencoder_local import locations
    from opencoder_local.engine import Message

    n_ctx = 4096
    first = engine(1000, n_ctx)
    history = conversation(first.count, args.tokens)
    reopened = history + [Message("user", "And which of them loads the model?")]
    prompt = first.count(reopened).prompt_tokens
    ids = first.prompt_ids(history)
    ttft(first, history)  # the conversation as it was answered before the restart
    report = first.save_state()
    first.close()
    [saved] = sorted(locations.kv_cache_dir().iterdir())
    print(f"conversation: {len(history)} messages, reopened prompt {prompt:,} tokens; "
          f"saved state {report.tokens:,} tokens, {report.bytes / 1e6:.1f} MB ({report.bytes / report.tokens:,.0f} B/token)")

    scratch, disk, restored = [], [], 0
    for _ in range(args.repeats):
        model = engine(0, n_ctx)  # the cache off: everything evaluated again
        scratch.append(ttft(model, reopened).ttft_s)
        model.close()
        model = engine(1000, n_ctx)  # a restart with the saved state
        stats = ttft(model, reopened)
        model.close()
        disk.append(stats.ttft_s)
        restored = stats.restored_tokens
    s, d = statistics.median(scratch), statistics.median(disk)
    print(f"(a) first token after a restart: from the saved state {d:.3f} s ({restored:,}/{prompt:,} tokens from disk)"
          f" vs re-evaluating {s:.3f} s: {s / d:.1f}x (target >= 5x)")

    saves = [report.seconds]
    for _ in range(args.repeats - 1):
        model = engine(1000, n_ctx)
        ttft(model, history)
        saved.unlink()
        saves.append(model.save_state().seconds)
        model.close()
    warm = statistics.median(timed_load(saved, ids, n_ctx, False) for _ in range(args.repeats))
    cold_s = statistics.median(timed_load(saved, ids, n_ctx, True) for _ in range(args.repeats))
    save_s = statistics.median(saves)
    size = saved.stat().st_size
    rates = {"save": size / save_s, "load warm": size / warm, "load cold": size / cold_s}
    print(f"(b) save {save_s * 1000:.0f} ms, load {warm * 1000:.0f} ms warm / {cold_s * 1000:.0f} ms cold, "
          f"file {size / 1e6:.1f} MB: " + ", ".join(f"{name} {rate / 1e9:.2f} GB/s" for name, rate in rates.items()))

    print("(c) KV bytes per token (f16 K and V: 2 x layers x KV heads x head dim x 2 bytes), extrapolated here:")
    for name, (layers, heads, dim) in SHAPES.items():
        per_token = 2 * layers * heads * dim * 2
        cells = []
        for n in (4096, 8192):
            total = per_token * n
            times = ", ".join(f"{kind} {total / rate:.2f} s" for kind, rate in rates.items())
            cells.append(f"{n // 1024}K: {total / 1e9:.2f} GB ({times})")
        print(f"    {name}: {per_token:,} B/token; " + "; ".join(cells))
    return 0


if __name__ == "__main__":
    sys.exit(main())
