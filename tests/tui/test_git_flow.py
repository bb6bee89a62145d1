"""/diff and /commit through the app, on a real git repository: only the files applied edits wrote, other
staged and unstaged changes left as they were, a drafted message edited before use, and each refusal."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from textual.widgets import TextArea

from opencoder_local.tui.screens.chat import ChatScreen
from opencoder_local.tui.screens.commit_message import CommitMessageScreen
from opencoder_local.tui.screens.diff import DiffScreen
from opencoder_local.tui.screens.review import ReviewScreen

from tui.helpers import ask, notices, ready, wait_for
from tui.test_command_runs import app_on, command

pytestmark = pytest.mark.anyio

CALC = "def add(a, b):\n    return a + b\n"
TYPED = "def add(a: int, b: int) -> int:\n    return a + b\n"
EDIT = f"Typed.\n\n`calc.py`\n```python\n{TYPED}```\n"


def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, text=True).stdout


@pytest.fixture
def repo(tmp_path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.name", "Test")
    git(root, "config", "user.email", "test@example.com")
    (root / "calc.py").write_text(CALC)
    (root / "staged.py").write_text("x = 1\n")
    (root / "unstaged.py").write_text("y = 1\n")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "start")
    (root / "staged.py").write_text("x = 2\n")
    git(root, "add", "staged.py")  # the user's own work, staged: not ours to commit
    (root / "unstaged.py").write_text("y = 2\n")  # and unstaged
    return root


async def applied_edit(pilot) -> None:
    """Ask, review the answer's edit of calc.py and accept it."""
    await ask(pilot, "Add type hints to calc.py")
    await pilot.press("ctrl+g")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, ReviewScreen))
    await pilot.press("y")
    await wait_for(pilot, lambda: "Edit applied" in notices(pilot.app) or "Applied to" in notices(pilot.app))


async def test_diff_shows_only_the_files_applied_edits_wrote(repo):
    app, _engine = app_on(repo, EDIT)
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        await command(pilot, "/diff")
        assert "No edit of this conversation is applied" in notices(app)
        await applied_edit(pilot)
        await command(pilot, "/diff")
        await wait_for(pilot, lambda: isinstance(app.screen, DiffScreen))
        diff = app.screen.diff
        assert "calc.py" in diff and "+def add(a: int, b: int) -> int:" in diff
        assert "staged.py" not in diff and "unstaged.py" not in diff
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, ChatScreen))


async def test_commit_takes_exactly_the_edited_files_and_leaves_the_rest(repo):
    app, _engine = app_on(repo, EDIT)
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        await applied_edit(pilot)
        await command(pilot, "/commit Add type hints to add (it's typed now)")
        await wait_for(pilot, lambda: "Committed" in notices(app))
        assert git(repo, "show", "--stat", "--format=%s", "HEAD").splitlines()[0] == "Add type hints to add (it's typed now)"
        assert git(repo, "show", "--name-only", "--format=", "HEAD").split() == ["calc.py"]
        status = git(repo, "status", "--porcelain").splitlines()
        assert sorted(status) == sorted(["M  staged.py", " M unstaged.py"])  # staged still staged, unstaged still not
        await command(pilot, "/commit again")
        await wait_for(pilot, lambda: "Nothing to commit" in notices(app))


async def test_commit_without_a_message_uses_the_draft_as_edited(repo):
    app, engine = app_on(repo, EDIT, "Add type hints to add")
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        await applied_edit(pilot)
        await command(pilot, "/commit")
        await wait_for(pilot, lambda: isinstance(app.screen, CommitMessageScreen), timeout=60)
        assert "calc.py" in engine.prompts[-1][-1].content  # the draft was asked from the diff
        area = app.screen.query_one(TextArea)
        assert area.text == "Add type hints to add"
        await pilot.press(*" in calc")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: "Committed" in notices(app))
        assert git(repo, "log", "-1", "--format=%s") == "Add type hints to add in calc\n"
        assert git(repo, "show", "--name-only", "--format=", "HEAD").split() == ["calc.py"]


async def test_each_refusal_is_one_notice(repo):
    app, _engine = app_on(repo, EDIT)
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        await applied_edit(pilot)
        head = git(repo, "rev-parse", "HEAD")
        refusals = []

        async def refused(words: str) -> None:
            before = len(app._notifications)
            await command(pilot, "/commit message")
            await wait_for(pilot, lambda: len(app._notifications) > before)
            refusals.append(str(list(app._notifications)[-1].message))
            assert words in refusals[-1] and "\n" not in refusals[-1] and "Traceback" not in refusals[-1]

        (repo / ".git" / "MERGE_HEAD").write_text(head)
        await refused("a merge is in progress")
        (repo / ".git" / "MERGE_HEAD").unlink()
        (repo / ".git" / "rebase-merge").mkdir()
        await refused("a rebase is in progress")
        (repo / ".git" / "rebase-merge").rmdir()
        git(repo, "checkout", "-q", "--detach")
        await refused("HEAD is detached")
        git(repo, "checkout", "-q", "main")
        assert git(repo, "rev-parse", "HEAD") == head  # nothing was committed meanwhile


async def test_outside_a_repository_commit_and_diff_say_so(tmp_path):
    project = tmp_path / "plain"
    project.mkdir()
    (project / "calc.py").write_text(CALC)
    app, _engine = app_on(project, EDIT)
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        await applied_edit(pilot)
        for text in ("/commit message", "/diff"):
            before = len(app._notifications)
            await command(pilot, text)
            await wait_for(pilot, lambda: len(app._notifications) > before)
            assert "is not inside a git repository" in str(list(app._notifications)[-1].message)
        assert not isinstance(app.screen, DiffScreen)
