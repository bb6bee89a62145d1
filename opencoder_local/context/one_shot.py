"""One question with files, as `opencoder-chat -p QUESTION -f PATH [--apply]` asks it."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from opencoder_local.context.apply import EditRefused, PlannedChange, plan
from opencoder_local.context.edits import parse_edits
from opencoder_local.context.repo_map import ProjectMap, map_budget
from opencoder_local.context.window import Prompt, answer_reserve, fit_to_window, free_for_files, text_counter
from opencoder_local.context.working_set import WorkingSet
from opencoder_local.engine.protocol import Message
from opencoder_local.errors import UserError
from opencoder_local.files import short


def one_shot_prompt(engine, system: str | None, question: str, files: Sequence[str], project: Path,
                    max_tokens: int | None, map_tokens: int | None = 0) -> tuple[Prompt, list[str], list[str]]:
    """The prompt for `question` with `files` (globs, folders, ranges) and the project map
    (`map_tokens`: None for the window's default, 0 for none), the notices to show and the paths of
    the files it holds.

    `engine` is anything that counts like an engine (n_ctx, count): the weights need not be loaded.
    A file that cannot be added, or does not fit, is a UserError naming every such file."""
    reserve = answer_reserve(engine.n_ctx, max_tokens)
    count_text = text_counter(engine)
    working_set = WorkingSet(project, count_text)
    if files:
        result = working_set.add(files, free_for_files(engine.count, system, "", question, reserve))
        if result.refused:
            raise UserError("; ".join(f"cannot add {short(spec, 80)}: {reason}" for spec, reason in result.refused))
        notices = result.notices
    else:
        notices = []
    asked = [Message("user", question)]
    paths = [entry.path for entry in working_set.entries()]
    repo_map = ""
    budget = map_budget(map_tokens, engine.n_ctx,
                        free_for_files(engine.count, system, working_set.message(), question, reserve))
    if budget:
        project_map = ProjectMap(project)
        repo_map = project_map.render(project_map.focus(question), paths, budget, count_text).text
        notices = notices + [f"map: {notice}" for notice in project_map.symbols.notices]
    prompt = fit_to_window(engine.count, system, asked, reserve, working_set.message(), repo_map=repo_map)
    return prompt, notices, paths


def proposed_changes(answer: str, project: Path, files: Sequence[str]) -> tuple[list[PlannedChange], list[str]]:
    """The changes an answer proposes to the project's files (`files`: those it was given), and a
    one-line reason for each edit that cannot be applied."""
    changes, refused = [], []
    for edit in parse_edits(answer, files):
        try:
            changes.append(plan(project, edit))
        except EditRefused as exc:
            refused.append(str(exc))
    return changes, refused
