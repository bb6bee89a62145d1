"""This tree's benchmarks side by side with an older commit's, in one run.

Checks REV out into a temporary worktree and runs each benchmark (each side with its own
bench/ script and its own code on PYTHONPATH, the same interpreter and the same demo model),
alternating old, new, old, new... so that the machine's load falls on both alike. Every line of
the form "label: number ..." that both sides print is shown with both medians and new/old; whether
higher or lower is better is the benchmark's own ("tok/s", "x" and "%" higher; "ms", " s" lower).

Run: python bench/versus.py [--rev a6ffd29] [--rounds 2] [-- BENCH ARGS...]
     (default benchmarks: bench/engine.py and bench/tui.py --e2e, the README's figures)
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCHES = (("bench/engine.py",), ("bench/tui.py", "--e2e"))
_NUMBER = re.compile(r"(?<![\w.])(-?\d[\d,]*(?:\.\d+)?)\s*([^\s,;()]*)")
_LOWER_IS_BETTER = ("ms", "s", "MB", "MiB", "GB")


def run_bench(tree: Path, bench: tuple[str, ...]) -> str:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    probe = subprocess.run([sys.executable, "-c", "import opencoder_local; print(opencoder_local.__file__)"],
                           env=env, capture_output=True, text=True, check=True, cwd=tree)
    if not probe.stdout.strip().startswith(str(tree)):
        raise SystemExit(f"versus: {tree} is not the code imported ({probe.stdout.strip()})")
    done = subprocess.run([sys.executable, *bench], env=env, capture_output=True, text=True, cwd=tree)
    if done.returncode != 0 and not figures(done.stdout):  # a missed target exits 1 too: its figures count
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["(nothing)"]
        raise SystemExit(f"versus: {' '.join(bench)} failed in {tree}: {tail[0]}")
    return done.stdout


def figures(output: str) -> dict[str, tuple[float, str]]:
    """"label: words NUMBER unit ..." -> {"label: words": (NUMBER, unit)}, the first number after the colon."""
    found = {}
    for line in output.splitlines():
        head, colon, rest = line.partition(":")
        match = _NUMBER.search(rest) if colon and head.strip() else None
        if match:
            label = f"{head.strip()}: {rest[:match.start()].strip()}".strip(": ")
            found.setdefault(label, (float(match[1].replace(",", "")), match[2]))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rev", default="a6ffd29", help="the older commit (default: a6ffd29, before the redesign)")
    parser.add_argument("--rounds", type=int, default=2, help="runs of each benchmark on each side (median)")
    parser.add_argument("bench", nargs="*", help="one benchmark and its arguments (default: the README's two)")
    args = parser.parse_args()
    benches = (tuple(args.bench),) if args.bench else BENCHES
    with tempfile.TemporaryDirectory(prefix="versus-") as tmp:
        old = Path(tmp) / "old"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(old), args.rev], check=True)
        try:
            for bench in benches:
                runs: dict[str, list[dict[str, tuple[float, str]]]] = {"old": [], "new": []}
                for round_ in range(args.rounds):
                    for side, tree in (("old", old), ("new", ROOT)):
                        print(f"# {' '.join(bench)}: {side}, run {round_ + 1} of {args.rounds}", file=sys.stderr, flush=True)
                        output = run_bench(tree, bench)
                        print(output, file=sys.stderr, flush=True)
                        runs[side].append(figures(output))
                show(bench, args.rev, runs)
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(old)], check=False)


def show(bench: tuple[str, ...], rev: str, runs: dict[str, list[dict[str, tuple[float, str]]]]) -> None:
    print(f"\n{' '.join(bench)}  (median of {len(runs['new'])} runs each; old = {rev})")
    labels = [label for label in runs["new"][0] if all(label in run for run in runs["old"] + runs["new"])]
    for label in labels:
        old = statistics.median(run[label][0] for run in runs["old"])
        new = statistics.median(run[label][0] for run in runs["new"])
        unit = runs["new"][0][label][1]
        better = "lower" if unit in _LOWER_IS_BETTER else "higher"
        ratio = f"{new / old:6.3f}x" if old else "   n/a"
        print(f"  {label[:44]:44} old {old:10.3f}  new {new:10.3f} {unit:6} new/old {ratio}  ({better} is better)")


if __name__ == "__main__":
    main()
