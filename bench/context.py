"""Working-set benchmark; every figure is measured in this run, most as a ratio against a baseline.

(a) a follow-up turn with two ~1,000-token files in the working set: tokens evaluated and time to
    first token, vs the same turn with the files evaluated again (target: only its new tokens)
(a2) the same with the project map on: a follow-up that names nothing new keeps the map byte for byte,
    so it evaluates only its new tokens; vs a follow-up naming a new function (the map moves)
(b) a file saved on disk -> the working set's refreshed entry, through the watcher, for a plain
    write and an editor's rename-over (target < 0.3 s; the chip in the app is the TUI's bench)
(c) 200 files rewritten at once (a checkout): callbacks, and time to the last one, vs the debounce

Run: python bench/context.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path

from opencoder_local.context.session import ChatSession
from opencoder_local.context.watcher import WorkingSetWatcher
from opencoder_local.context.window import text_counter
from opencoder_local.context.working_set import WorkingSet
from opencoder_local.engine import EngineOptions
from opencoder_local.models.registry import open_model
from opencoder_local.engine.protocol import GenParams, Message
from opencoder_local.store import Store


def source(name: str, lines: int) -> str:
    return "".join(f"def {name}_{i}(value):\n    return value * {i} + {i * 7}\n\n" for i in range(lines))


def last_stats(session: ChatSession):
    return [d.stats for d in session.answer() if d.stats is not None][-1]


def follow_up(engine, root: Path, repeats: int) -> None:
    (root / "alpha.py").write_text(source("alpha", 45))  # about 1,000 tokens each
    (root / "beta.py").write_text(source("beta", 45))
    warm, cold, new = [], [], []
    for _ in range(repeats):
        session = ChatSession(Store.open(":memory:"), GenParams(max_tokens=16), project=root)
        session.engine = engine
        session.add_files(["alpha.py", "beta.py"])
        session.add_user("What does alpha_3 return?")
        first = last_stats(session)
        session.add_user("And beta_4?")
        warm.append(last_stats(session))
        new.append(warm[-1].prompt_tokens - first.prompt_tokens - first.generated_tokens)
        # The same turn again after another prompt took the cache: everything is evaluated.
        list(engine.stream([Message("system", "Other."), Message("user", "Unrelated.")], GenParams(max_tokens=1)))
        session.drop_last_answer()
        cold.append(last_stats(session))
    files = sum(entry.tokens for entry in session.working_set.entries())
    warm_eval = statistics.median(s.evaluated_tokens for s in warm)
    cold_eval = statistics.median(s.evaluated_tokens for s in cold)
    warm_ttft = statistics.median(s.ttft_s for s in warm)
    cold_ttft = statistics.median(s.ttft_s for s in cold)
    print(f"(a) follow-up with 2 files ({files:,} tokens), prompt {warm[-1].prompt_tokens:,} tokens:")
    print(f"    evaluated {warm_eval:,.0f} (its new tokens: {statistics.median(new):,.0f}) vs {cold_eval:,.0f} "
          f"tokens with the files evaluated again "
          f"(ratio {warm_eval / cold_eval:.3f}); time to first token {warm_ttft * 1000:.0f} ms vs "
          f"{cold_ttft * 1000:.0f} ms (ratio {warm_ttft / cold_ttft:.3f}, {cold_ttft / warm_ttft:.1f}x faster)")


def map_project(root: Path) -> Path:
    project = root / "mapped"
    project.mkdir()
    (project / "tax.py").write_text("def compute_tax_bracket(income):\n    return income // 10_000\n")
    (project / "payroll.py").write_text("from tax import compute_tax_bracket\n\n\ndef run_payroll(salary):\n"
                                        "    return salary - compute_tax_bracket(salary)\n")
    for i in range(40):
        (project / f"util_{i:02}.py").write_text(source(f"util_{i}", 6))
    return project


def map_follow_up(engine, root: Path, repeats: int) -> None:
    project = map_project(root)
    kept, moved, maps = [], [], []
    for _ in range(repeats):
        session = ChatSession(Store.open(":memory:"), GenParams(max_tokens=16), project=project, map_tokens=None)
        session.engine = engine
        session.add_files(["payroll.py"])
        session.add_user("What does compute_tax_bracket return?")
        maps.append(session.repo_map().tokens)
        first = last_stats(session)
        session.add_user("And why is that?")
        kept.append((last_stats(session), first))
        session.add_user("What does util_7_3 do?")  # a new name: the map moves
        moved.append(last_stats(session))
    same = statistics.median(s.evaluated_tokens for s, _f in kept)
    new = statistics.median(s.prompt_tokens - f.prompt_tokens - f.generated_tokens for s, f in kept)
    prompt = kept[-1][0].prompt_tokens
    moved_eval = statistics.median(s.evaluated_tokens for s in moved)
    print(f"(a2) follow-up with the map ({statistics.median(maps):,.0f} map tokens), prompt {prompt:,} tokens: "
          f"evaluated {same:,.0f} (its new tokens: {new:,.0f}; {same / prompt:.3f} of the prompt); a follow-up "
          f"naming a new function (map moves) evaluated {moved_eval:,.0f} of {moved[-1].prompt_tokens:,}")


class Refreshed:
    """The watcher's callback: refresh the working set, note when an entry came back changed."""

    def __init__(self, working_set: WorkingSet):
        self.working_set = working_set
        self.changed = threading.Event()
        self.at = 0.0
        self.calls = 0
        self.entries = 0

    def __call__(self, paths) -> None:
        self.calls += 1
        fresh = self.working_set.refresh(paths)
        if fresh:
            self.entries += len(fresh)
            self.at = time.perf_counter()
            self.changed.set()


def watched(root: Path, spec: str, count) -> tuple[Refreshed, WorkingSetWatcher]:
    """A working set holding `spec`, refreshed by a watcher as the app does it."""
    working_set = WorkingSet(root, count)
    working_set.add([spec])
    refreshed = Refreshed(working_set)
    watcher = WorkingSetWatcher(refreshed)
    watcher.watch(working_set.watched_paths())
    return refreshed, watcher


def save_latency(root: Path, repeats: int, count) -> None:
    target = root / "edited.py"
    target.write_text("v = 0\n")
    refreshed, watcher = watched(root, "edited.py", count)
    times = {"write": [], "rename-over": []}
    try:
        for i in range(repeats):
            for how in times:
                refreshed.changed.clear()
                started = time.perf_counter()
                if how == "write":
                    target.write_text(f"v = {i}  # written\n")
                else:
                    temp = root / ".edited.py.swp"
                    temp.write_text(f"v = {i}  # renamed over\n")
                    os.replace(temp, target)
                assert refreshed.changed.wait(5), "no refresh within 5 s"
                times[how].append(refreshed.at - started)
    finally:
        watcher.stop()
    for how, seconds in times.items():
        median = statistics.median(seconds)
        print(f"(b) save ({how}) -> refreshed entry: median {median * 1000:.0f} ms, worst {max(seconds) * 1000:.0f} ms "
              f"(ratio to the 0.3 s target {median / 0.3:.2f})")


def burst(root: Path, count) -> None:
    folder = root / "many"
    folder.mkdir()
    files = [folder / f"mod{i:03}.py" for i in range(200)]
    for file in files:
        file.write_text("old = True\n")
    refreshed, watcher = watched(root, "many", count)
    try:
        started = time.perf_counter()
        for file in files:
            file.write_text("new = True\n")
        written = time.perf_counter() - started
        deadline = time.monotonic() + 10
        while refreshed.entries < len(files) and time.monotonic() < deadline:
            refreshed.changed.wait(0.5)
            refreshed.changed.clear()
    finally:
        watcher.stop()
    last = refreshed.at - started
    print(f"(c) 200 files rewritten in {written * 1000:.0f} ms: {refreshed.calls} callback(s), all 200 entries "
          f"refreshed {last * 1000:.0f} ms after the first write ({last / 0.1:.1f}x the 0.1 s debounce)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    engine = open_model("demo", EngineOptions(n_ctx=4096), isolated=False)
    count = text_counter(engine)
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        follow_up(engine, root, args.repeats)
        map_follow_up(engine, root, args.repeats)
        save_latency(root, args.repeats * 4, count)
        burst(root, count)


if __name__ == "__main__":
    main()
