"""The eval harness's own cost on the demo model: prompting, extraction and sandboxed runs beside generation.

Runs `opencoder eval`'s loop on the first N HumanEval problems with the real demo model and the real
sandbox, and prints each part's time as a share of the run's wall clock. Programs run while the next
answer is generated, so two figures: the parts summed as if nothing overlapped, and what the harness
adds to the wall clock (the run less generation). Target: the harness <= 10% of the run. Also a bare
`python -I -c pass` beside a sandboxed `pass`: what the sandbox itself costs a program.

Run: python bench/eval.py [--limit 20] [--threads T]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

from opencoder_local.engine.threads import default_threads
from opencoder_local.evaluation.data import humaneval
from opencoder_local.evaluation.run import Results, evaluate
from opencoder_local.evaluation.sandbox import open_sandbox
from opencoder_local.models.registry import open_model
from opencoder_local.engine import EngineOptions

TARGET = 0.10


class Quiet:
    def start(self, model, total, rows):
        pass

    def checked(self, row):
        pass

    def close(self):
        pass


def startup_costs(sandbox, repeats: int = 5) -> tuple[float, float]:
    """Median seconds of a bare interpreter start and of a sandboxed `pass`."""
    bare, boxed = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-I", "-c", "pass"], check=True)
        bare.append(time.perf_counter() - start)
        start = time.perf_counter()
        assert sandbox.run("pass\n").passed
        boxed.append(time.perf_counter() - start)
    return statistics.median(bare), statistics.median(boxed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=20)
    parser.add_argument("--threads", type=int, default=max(1, default_threads() - 1))
    args = parser.parse_args()
    sandbox = open_sandbox(no_sandbox=False)
    engine = open_model("demo", EngineOptions(n_threads=args.threads), isolated=False)
    try:
        summary = evaluate(engine, "demo", humaneval()[: args.limit], sandbox, Results(None), Quiet())
    finally:
        engine.close()
    wall = summary.wall_s
    parts = {name: sum(getattr(row, f"{name}_s") for row in summary.rows) for name in ("prompt", "gen", "extract", "exec")}
    print(f"demo model, {len(summary.rows)} problems, {args.threads} thread(s): {wall:.1f} s, "
          f"{summary.passed} passed, {summary.tok_s:.1f} tok/s")
    for name, label in (("gen", "generation"), ("prompt", "prompting (build + count)"),
                        ("extract", "extraction"), ("exec", "sandboxed runs")):
        print(f"  {label:<28} {parts[name]:8.2f} s  {parts[name] / wall:6.1%} of the run")
    harness = parts["prompt"] + parts["extract"] + parts["exec"]
    added = max(wall - parts["gen"], 0.0)
    print(f"harness, parts summed:  {harness / wall:6.1%}  (as if nothing overlapped)")
    print(f"harness, on the clock:  {added / wall:6.1%}  (the run less generation; target <= {TARGET:.0%}): "
          f"{'met' if added / wall <= TARGET else 'NOT met'}")
    bare, boxed = startup_costs(sandbox)
    print(f"a program's start: bare python {bare * 1000:.0f} ms, sandboxed `pass` {boxed * 1000:.0f} ms "
          f"({boxed / bare:.2f}x)")


if __name__ == "__main__":
    main()
