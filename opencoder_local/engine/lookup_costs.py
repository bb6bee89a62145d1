"""Prompt lookup's cost table for a model file on this machine: measured once, on request, and stored.

`opencoder calibrate` times k-token batches against one-token decodes and stores the medians in the
data folder (locations.lookup_costs_path()), keyed by the model file's path, size and modification
time and the thread count. Loading an engine reads the table back; until one is stored, lookup uses
the built-in DEFAULT_COSTS. Answers never read the clock, so a busy machine cannot change them.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import llama_cpp

from opencoder_local import locations
from opencoder_local.engine.decoding import DraftBatch
from opencoder_local.engine.lookup import MAX_DRAFT, CostTable
from opencoder_local.files import write_atomic

VERSION = 1
SIZES = (2, 4, 8, MAX_DRAFT + 1)  # batch sizes timed: the last is the largest a step decodes
ROUNDS = 10  # timings of each size; the first of each is dropped (llama.cpp plans a new graph shape)
CONTEXT = 256  # tokens in the cache while timing: a short conversation's worth

_noticed: set[Path] = set()


def _identity(model: Path, n_threads: int) -> dict:
    """What a table is measured for: the model file as it is on disk and the thread count."""
    path = model.resolve()
    stat = os.stat(path)
    return {"model": str(path), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "n_threads": n_threads}


def _table(entry: dict) -> CostTable:
    """The table an entry holds; ValueError (or TypeError, KeyError) if it is not one."""
    return CostTable(tuple((int(k), float(c)) for k, c in sorted(entry["costs"].items(), key=lambda kc: int(kc[0]))))


def _entries(path: Path) -> list[dict]:
    """The stored entries, [] without a file; ValueError when the file is not a table file."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    except (OSError, UnicodeError) as exc:
        raise ValueError(str(exc)) from None
    if not isinstance(data, dict) or data.get("version") != VERSION or not isinstance(data.get("tables"), list):
        raise ValueError(f"not a version {VERSION} table file")
    entries = data["tables"]
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("costs"), dict):
            raise ValueError("an entry without costs")
        try:
            _table(entry)
        except (TypeError, KeyError) as exc:
            raise ValueError(f"an entry with bad costs: {exc}") from None
    return entries


def _notice(path: Path, reason: str) -> None:
    """One line on stderr, once per process for a file: a damaged table costs speed, not answers."""
    if path in _noticed:
        return
    _noticed.add(path)
    print(f"opencoder: ignoring {path} ({reason}): prompt lookup uses its built-in batch costs; "
          "`opencoder calibrate` measures this machine's again", file=sys.stderr)


def stored_costs(model: Path, n_threads: int) -> CostTable | None:
    """The table measured for this model file and thread count, or None (none stored, or a damaged file)."""
    path = locations.lookup_costs_path()
    try:
        entries = _entries(path)
    except ValueError as exc:
        _notice(path, str(exc))
        return None
    key = _identity(model, n_threads)
    for entry in entries:
        if all(entry.get(name) == value for name, value in key.items()):
            return _table(entry)
    return None


def store_costs(model: Path, n_threads: int, table: CostTable) -> Path:
    """Store `table` for this model file and thread count (atomically), replacing older tables of
    the same path and threads; a damaged file is replaced. Returns the file's path."""
    path = locations.lookup_costs_path()
    key = _identity(model, n_threads)
    try:
        kept = [e for e in _entries(path) if (e.get("model"), e.get("n_threads")) != (key["model"], n_threads)]
    except ValueError:
        kept = []
    entry = {**key, "measured": datetime.now(timezone.utc).isoformat(timespec="seconds"),
             "costs": {str(k): round(c, 3) for k, c in table.points}}
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, json.dumps({"version": VERSION, "tables": [*kept, entry]}, indent=1) + "\n")
    _noticed.discard(path)
    return path


def measure_costs(llm: llama_cpp.Llama, context: list[int], rounds: int = ROUNDS) -> CostTable:
    """Time one-token decodes and k-token batches after `context` (CONTEXT tokens of it), the
    sizes interleaved so a busy spell slows them alike; the medians, as multiples of a one-token
    decode. Leaves the KV cache empty."""
    memory = llama_cpp.llama_get_memory(llm.ctx)
    llama_cpp.llama_memory_clear(memory, True)
    llm.n_tokens = 0
    llm.eval(context[:min(CONTEXT, llm.n_ctx() - max(SIZES) - 1)])  # room for the largest batch
    start = llm.n_tokens
    batch = DraftBatch(max(SIZES))
    times: dict[int, list[float]] = {size: [] for size in (1, *SIZES)}
    try:
        for _ in range(rounds + 1):
            for size in times:
                began = time.perf_counter()
                batch.decode(llm.ctx, context[:size], start)
                times[size].append(time.perf_counter() - began)
                llama_cpp.llama_memory_seq_rm(memory, 0, start, -1)
    finally:
        batch.close()
        llama_cpp.llama_memory_clear(memory, True)
        llm.n_tokens = 0
    one = statistics.median(times[1][1:])
    costs, floor = [], 1.0
    for size in SIZES:  # a batch never costs less than a smaller one: noise, not the machine
        floor = max(floor, statistics.median(times[size][1:]) / one)
        costs.append((size, floor))
    return CostTable(tuple(costs))
