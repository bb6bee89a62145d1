"""The coding loop's own costs, each against a baseline measured in the same run.

(a) Overhead: a generated pytest project with one failing test, fixed in one round by a scripted
    engine through `loop.fix.fix_until_passing` (the function `--test ... --apply --yes` calls),
    against two plain runs of the same test command (`sh -c`, output to a pipe read by
    `subprocess.run`) plus the time the scripted answer takes. Target: at most 1.2x.
(b) Capture: 100 MB of output through `RunningCommand` with an `on_output` callback, against the
    least any capture does (a bare loop reading the same command's pipe and dropping the bytes) and
    against no reader at all (`> /dev/null`): throughput, RSS growth (target: under 50 MB), the
    longest gap between two callbacks, and how many there were.
(c) The same 100 MB through `!COMMAND` in the real chat screen (headless, a scripted engine): the
    worst gap between frames while it runs (a 60 Hz heartbeat on the UI's loop: the longest the
    screen could not have been redrawn; target under 100 ms) against the same app idle just before,
    and the process's RSS growth (target under 50 MB).

Ratios are printed, never asserted. Run: python bench/loop.py [--repeats 5] [--megabytes 100]
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Iterator, Sequence

from opencoder_local.engine.protocol import ContextBudget, Delta, GenParams, Message, TurnStats
from opencoder_local.loop.fix import FixPlan, fix_until_passing
from opencoder_local.loop.run import RunningCommand

OVERHEAD_TARGET = 1.2
RSS_TARGET_MB = 50
BROKEN = "def add(a, b):\n    return a - b\n"
ANSWER = ("The function subtracts; it should add.\n\ncalc.py\n```python\n<<<<<<< SEARCH\n    return a - b\n"
          "=======\n    return a + b\n>>>>>>> REPLACE\n```\n")


class ScriptedEngine:
    """Answers ANSWER word by word, at once: the loop, not a model, is what is measured."""

    model_name, quantization, backend, chat_mode, n_ctx = "scripted", "F16", "CPU", True, 8192

    def __init__(self) -> None:
        self.answer_s = 0.0

    def count(self, messages: Sequence[Message]) -> ContextBudget:
        return ContextBudget(sum(len(m.content) // 4 + 4 for m in messages), self.n_ctx)

    def stream(self, messages: Sequence[Message], params: GenParams = GenParams()) -> Iterator[Delta]:
        started = time.perf_counter()
        for word in ANSWER.split(" "):
            yield Delta(word + " ")
        self.answer_s += time.perf_counter() - started
        yield Delta("", TurnStats(self.count(messages).prompt_tokens, 0, 1, 0.0, 1.0, "stop"))

    def cancel(self) -> None:
        pass

    def close(self) -> None:
        pass


def make_project(root: Path, modules: int) -> None:
    """`modules` test files of ten passing tests each, and one test of calc.add that fails."""
    (root / "tests").mkdir(parents=True)
    (root / "conftest.py").write_text("")
    (root / "calc.py").write_text(BROKEN)
    (root / "tests" / "test_calc.py").write_text("from calc import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n")
    for m in range(modules):
        tests = "".join(f"def test_{t}():\n    assert sum(range({t})) == {t * (t - 1) // 2}\n\n\n" for t in range(10))
        (root / "tests" / f"test_m{m}.py").write_text(tests)


def plain_run(command: str, root: Path) -> float:
    started = time.perf_counter()
    subprocess.run(["/bin/sh", "-c", command], cwd=root, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                   stderr=subprocess.STDOUT)
    return time.perf_counter() - started


def overhead(repeats: int, modules: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        make_project(root, modules)
        command = f"{sys.executable} -m pytest -q -p no:cacheprovider"
        loops, baselines = [], []
        for _ in range(repeats):
            (root / "calc.py").write_text(BROKEN)
            baseline = plain_run(command, root)
            (root / "calc.py").write_text(BROKEN.replace("a - b", "a + b"))
            baseline += plain_run(command, root)
            (root / "calc.py").write_text(BROKEN)
            engine = ScriptedEngine()
            plan = FixPlan(command, root, "Make the tests pass.", ("calc.py",), rounds=3, map_tokens=None)
            started = time.perf_counter()
            with redirect_stdout(io.StringIO()), redirect_stderr(io.StringIO()):  # the diff and "wrote calc.py"
                code = fix_until_passing(plan, lambda: engine, lambda e, messages: "".join(
                    d.text for d in e.stream(messages)), lambda _line: None)
            loops.append(time.perf_counter() - started)
            assert code == 0, "the scripted fix did not make the tests pass"
            baselines.append(baseline + engine.answer_s)
        loop_s, base_s = statistics.median(loops), statistics.median(baselines)
        print(f"(a) loop overhead, pytest on {modules * 10 + 1} tests, median of {repeats}: "
              f"fix_until_passing {loop_s:.3f} s vs two plain runs + answer {base_s:.3f} s: "
              f"{loop_s / base_s:.2f}x (target <= {OVERHEAD_TARGET}x)")


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def capture(megabytes: int) -> None:
    command = f"yes 'a line of output, as a chatty test run prints it: 0123456789' | head -c {megabytes * 1_000_000}"
    started = time.perf_counter()
    subprocess.run(["/bin/sh", "-c", command + " > /dev/null"], check=True)
    null_s = time.perf_counter() - started
    started = time.perf_counter()
    with subprocess.Popen(["/bin/sh", "-c", command], stdout=subprocess.PIPE) as bare:
        while bare.stdout.read1(1 << 20):
            pass
    bare_s = time.perf_counter() - started

    calls: list[float] = []
    peak = [rss_mb()]
    before = peak[0]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.02):
            peak[0] = max(peak[0], rss_mb())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.perf_counter()
    running = RunningCommand(command, Path.cwd(), on_output=lambda _text: calls.append(time.perf_counter())).start()
    result = running.wait()
    run_s = time.perf_counter() - started
    done.set()
    sampler.join()
    marks = [started, *calls, started + result.seconds]
    gap = max(b - a for a, b in zip(marks, marks[1:]))
    mb = result.output.total_bytes / 1e6
    print(f"(b) capture of {mb:.0f} MB: {mb / run_s:.0f} MB/s vs {mb / bare_s:.0f} MB/s read and dropped "
          f"({run_s / bare_s:.2f}x the time; {mb / null_s:.0f} MB/s with no reader, to /dev/null); RSS grew {peak[0] - before:.1f} MB (target < {RSS_TARGET_MB} MB); "
          f"{len(calls)} on_output calls ({len(calls) / run_s:.1f}/s), longest gap {gap * 1000:.0f} ms; "
          f"kept {len(result.output.display_text()) / 1024:.0f} KiB of text")


async def in_the_app(megabytes: int) -> tuple[float, float, float, float]:
    """(worst frame gap idle, worst frame gap while the command ran, seconds it ran, RSS growth in MB)."""
    import asyncio

    from opencoder_local.settings import ChatSettings
    from opencoder_local.tui.app import make_app

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    from tui.scripted import ScriptedEngine

    command = f"yes 'a line of output, as a chatty test run prints it: 0123456789' | head -c {megabytes * 1_000_000}"
    project = Path(tempfile.mkdtemp(prefix="opencoder-bench-project-"))
    app = make_app(ChatSettings(model="demo", project=str(project), trust_typed_commands=True),
                   lambda _s: ScriptedEngine("ok"))
    beats: list[float] = []
    async with app.run_test(size=(120, 40)) as pilot:
        while app.screen.session.engine is None:
            await pilot.pause(0.01)
        app.set_interval(1 / 60, lambda: beats.append(time.perf_counter()))
        await asyncio.sleep(1.0)
        idle = max(b - a for a, b in zip(beats, beats[1:]))
        before, peak = rss_mb(), rss_mb()
        app.screen.prompt_input.text = "!" + command
        started = time.perf_counter()
        await pilot.press("enter")
        def ended() -> bool:  # the block's summary line says how the command ended
            return any(str(label.render()).strip() for label in app.screen.query(".summary"))

        while not ended():
            peak = max(peak, rss_mb())
            await asyncio.sleep(0.02)
        ran = time.perf_counter() - started
        window = [b for b in beats if b >= started]
        busy = max(b - a for a, b in zip(window, window[1:]))
    return idle, busy, ran, peak - before


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--modules", type=int, default=20, help="test files of ten tests each (default 20)")
    parser.add_argument("--megabytes", type=int, default=100)
    args = parser.parse_args()
    os.environ["OPENCODER_HOME"] = tempfile.mkdtemp(prefix="opencoder-bench-")  # the map's cache, not yours
    overhead(args.repeats, args.modules)
    capture(args.megabytes)
    import asyncio

    idle, busy, ran, grew = asyncio.run(in_the_app(args.megabytes))
    print(f"(c) {args.megabytes} MB through !COMMAND in the chat: worst frame gap {busy * 1000:.0f} ms while it ran "
          f"({ran:.1f} s) vs {idle * 1000:.0f} ms idle (target < 100 ms); RSS grew {grew:.1f} MB (target < {RSS_TARGET_MB} MB)")


if __name__ == "__main__":
    main()
