"""The app as a person sees it: `opencoder-chat` in a real terminal (tmux), timed from Enter.

For each run, the real app starts in a tmux window of 120x40 on the demo model (its own data folder,
a fresh conversation), the question is typed, and Enter is sent; the pane is then read as fast as
tmux allows (capture-pane, a few ms each) until the answer's first character is on screen, then
until the status bar says the answer has ended ("ready", or "stopped" when it was cut at the token
limit). In the same run, interleaved, a bare llama-cpp-python stream of the same question (the
model's own chat template, greedy, the same thread count and token limit) is timed from its call
to its first and last token. Prints the medians and the ratio bare / app of the whole answer's
wall time (the app's rate as a person sees it over the bare stream's).

Reading the pane costs CPU the app and the model share; it is polled every ~5 ms until the first
character and every ~25 ms after, so the app pays for it too: the figures are if anything low.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FIRST_CHAR_TARGET_S = 0.15
WALL_TARGET = 0.90
SESSION = "opencoder-bench"
_ENDED = ("ready", "stopped")


def _tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], capture_output=True, text=True, check=True).stdout


def _pane() -> list[str]:
    return _tmux("capture-pane", "-p", "-t", SESSION).splitlines()


def _status(lines: list[str]) -> str:
    """The status bar's first word (the line above the footer)."""
    return lines[-2].split()[0] if len(lines) >= 2 and lines[-2].split() else ""


def _answer_started(lines: list[str]) -> bool:
    """Any visible character inside the last Assistant box."""
    starts = [i for i, line in enumerate(lines) if "─ Assistant " in line]
    if not starts:
        return False
    for line in lines[starts[-1] + 1:]:
        if "╰" in line:
            return False
        inside = line.split("│", 1)[1] if "│" in line else ""
        if inside.strip(" │"):
            return True
    return False


def _wait(condition, timeout: float, every: float) -> float:
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        lines = _pane()
        if condition(lines):
            return time.perf_counter()
        time.sleep(every)
    raise SystemExit("bench: the app did not get there in time; the pane was:\n" + "\n".join(_pane()))


def app_run(question: str, threads: int, max_tokens: int, project: Path | None = None) -> tuple[float, float]:
    """(Enter to the first answer character on screen, Enter to the status bar's end) in seconds. The app
    starts in `project` with a cold symbol cache, or in an empty folder (the bare stream has no files
    or map)."""
    home = tempfile.mkdtemp(prefix="opencoder-bench-tmux-")
    folder = str(project) if project is not None else tempfile.mkdtemp(prefix="opencoder-bench-project-")
    chat = Path(sys.executable).with_name("opencoder-chat")
    command = (f"OPENCODER_HOME={home} {chat} --model demo --threads {threads} --max-tokens {max_tokens}")
    subprocess.run(["tmux", "kill-session", "-t", SESSION], capture_output=True)
    _tmux("new-session", "-d", "-s", SESSION, "-x", "120", "-y", "40", "-c", folder, command)
    try:
        _wait(lambda lines: _status(lines) == "ready", 120, 0.05)
        _tmux("send-keys", "-t", SESSION, "-l", question)
        time.sleep(1.0)  # the meter's recount after typing settles: Enter alone is timed
        entered = time.perf_counter()
        _tmux("send-keys", "-t", SESSION, "Enter")
        _wait(lambda lines: _status(lines) not in _ENDED, 10, 0.002)
        first = _wait(_answer_started, 120, 0.005)
        ended = _wait(lambda lines: _status(lines) in _ENDED, 600, 0.025)
        return first - entered, ended - entered
    finally:
        subprocess.run(["tmux", "kill-session", "-t", SESSION], capture_output=True)
        shutil.rmtree(home, ignore_errors=True)
        if project is None:
            shutil.rmtree(folder, ignore_errors=True)


def bare_run(question: str, threads: int, max_tokens: int) -> tuple[float, float, int]:
    """(call to first token, call to last token, tokens) of a bare llama-cpp-python stream."""
    import llama_cpp

    from opencoder_local.models.registry import demo_path

    llm = llama_cpp.Llama(str(demo_path()), n_threads=threads, n_threads_batch=threads, n_ctx=4096,
                          n_gpu_layers=-1, verbose=False)
    started = time.perf_counter()
    first, tokens = None, 0
    for chunk in llm.create_chat_completion([{"role": "user", "content": question}], max_tokens=max_tokens,
                                            temperature=0.0, stream=True):
        if chunk["choices"][0]["delta"].get("content"):
            tokens += 1
            first = first or time.perf_counter()
    ended = time.perf_counter()
    del llm
    return first - started, ended - started, tokens


def terminal_figures(question: str, threads: int, max_tokens: int, repeats: int, project: Path | None = None) -> int:
    if shutil.which("tmux") is None:
        print("bench: tmux is not installed")
        return 2
    firsts, walls, bare_firsts, bare_walls, tokens = [], [], [], [], 0
    for _ in range(repeats):  # interleaved: drift on a noisy machine hits both alike
        bare_first, bare_wall, tokens = bare_run(question, threads, max_tokens)
        first, wall = app_run(question, threads, max_tokens, project)
        firsts.append(first), walls.append(wall), bare_firsts.append(bare_first), bare_walls.append(bare_wall)
        print(f"run: app first char {first:.3f} s, app ended {wall:.2f} s; bare first token {bare_first:.3f} s, "
              f"bare ended {bare_wall:.2f} s ({tokens} tokens)", flush=True)
    first, wall = statistics.median(firsts), statistics.median(walls)
    ratio = statistics.median(bare_walls) / wall
    print(f"tmux Enter to first character: {first:.3f} s median  (bare first token {statistics.median(bare_firsts):.3f} s; "
          f"target <= {FIRST_CHAR_TARGET_S} s: {'PASS' if first <= FIRST_CHAR_TARGET_S else 'FAIL'})")
    print(f"tmux Enter to ready: {wall:.2f} s median vs bare stream {statistics.median(bare_walls):.2f} s "
          f"({tokens} tokens, {threads} threads)")
    print(f"tmux wall-time ratio bare / app: {ratio:.3f}x  (target >= {WALL_TARGET}: "
          f"{'PASS' if ratio >= WALL_TARGET else 'FAIL'})")
    return 0 if first <= FIRST_CHAR_TARGET_S and ratio >= WALL_TARGET else 1


if __name__ == "__main__":
    os.environ.setdefault("OPENCODER_HOME", tempfile.mkdtemp(prefix="opencoder-bench-"))
    sys.exit(terminal_figures("Write a Python function that checks whether a number is prime.", 2, 400, 3))
