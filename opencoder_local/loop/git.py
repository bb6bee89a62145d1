"""The user's git repository, for `/diff` and `/commit` of the files the app's edits touched.

Only those paths are ever staged or committed. The work happens in a temporary index seeded from
HEAD (GIT_INDEX_FILE), so whatever the user has staged or left unstaged elsewhere stays exactly as
it was; after a commit the user's own index takes the committed content for those paths alone, as
`git commit --only` leaves it. git runs with nothing on stdin, no pager, no editor, a timeout, and
its failures become one line. Hooks run: it is the user's repository and its rules.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from opencoder_local.engine.protocol import GenParams, Message
from opencoder_local.errors import UserError

GIT_TIMEOUT_S = 60.0
COMMIT_TIMEOUT_S = 600.0  # hooks may run the project's linters or tests
_IN_PROGRESS = {  # files in the git folder that say an operation is under way
    "MERGE_HEAD": "a merge is in progress",
    "rebase-merge": "a rebase is in progress",
    "rebase-apply": "a rebase (or git am) is in progress",
    "CHERRY_PICK_HEAD": "a cherry-pick is in progress",
    "REVERT_HEAD": "a revert is in progress",
}


@dataclass(frozen=True)
class GitRepo:
    top: Path  # the work tree's top folder
    git_dir: Path
    project: Path  # the folder paths are given relative to

    @classmethod
    def at(cls, project: Path) -> "GitRepo":
        """The repository the project is in, ready to commit, or a UserError of one line saying why not."""
        project = Path(os.path.realpath(project))
        if shutil.which("git") is None:
            raise UserError("git is not installed (or not on PATH)")
        found = _git(project, "rev-parse", "--show-toplevel", "--absolute-git-dir", check=False)
        if found.returncode != 0:
            raise UserError(f"{project} is not inside a git repository")
        lines = found.stdout.splitlines()
        if len(lines) != 2 or not lines[0]:
            raise UserError(f"{project} is in a git folder with no work tree")
        top, git_dir = Path(lines[0]), Path(lines[1])
        for name, why in _IN_PROGRESS.items():
            if (git_dir / name).exists():
                raise UserError(f"not committing: {why} in {top}; finish or abort it first")
        if _git(top, "symbolic-ref", "-q", "HEAD", check=False).returncode != 0:
            raise UserError(f"not committing: HEAD is detached in {top}; check out a branch first")
        return cls(top, git_dir, project)

    def diff(self, paths: Sequence[str]) -> str:
        """The unified diff of these paths' working-tree content against HEAD (new files included)."""
        with self._index_of(paths) as (env, specs):
            if not specs:
                return ""
            return _git(self.top, "diff", "--cached", "--no-color", "--no-ext-diff", *self._base(), "--",
                        *specs, env=env).stdout

    def changed(self, paths: Sequence[str]) -> list[str]:
        """Those of the paths whose working-tree content differs from HEAD, in the order given."""
        with self._index_of(paths) as (env, specs):
            if not specs:
                return []
            names = set(_git(self.top, "diff", "--cached", "--name-only", "--no-renames", *self._base(), "--",
                             *specs, env=env).stdout.splitlines())
        return [self._from_top(spec) for spec in specs if spec in names]

    def commit(self, paths: Sequence[str], message: str) -> str:
        """Commit exactly these paths' working-tree content; "abc1234 subject" of the new commit."""
        if not message.strip():
            raise UserError("the commit message is empty")
        with self._index_of(paths) as (env, specs):
            same = not specs or _git(self.top, "diff", "--cached", "--quiet", *self._base(), "--", *specs, env=env,
                                     check=False).returncode == 0
            if same:
                raise UserError("nothing to commit: those files are as the last commit has them")
            _git(self.top, "commit", "-q", "--no-status", "-m", message.strip(), env=env,
                 timeout=COMMIT_TIMEOUT_S)
        # The user's index takes the committed content for these paths only (as `git commit --only`).
        _git(self.top, "reset", "-q", "--", *specs, check=False)
        return _git(self.top, "log", "-1", "--format=%h %s").stdout.strip()

    @property
    def has_commits(self) -> bool:
        return _git(self.top, "rev-parse", "-q", "--verify", "HEAD", check=False).returncode == 0

    def _base(self) -> list[str]:
        return ["HEAD"] if self.has_commits else []

    def _specs(self, paths: Sequence[str]) -> list[str]:
        specs = []
        for path in paths:
            full = Path(os.path.normpath(self.project / path))
            relative = os.path.relpath(full, self.top)
            if relative == ".." or relative.startswith("../") or relative == ".":
                raise UserError(f"{path} is not a file of the repository at {self.top}")
            if relative not in specs:
                specs.append(relative)
        return specs

    def _from_top(self, name: str) -> str:
        return Path(os.path.relpath(self.top / name, self.project)).as_posix()

    def _index_of(self, paths: Sequence[str]) -> "_TemporaryIndex":
        return _TemporaryIndex(self, self._specs(paths))


def draft_commit_message(engine, diff: str, max_tokens: int = 60) -> str:
    """A one-line commit message the model drafts from the diff (cut to fit the window), for the user
    to edit. "" when the model says nothing usable."""
    from opencoder_local.context.window import text_counter

    count = text_counter(engine)
    room = engine.n_ctx - max_tokens - count(_DRAFT_ASK) - 64
    shown = diff
    if count(shown) > room:  # keep the diff's start: its first files and hunks say what changed
        lines = diff.splitlines()
        low, high = 0, len(lines)
        while low < high:
            mid = (low + high + 1) // 2
            if count("\n".join(lines[:mid])) <= room:
                low = mid
            else:
                high = mid - 1
        shown = "\n".join(lines[:low]) + "\n[rest of the diff left out]"
    question = f"{_DRAFT_ASK}\n\n```diff\n{shown}\n```"
    answer = "".join(delta.text for delta in engine.stream([Message("user", question)],
                                                           GenParams(temperature=0.0, max_tokens=max_tokens)))
    return _subject(answer)


_DRAFT_ASK = ("Write a git commit message for this change: one line in the imperative mood, at most 72 "
              "characters, saying what the change does. Answer with that line alone.")


def _subject(answer: str) -> str:
    """The first line of an answer that reads as a subject: no fence, quotes, or "Subject:" label."""
    for line in answer.splitlines():
        line = line.strip().strip("`*\"' ")
        for label in ("commit message:", "subject:", "message:"):
            if line.lower().startswith(label):
                line = line[len(label):].strip().strip("`*\"' ")
        if line and not line.startswith(("```", "diff", "---", "+++", "@@")):
            return line[:72].rstrip()
    return ""


class _TemporaryIndex:
    """An index file of HEAD plus these paths as the working tree has them; removed on exit."""

    def __init__(self, repo: GitRepo, specs: list[str]):
        self.repo = repo
        self.specs = specs
        self.path: Path | None = None

    def __enter__(self) -> tuple[dict[str, str], list[str]]:
        fd, name = tempfile.mkstemp(prefix="opencoder-index-", dir=self.repo.git_dir)
        os.close(fd)
        os.unlink(name)  # git writes a fresh index there
        self.path = Path(name)
        env = {"GIT_INDEX_FILE": name}
        top = self.repo.top
        _git(top, "read-tree", *(["HEAD"] if self.repo.has_commits else ["--empty"]), env=env)
        present = [spec for spec in self.specs if (top / spec).is_file() or (top / spec).is_symlink()]
        gone = [spec for spec in self.specs if spec not in present]
        if present:
            _git(top, "add", "--", *present, env=env)
        if gone:
            _git(top, "rm", "--cached", "-q", "--ignore-unmatch", "--", *gone, env=env)
        return env, self.specs

    def __exit__(self, *_exc) -> None:
        if self.path is not None:
            for leftover in (self.path, self.path.with_name(self.path.name + ".lock")):
                leftover.unlink(missing_ok=True)


def _git(cwd: Path, *args: str, env: dict[str, str] | None = None, check: bool = True,
         timeout: float = GIT_TIMEOUT_S) -> subprocess.CompletedProcess[str]:
    """Run git; with `check`, a failure is a UserError carrying git's own last line."""
    full_env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_PAGER": "cat", "GIT_EDITOR": "true",
                "GIT_LITERAL_PATHSPECS": "1", **(env or {})}
    try:
        done = subprocess.run(["git", "-c", "core.quotepath=false", "--no-pager", *args], cwd=cwd, env=full_env,
                              stdin=subprocess.DEVNULL, capture_output=True, text=True, errors="replace",
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        raise UserError(f"git {args[0]} did not finish in {timeout:.0f} s (a hook waiting, or a lock?)") from None
    except OSError as exc:
        raise UserError(f"cannot run git: {exc.strerror or exc}") from None
    if check and done.returncode != 0:
        said = [line.strip() for line in (done.stderr + done.stdout).splitlines() if line.strip()]
        reason = next((line for line in said if line.startswith(("fatal:", "error:"))), said[-1] if said else "")
        raise UserError(f"git {args[0]} failed: {reason or f'exit {done.returncode}'}")
    return done
