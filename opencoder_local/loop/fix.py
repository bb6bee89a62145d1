"""The test loop without a screen: `opencoder-chat -p QUESTION -f FILES --test COMMAND --apply --yes`.

Run the command; when it passes, stop there (the model is never loaded). When it fails, ask the
model with the failing output (capped to a share of the window, head and tail kept) and the files:
those given, then those the failure names while they fit. Write the answer's edits, run again, up
to `rounds` answers. Each run is one line; the last line says how it ended. An answer whose edits
cannot be written counts as a round, and the next question says why they were not.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from opencoder_local.context.one_shot import apply_answer, one_shot_prompt
from opencoder_local.context.window import text_counter
from opencoder_local.engine.protocol import Engine, Message
from opencoder_local.loop.failures import files_in_failure, fix_question
from opencoder_local.loop.run import CommandResult, run_command

OUTPUT_SHARE = 4  # the failing output may take a quarter of the window
MIN_OUTPUT_TOKENS = 128


@dataclass(frozen=True)
class FixPlan:
    command: str
    project: Path
    question: str = ""  # the user's own words, put before the failure
    files: tuple[str, ...] = ()
    rounds: int = 3  # answers asked for at most
    timeout_s: float = 600.0
    system: str | None = None
    max_tokens: int | None = None
    map_tokens: int | None = 0
    drop_env: tuple[str, ...] = ()


Ask = Callable[[Engine, Sequence[Message]], str]  # streams an answer (shown as it comes) and returns it


def fix_until_passing(plan: FixPlan, open_engine: Callable[[], Engine], ask: Ask,
                      say: Callable[[str], None]) -> int:
    """0 when the command passes (at once or after a fix), 1 when it still fails after `rounds` answers."""
    engine: Engine | None = None
    not_written: list[str] = []
    try:
        for number in itertools.count(1):  # the run after the last answer returns
            result = run_command(plan.command, plan.project, timeout_s=plan.timeout_s, drop_env=plan.drop_env)
            if result.passed:
                say(f"round {number}: {result.summary()}")
                fixes = number - 1
                say("the command passes" + (f" after {fixes} fix{'es' if fixes > 1 else ''}" if fixes
                                            else "; the model was not asked"))
                return 0
            if result.not_found or number > plan.rounds:
                say(f"round {number}: {result.summary()}")
                say(_gave_up(plan, result, number))
                return 1
            say(f"round {number}: {result.summary()}; asking the model")
            if engine is None:
                engine = open_engine()
            messages, paths = _question(engine, plan, result, not_written, say)
            answer = ask(engine, messages)
            not_written = apply_answer(answer, plan.project, paths, yes=True).not_applied
    finally:
        if engine is not None:
            engine.close()


def _gave_up(plan: FixPlan, result: CommandResult, number: int) -> str:
    if result.not_found:
        return "not asking the model: the command itself was not found"
    if plan.rounds == 0:
        return "the command fails (--rounds 0: the model was not asked)"
    return f"the command still fails after {number - 1} round{'s' if number > 2 else ''} of fixes"


def _question(engine: Engine, plan: FixPlan, result: CommandResult, not_written: Sequence[str],
              say: Callable[[str], None]) -> tuple[list[Message], list[str]]:
    """The messages asking for a fix, and the paths of the files they hold."""
    share = max(MIN_OUTPUT_TOKENS, engine.n_ctx // OUTPUT_SHARE)
    output = result.output.for_model(text_counter(engine), share)
    asked = plan.question
    if not_written:
        problems = "\n".join(f"- {reason}" for reason in not_written)
        asked = f"{asked}\n\nThe edits of your last answer could not all be written:\n{problems}".strip()
    failing = files_in_failure(result.output.text(), plan.project)
    prompt, notices, paths = one_shot_prompt(engine, plan.system, fix_question(result, output, asked, False),
                                             plan.files, plan.project, plan.max_tokens, plan.map_tokens,
                                             extra_files=failing)
    if not paths:  # no file in the prompt: no files' message to carry the edit format
        prompt, notices, paths = one_shot_prompt(engine, plan.system, fix_question(result, output, asked),
                                                 (), plan.project, plan.max_tokens, plan.map_tokens)
    for notice in notices:
        say(notice)
    return prompt.messages, paths
