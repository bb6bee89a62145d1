"""`opencoder eval`: each model named, one after the other, through the problems; one table at the end."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Sequence

from opencoder_local.errors import UserError, interruptible
from opencoder_local.evaluation import data
from opencoder_local.evaluation.report import ProgressLine, benchmark_of, table
from opencoder_local.evaluation.run import Results, Summary, evaluate
from opencoder_local.evaluation.sandbox import open_sandbox
from opencoder_local.files import user_path


@dataclass(frozen=True)
class EvalRequest:
    models: Sequence[str]
    data: str | None = None  # a JSONL file in HumanEval's format; None: HumanEval itself
    limit: int | None = None
    out: str | None = None
    threads: int | None = None
    tokenizer: str | None = None
    exact_tokenizer: bool | None = None
    no_sandbox: bool = False


def _engine(model: str, request: EvalRequest):
    from opencoder_local.engine.threads import default_threads
    from opencoder_local.settings import apply_flags, load_config, open_chat_engine

    # One core is left to the program being checked while the next answer is generated: a llama.cpp
    # thread that loses its core holds up the others at every step.
    threads = request.threads or max(1, default_threads() - 1)
    settings = apply_flags(load_config(), model=model, threads=threads, tokenizer=request.tokenizer,
                           exact_tokenizer=request.exact_tokenizer)
    return open_chat_engine(settings, isolated=False)


def run_eval(request: EvalRequest) -> int:
    """Evaluate every model, print the table; Ctrl+C keeps the rows already checked and exits 130."""
    if request.limit is not None and request.limit < 1:
        raise UserError("--limit must be a whole number of problems, at least 1")
    problems = data.load(request.data) if request.data else data.humaneval()
    problems = problems[: request.limit] if request.limit else problems
    results = Results(user_path(request.out) if request.out else None)
    if results.path is not None and not results.path.parent.is_dir():
        raise UserError(f"--out {request.out}: no such folder")
    sandbox = open_sandbox(request.no_sandbox)
    if request.no_sandbox:
        print("opencoder: --no-sandbox: generated code runs with rlimits alone, free to read and write your "
              "files and to reach the network", file=sys.stderr)
    summaries: list[Summary] = []
    for model in request.models:
        engine = _engine(model, request)
        try:
            with interruptible() as interruption:
                interruption.cancel = engine.cancel
                summary = evaluate(engine, model, problems, sandbox, results, ProgressLine(),
                                   lambda: interruption.requested)
        finally:
            engine.close()
        summaries.append(summary)
        if not summary.complete:
            kept = f"; kept in {request.out}: the same command resumes" if request.out else ""
            print(f"opencoder: interrupted: {len(summary.rows)} of {len(problems)} problems checked for {model} "
                  f"({summary.passed} passed){kept}", file=sys.stderr)
            return 130
    print(table(summaries, benchmark_of(request.data)))
    return 0
