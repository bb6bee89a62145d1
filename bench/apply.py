"""Applying a model's edit to a 2,000-line file: parse the answer, diff, write atomically.

Measured in this run against a baseline of reading that file and writing it back atomically (the
least any apply must do), for an answer with the whole file and for one with SEARCH/REPLACE blocks.
Target: under 50 ms for parse + diff + write.

Run: python bench/apply.py [--lines 2000] [--repeats 30]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from opencoder_local.context.apply import plan, write
from opencoder_local.context.edits import parse_edits
from opencoder_local.files import write_atomic

TARGET_MS = 50.0


def source(lines: int) -> str:
    """Plausible Python: a function every four lines."""
    return "".join(f"def step_{i}(value):\n    return value * {i} + {i * 7}\n\n\n" for i in range(lines // 4))


def whole_answer(text: str) -> str:
    """The whole file again with type hints on every 100th function, as a model writes it."""
    changed = text
    for i in range(0, 500, 25):
        changed = changed.replace(f"def step_{i}(value):\n", f"def step_{i}(value: int) -> int:\n")
    return f"Here is the file with type hints:\n\n`big.py`\n```python\n{changed}```\n\nThat is all."


def search_answer() -> str:
    blocks = "".join(
        f"<<<<<<< SEARCH\ndef step_{i}(value):\n    return value * {i} + {i * 7}\n=======\n"
        f"def step_{i}(value: int) -> int:\n    return value * {i} + {i * 7}\n>>>>>>> REPLACE\n"
        for i in range(0, 500, 25)
    )
    return f"Only those functions change:\n\nbig.py\n```python\n{blocks}```\n"


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        original = source(args.lines)
        target = root / "big.py"
        answers = {"whole file": whole_answer(original), "SEARCH/REPLACE, 20 blocks": search_answer()}
        base: list[float] = []
        stages: dict[str, list[list[float]]] = {name: [[], [], []] for name in answers}
        for round_ in range(args.repeats + 1):  # the first round warms up (imports, caches)
            target.write_text(original)
            start = time.perf_counter()
            write_atomic(target, target.read_bytes())
            if round_:
                base.append(time.perf_counter() - start)
            for name, answer in answers.items():  # interleaved: a busy moment hits every figure alike
                target.write_text(original)
                start = time.perf_counter()
                [edit] = parse_edits(answer, ["big.py"])
                parsed = time.perf_counter()
                change = plan(root, edit)
                planned = time.perf_counter()
                assert write([(change, change.new)]).written and change.diff.added == 20
                if round_:
                    for kept, took in zip(stages[name], (parsed - start, planned - parsed, time.perf_counter() - planned)):
                        kept.append(took)
        baseline = median_ms(base)
        print(f"file: {len(original.splitlines()):,} lines, {len(original.encode()):,} bytes; "
              f"median of {args.repeats} rounds")
        print(f"baseline, read + atomic write of the same file: {baseline:.2f} ms")
        for name, (parse, plan_, write_) in stages.items():
            total = median_ms([a + b + c for a, b, c in zip(parse, plan_, write_)])
            verdict = "ok" if total < TARGET_MS else "OVER TARGET"
            print(f"{name}: {total:.2f} ms = {total / baseline:.1f}x the baseline (target < {TARGET_MS:.0f} ms: "
                  f"{verdict}); parse {median_ms(parse):.2f}, plan (read, path rules, diff) {median_ms(plan_):.2f}, "
                  f"write {median_ms(write_):.2f}")


if __name__ == "__main__":
    main()
