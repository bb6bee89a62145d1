"""One question with files, as `opencoder-chat -p QUESTION -f PATH` asks it."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from opencoder_local.context.window import Prompt, answer_reserve, fit_to_window, free_for_files, text_counter
from opencoder_local.context.working_set import WorkingSet
from opencoder_local.engine.protocol import Message
from opencoder_local.errors import UserError


def one_shot_prompt(engine, system: str | None, question: str, files: Sequence[str], project: Path,
                    max_tokens: int | None) -> tuple[Prompt, list[str]]:
    """The prompt for `question` with `files` (globs, folders, ranges) and the notices to show.

    `engine` is anything that counts like an engine (n_ctx, count): the weights need not be loaded.
    A file that cannot be added, or does not fit, is a UserError naming every such file."""
    reserve = answer_reserve(engine.n_ctx, max_tokens)
    working_set = WorkingSet(project, text_counter(engine))
    if files:
        result = working_set.add(files, free_for_files(engine.count, system, "", question, reserve))
        if result.refused:
            raise UserError("; ".join(f"cannot add {spec}: {reason}" for spec, reason in result.refused))
        notices = result.notices
    else:
        notices = []
    asked = [Message("user", question)]
    return fit_to_window(engine.count, system, asked, reserve, working_set.message()), notices
