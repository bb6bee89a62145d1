"""One model through the problems: ask, cut at the stop words, extract, run in the sandbox, record.

A problem's program runs (one worker thread) while the model answers the next one. Rows go to the
results file as they are checked, so a second run with the same file asks only what is left."""

from __future__ import annotations

import json
import os
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Protocol, Sequence

from opencoder_local.engine import Engine, GenParams, Message
from opencoder_local.errors import UserError
from opencoder_local.evaluation.data import Problem
from opencoder_local.evaluation.extract import program, solution
from opencoder_local.evaluation.prompts import WINDOW, Prompt, completion, first_stop, prompt_for
from opencoder_local.evaluation.sandbox import Outcome


@dataclass(frozen=True)
class Row:
    """One problem's result, as a line of the results file."""

    model: str
    task_id: str
    passed: bool
    reason: str | None  # "wrong answer", an exception's name, "time limit", "no code", ...
    tokens: int
    prompt_s: float  # building and counting the prompt
    gen_s: float  # the answer, from request to last token
    extract_s: float
    exec_s: float  # the sandboxed run, start to end
    answer: str


class Checker(Protocol):
    def run(self, code: str) -> Outcome: ...


class Progress(Protocol):
    def start(self, model: str, total: int, rows: Sequence[Row]) -> None: ...

    def checked(self, row: Row) -> None: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class Summary:
    model: str
    label: str  # what the engine calls the model (a file's name, a server's model)
    chat: bool
    rows: tuple[Row, ...]
    wall_s: float  # this run, resumed rows not included
    complete: bool  # every problem asked (not interrupted)
    resumed_s: float = 0.0  # the generation time of rows an earlier run left in the results file

    @property
    def time_s(self) -> float:
        """This run's wall clock plus the earlier runs' generation (their checks overlapped it)."""
        return self.wall_s + self.resumed_s

    @property
    def passed(self) -> int:
        return sum(row.passed for row in self.rows)

    @property
    def tok_s(self) -> float:
        seconds = sum(row.gen_s for row in self.rows)
        return sum(row.tokens for row in self.rows) / seconds if seconds else 0.0


class Results:
    """The --out file: one JSON line per checked problem, appended and synced as each is checked; a
    line cut short by a crash is ignored when the file is read back."""

    def __init__(self, path: Path | None):
        self.path = path
        self._lock = threading.Lock()

    def done(self, model: str) -> dict[str, Row]:
        if self.path is None or not self.path.is_file():
            return {}
        rows = {}
        try:
            lines = self.path.read_text("utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise UserError(f"cannot read {self.path}: {getattr(exc, 'strerror', None) or exc}") from None
        for line in lines:
            try:
                row = Row(**json.loads(line))
            except (ValueError, TypeError):
                continue
            if row.model == model:
                rows[row.task_id] = row
        return rows

    def add(self, row: Row) -> None:
        if self.path is None:
            return
        line = json.dumps(asdict(row), ensure_ascii=False) + "\n"
        with self._lock:
            try:
                with open(self.path, "a", encoding="utf-8") as f:
                    f.write(line)
                    f.flush()
                    os.fsync(f.fileno())
            except OSError as exc:
                raise UserError(f"cannot write {self.path}: {exc.strerror or exc}") from None


def answer(engine: Engine, prompt: Prompt, max_tokens: int) -> tuple[str, int]:
    """The answer cut before its first stop word (the engine is cancelled there), and its token count."""
    messages = [Message("user", prompt.text)]
    longest = max(len(stop) for stop in prompt.stops)
    text, tokens, stopped = "", 0, False
    for delta in engine.stream(messages, GenParams(temperature=0.0, max_tokens=max_tokens)):
        if delta.stats is not None:
            tokens = delta.stats.generated_tokens
        if stopped or not delta.text:
            continue
        before = len(text)
        text += delta.text
        cut = first_stop(text, prompt.stops, max(0, before - longest + 1))
        if cut is not None:
            text, stopped = text[:cut], True
            engine.cancel()
    return text, tokens


def check(problem: Problem, prompt: Prompt, text: str, sandbox: Checker) -> tuple[str | None, bool, float, float]:
    """(reason, passed, extraction seconds, run seconds) for one answer."""
    start = time.perf_counter()
    code = solution(completion(prompt, text), problem.entry_point)
    extracted = time.perf_counter()
    if not code.strip():
        return "no code", False, extracted - start, 0.0
    outcome = sandbox.run(program(problem, code))
    return outcome.reason, outcome.passed, extracted - start, time.perf_counter() - extracted


def evaluate(engine: Engine, model: str, problems: Sequence[Problem], sandbox: Checker, results: Results,
             progress: Progress, stop_requested: Callable[[], bool] = lambda: False) -> Summary:
    """Ask every problem not already in `results`, check each answer while the next is generated, and
    sum up. `stop_requested` (Ctrl+C) ends the run after the answers already given are checked."""
    done = results.done(model)
    kept = [done[p.task_id] for p in problems if p.task_id in done]
    todo = [p for p in problems if p.task_id not in done]
    rows: list[Row] = list(kept)
    progress.start(model, len(problems), kept)
    started = time.perf_counter()
    complete = True

    def checked(problem: Problem, prompt: Prompt, text: str, tokens: int, prompt_s: float, gen_s: float) -> None:
        reason, passed, extract_s, exec_s = check(problem, prompt, text, sandbox)
        row = Row(model, problem.task_id, passed, reason, tokens, prompt_s, gen_s, extract_s, exec_s, text)
        results.add(row)
        rows.append(row)
        progress.checked(row)

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="eval-check") as pool:
        pending: list[Future] = []
        try:
            for problem in todo:
                if stop_requested():
                    complete = False
                    break
                begin = time.perf_counter()
                prompt = prompt_for(problem, engine.chat_mode)
                budget = WINDOW - engine.count([Message("user", prompt.text)]).prompt_tokens
                asked = time.perf_counter()
                text, tokens = answer(engine, prompt, budget) if budget > 0 else ("", 0)
                if stop_requested():  # this answer was cut by Ctrl+C: not recorded
                    complete = False
                    break
                pending.append(pool.submit(checked, problem, prompt, text, tokens, asked - begin,
                                           time.perf_counter() - asked))
                for future in [f for f in pending if f.done()]:
                    future.result()  # a failure in the worker surfaces here
                    pending.remove(future)
        finally:
            for future in pending:
                future.result()
    progress.close()
    order = {p.task_id: i for i, p in enumerate(problems)}
    rows.sort(key=lambda row: order[row.task_id])
    return Summary(model, engine.model_name, engine.chat_mode, tuple(rows), time.perf_counter() - started, complete,
                   sum(row.prompt_s + row.gen_s for row in kept))
