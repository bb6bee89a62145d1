"""/diff and /commit on a real repository: exactly the edited paths, the user's index left alone,
and one line for each repository state that refuses a commit."""

from __future__ import annotations

import subprocess

import pytest

from opencoder_local.errors import UserError
from opencoder_local.loop.git import GitRepo, _subject, draft_commit_message


def git(root, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL).stdout


@pytest.fixture
def repo(tmp_path, monkeypatch):
    for key, value in {"GIT_AUTHOR_NAME": "T", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "T",
                       "GIT_COMMITTER_EMAIL": "t@example.com", "GIT_CONFIG_NOSYSTEM": "1",
                       "HOME": str(tmp_path)}.items():
        monkeypatch.setenv(key, value)
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    for name in ("edited.py", "staged.py", "unstaged.py"):
        (root / name).write_text(f"# {name}\n")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "start")
    return root


def test_commit_takes_exactly_the_edited_paths_and_leaves_the_rest_as_it_was(repo):
    (repo / "edited.py").write_text("# edited by the model\n")
    (repo / "src").mkdir()
    (repo / "src" / "new file é.py").write_text("NEW = 1\n")
    (repo / "staged.py").write_text("# staged by the user\n")
    git(repo, "add", "staged.py")
    (repo / "unstaged.py").write_text("# unstaged change\n")
    (repo / "untracked.txt").write_text("mine\n")
    before = git(repo, "status", "--porcelain")
    assert " M unstaged.py" in before and "M  staged.py" in before

    found = GitRepo.at(repo)
    paths = ["edited.py", "src/new file é.py"]
    diff = found.diff(paths)
    assert "+# edited by the model" in diff and "+++ b/src/new file é.py" in diff  # quotepath off: readable
    assert "staged" not in diff and "unstaged" not in diff
    assert found.changed(["edited.py", "staged.py", "src/new file é.py"]) == ["edited.py", "staged.py",
                                                                                "src/new file é.py"]
    short = found.commit(paths, "Fix the adder\n\nBody.")
    assert short.endswith(" Fix the adder") and len(short.split()[0]) >= 7
    assert sorted(git(repo, "-c", "core.quotepath=false", "show", "--name-only", "--format=", "HEAD").split("\n")[:-1]) == [
        "edited.py", "src/new file é.py"]
    after = git(repo, "status", "--porcelain")
    assert "M  staged.py" in after and " M unstaged.py" in after and "?? untracked.txt" in after  # left alone
    assert "edited.py" not in after and "new file" not in after  # committed and clean in the index too
    assert git(repo, "diff", "--cached", "--name-only") == "staged.py\n"
    assert found.diff(paths) == "" and found.changed(paths) == []
    with pytest.raises(UserError, match="nothing to commit"):
        found.commit(paths, "again")
    assert not list((repo / ".git").glob("opencoder-index-*"))


def test_a_deleted_file_is_committed_as_deleted(repo):
    (repo / "edited.py").unlink()
    found = GitRepo.at(repo)
    assert "deleted file mode" in found.diff(["edited.py"])
    found.commit(["edited.py"], "Remove edited.py")
    assert "edited.py" not in git(repo, "ls-files")


def test_a_repository_without_commits_can_take_the_first(tmp_path, repo):
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    git(fresh, "init", "-q", "-b", "main")
    (fresh / "a.py").write_text("A = 1\n")
    (fresh / "b.py").write_text("B = 1\n")
    found = GitRepo.at(fresh)
    assert "+A = 1" in found.diff(["a.py"])
    assert found.commit(["a.py"], "First").endswith(" First")
    assert git(fresh, "ls-files") == "a.py\n"


def test_a_project_in_a_subfolder_names_paths_from_there(repo):
    sub = repo / "pkg"
    sub.mkdir()
    (sub / "m.py").write_text("M = 1\n")
    found = GitRepo.at(sub)
    assert found.changed(["m.py"]) == ["m.py"]
    found.commit(["m.py"], "Add pkg/m.py")
    assert "pkg/m.py" in git(repo, "ls-files")
    with pytest.raises(UserError, match="is not a file of the repository"):
        found.diff(["../../outside.py"])


def refusal(root) -> str:
    with pytest.raises(UserError) as caught:
        GitRepo.at(root)
    assert "\n" not in str(caught.value)
    return str(caught.value)


def test_each_state_that_refuses_a_commit_is_one_line(tmp_path, repo):
    plain = tmp_path / "plain"
    plain.mkdir()
    assert "is not inside a git repository" in refusal(plain)

    git(repo, "checkout", "-q", "--detach")
    assert "HEAD is detached" in refusal(repo)
    git(repo, "checkout", "-q", "main")

    git(repo, "checkout", "-q", "-b", "other")
    (repo / "edited.py").write_text("# other\n")
    git(repo, "commit", "-q", "-am", "other")
    git(repo, "checkout", "-q", "main")
    (repo / "edited.py").write_text("# main\n")
    git(repo, "commit", "-q", "-am", "main")
    merge = subprocess.run(["git", "merge", "other"], cwd=repo, capture_output=True, stdin=subprocess.DEVNULL)
    assert merge.returncode != 0
    assert "a merge is in progress" in refusal(repo)
    git(repo, "merge", "--abort")

    rebase = subprocess.run(["git", "rebase", "other"], cwd=repo, capture_output=True, stdin=subprocess.DEVNULL)
    assert rebase.returncode != 0
    assert "a rebase is in progress" in refusal(repo)
    git(repo, "rebase", "--abort")

    pick = subprocess.run(["git", "cherry-pick", "other"], cwd=repo, capture_output=True, stdin=subprocess.DEVNULL)
    assert pick.returncode != 0
    assert "a cherry-pick is in progress" in refusal(repo)
    git(repo, "cherry-pick", "--abort")
    GitRepo.at(repo)  # all clear again


def test_a_hook_that_refuses_is_one_line_and_commits_nothing(repo):
    hook = repo / ".git" / "hooks" / "pre-commit"
    hook.write_text("#!/bin/sh\necho 'lint failed: edited.py' >&2\nexit 1\n")
    hook.chmod(0o755)
    (repo / "edited.py").write_text("# edited\n")
    head = git(repo, "rev-parse", "HEAD")
    with pytest.raises(UserError, match="git commit failed: lint failed: edited.py"):
        GitRepo.at(repo).commit(["edited.py"], "Edit")
    assert git(repo, "rev-parse", "HEAD") == head


class Drafter:
    n_ctx = 512

    def __init__(self, answer: str):
        self.answer = answer
        self.asked = ""

    def count(self, messages):
        from opencoder_local.engine import ContextBudget

        return ContextBudget(sum(len(m.content) // 4 + 4 for m in messages), self.n_ctx)

    def stream(self, messages, params):
        from opencoder_local.engine import Delta

        self.asked = messages[-1].content
        yield Delta(self.answer)


def test_a_drafted_message_is_one_line_from_a_diff_cut_to_the_window(repo):
    (repo / "edited.py").write_text("".join(f"line_{i} = {i}\n" for i in range(2000)))
    diff = GitRepo.at(repo).diff(["edited.py"])
    engine = Drafter("```\nSubject: Add two thousand lines to edited.py\n```\n\nThis adds lines.")
    assert draft_commit_message(engine, diff) == "Add two thousand lines to edited.py"
    assert "+line_0 = 0" in engine.asked and "[rest of the diff left out]" in engine.asked
    assert engine.count([type("M", (), {"content": engine.asked})()]).prompt_tokens <= engine.n_ctx
    assert _subject('"Fix it"') == "Fix it" and _subject("```\n```") == ""
