"""One question with files, as `opencoder-chat -p QUESTION -f PATH [--apply]` asks it, and its answer's
edits applied (the diff on standard output, each file written or not in a line on standard error)."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from opencoder_local.context.apply import EditRefused, PlannedChange, plan, write
from opencoder_local.context.edits import parse_edits
from opencoder_local.context.repo_map import ProjectMap, map_budget
from opencoder_local.context.window import Prompt, answer_reserve, fit_to_window, free_for_files, text_counter
from opencoder_local.context.working_set import WorkingSet
from opencoder_local.engine.protocol import Message
from opencoder_local.errors import UserError
from opencoder_local.files import short
from opencoder_local.terminal_text import printable, printable_lines


def one_shot_prompt(engine, system: str | None, question: str, files: Sequence[str], project: Path,
                    max_tokens: int | None, map_tokens: int | None = 0,
                    extra_files: Sequence[str] = ()) -> tuple[Prompt, list[str], list[str]]:
    """The prompt for `question` with `files` (globs, folders, ranges) and the project map
    (`map_tokens`: None for the window's default, 0 for none), the notices to show and the paths of
    the files it holds. `extra_files` (those a failure names) are added one by one while they fit;
    one that does not is a notice.

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
    for spec in extra_files:
        if spec in (entry.path for entry in working_set.entries()):
            continue
        added = working_set.add([spec], free_for_files(engine.count, system, working_set.message(), question, reserve))
        notices += added.notices + [f"not added {short(path, 80)}: {reason}" for path, reason in added.refused]
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


@dataclass
class AppliedAnswer:
    exit_code: int  # 0: every edit written (or, without --yes, shown and declined); 1: not
    written: list[str] = field(default_factory=list)  # project-relative paths
    not_applied: list[str] = field(default_factory=list)  # one line each: why an edit was not written


def apply_answer(answer: str, project: Path, files: Sequence[str], yes: bool) -> AppliedAnswer:
    """Print the diff of each file the answer changes; write them with `yes`, or when a terminal says y."""
    changes, refused = proposed_changes(answer, project, files)
    outcome = AppliedAnswer(1, not_applied=list(refused))
    for reason in refused:
        _say(f"not applied: {reason}")
    changes = [change for change in changes if change.diff.hunks]
    if not changes:
        if not refused:
            outcome.not_applied.append("the answer changes no file (no code block after a file's path)")
            _say(outcome.not_applied[-1])
        return outcome
    for change in changes:
        sys.stdout.write(printable_lines(change.diff.unified(change.path, change.is_new)))
    sys.stdout.flush()
    if not yes and not _confirmed(changes):
        outcome.exit_code = 1 if refused else 0
        return outcome
    result = write([(change, change.new) for change in changes])
    for change in result.stale:
        outcome.not_applied.append(f"{change.path} changed on disk meanwhile; run again")
    outcome.not_applied += [f"{path}: {reason}" for path, reason in result.failed]
    for reason in outcome.not_applied[len(refused):]:
        _say(f"not written: {reason}")
    for written in result.written:
        outcome.written.append(Path(os.path.relpath(written.path, project)).as_posix())
        _say(f"wrote {outcome.written[-1]}")
    outcome.exit_code = 1 if refused or result.stale or result.failed else 0
    return outcome


def _confirmed(changes: Sequence[PlannedChange]) -> bool:
    """A terminal's y to writing these files; no terminal, no write."""
    if not sys.stdin.isatty():
        _say("not written (no terminal to ask): add --yes to write")
        return False
    new = [change.path for change in changes if change.is_new]
    creating = f", creating {', '.join(new)}" if new else ""
    sys.stderr.write(printable(f"Write {', '.join(change.path for change in changes)}{creating}? [y/N] "))
    sys.stderr.flush()
    if sys.stdin.readline().strip().lower() not in ("y", "yes"):
        _say("not written")
        return False
    return True


def _say(line: str) -> None:
    print(printable(f"opencoder-chat: {line}"), file=sys.stderr)
