"""/diff and /commit: what the applied edits changed since the last commit, and committing exactly
their files (never other files, never what else is staged). Git itself is loop/git.py's; it and the
two screens load with the first /diff or /commit, not at start-up."""

from __future__ import annotations

import os
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from opencoder_local.errors import UserError
from opencoder_local.tui.flows.host import ChatHost, in_thread
from opencoder_local.tui.phase import Phase

if TYPE_CHECKING:
    from opencoder_local.loop.git import GitRepo

DRAFT_TOKENS = 60  # a subject line


class GitFlow:
    def __init__(self, host: ChatHost):
        self.host = host

    @property
    def root(self) -> Path:
        return self.host.session.working_set.root

    def edited(self) -> list[str]:
        """The files the conversation's applied (not undone) edits wrote, project-relative, oldest first."""
        paths = [Path(os.path.relpath(applied.path, self.root)).as_posix()
                 for edit in self.host.session.applied_edits() if edit.undone is None for applied in edit.files]
        return list(dict.fromkeys(paths))

    @staticmethod
    def _shown(names: list[str]) -> str:
        return ", ".join(names[:8]) + (f" and {len(names) - 8} more" if len(names) > 8 else "")

    def _refused(self, exc: UserError, title: str) -> None:
        self.host.notify(str(exc), title=title, severity="warning", timeout=15, markup=False)

    async def _repo_and_changes(self, title: str, nothing: str) -> tuple[GitRepo, list[str]] | None:
        """The repository and the edited files that differ from the last commit; None (one notice) if none."""
        host = self.host
        edited = self.edited()
        if not edited:
            host.notify("No edit of this conversation is applied: /diff and /commit cover only the files "
                        "applied edits wrote.", title=title, timeout=10)
            return None
        from opencoder_local.loop.git import GitRepo

        try:
            repo = await in_thread(host, partial(GitRepo.at, self.root), group="git")
            changed = await in_thread(host, partial(repo.changed, edited), group="git")
        except UserError as exc:
            self._refused(exc, title)
            return None
        if not changed:
            host.notify(f"{nothing}: {self._shown(edited)} {'is' if len(edited) == 1 else 'are'} as in the last "
                        "commit.", title=title, timeout=10, markup=False)
            return None
        return repo, list(changed)

    def diff(self) -> None:
        self.host.run_worker(self._diff(), group="git-flow")

    async def _diff(self) -> None:
        found = await self._repo_and_changes("No diff", "No change to show")
        if found is None:
            return
        repo, changed = found
        try:
            text = await in_thread(self.host, partial(repo.diff, changed), group="git")
        except UserError as exc:
            self._refused(exc, "No diff")
            return
        from opencoder_local.tui.screens.diff import DiffScreen

        self.host.app.push_screen(DiffScreen(f"Changes by applied edits since the last commit: {self._shown(changed)}",
                                             text))

    def commit(self, message: str) -> None:
        if self.host.idle("committing"):
            self.host.run_worker(self._commit(message.strip()), group="git-flow")

    async def _commit(self, message: str) -> None:
        host = self.host
        found = await self._repo_and_changes("Not committed", "Nothing to commit")
        if found is None:
            return
        repo, changed = found
        if message:
            await self._write(repo, changed, message)
            return
        draft = await self._draft(repo, changed)

        async def edited(text: str | None) -> None:
            if text:
                await self._write(repo, changed, text)
            else:
                host.notify("Not committed.")

        from opencoder_local.tui.screens.commit_message import CommitMessageScreen

        host.app.push_screen(CommitMessageScreen(changed, draft),
                             lambda text: host.run_worker(edited(text), group="git-flow"))

    async def _draft(self, repo: GitRepo, changed: list[str]) -> str:
        """The model's draft of the message from the diff ("" without a model; Esc stops it)."""
        host = self.host
        engine = host.session.engine
        if engine is None or not host.idle("drafting a commit message"):
            return ""
        from opencoder_local.loop.git import draft_commit_message

        host.phase = Phase.GENERATING  # the model writes: Esc stops it like an answer
        try:
            diff = await in_thread(host, partial(repo.diff, changed), group="git")
            return await in_thread(host, partial(draft_commit_message, engine, diff, DRAFT_TOKENS), group="git")
        except Exception as exc:  # a dead model process, a server gone: the message is written by hand
            self.host.notify(f"The model could not draft a message ({exc}); write one.", title="No draft",
                             severity="warning", timeout=15, markup=False)
            return ""
        finally:
            host.phase = Phase.IDLE

    async def _write(self, repo: GitRepo, changed: list[str], message: str) -> None:
        try:
            commit = await in_thread(self.host, partial(repo.commit, changed, message), group="git")
        except UserError as exc:
            self._refused(exc, "Not committed")
            return
        self.host.notify(f"Committed {commit} ({self._shown(changed)}).", title="Committed", markup=False)
