"""The working set on real files in temporary folders: adding, guards, .gitignore, ranges, refresh."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from opencoder_local.context.working_set import MAX_FILES, WorkingSet


def words(text: str) -> int:
    """A stand-in counter: one token per whitespace-separated word."""
    return len(text.split())


@pytest.fixture
def project(tmp_path):
    root = tmp_path / "project"
    (root / "src" / "pkg").mkdir(parents=True)
    (root / "src" / "app.py").write_text("import pkg\n\nprint('app')\n")
    (root / "src" / "pkg" / "util.py").write_text("def util():\n    return 1\n")
    (root / "README.md").write_text("# Project\n")
    return root


def paths(result) -> list[str]:
    return [entry.path for entry in result.added]


def test_files_folders_and_globs_are_added_relative_to_the_project(project):
    ws = WorkingSet(project, words)
    result = ws.add(["README.md", "src/**/*.py"])
    assert paths(result) == ["README.md", "src/app.py", "src/pkg/util.py"] and not result.refused
    assert ws.entries()[1].text == "import pkg\n\nprint('app')\n" and ws.entries()[1].state == "current"
    assert ws.entries()[1].tokens == words(ws.block(ws.entries()[1]))
    assert ws.add(["src"]).notices == ["src: already in the working set"]
    assert ws.specs() == ["README.md", "src/app.py", "src/pkg/util.py"]


def test_the_block_is_a_fence_with_path_range_and_language(project):
    (project / "notes.md").write_text("```python\nx = 1\n```\n")
    ws = WorkingSet(project)
    ws.add(["src/app.py:3-3", "notes.md"])
    app, notes = ws.entries()
    assert app.lines == (3, 3) and app.text == "print('app')\n"
    assert ws.block(app) == "File `src/app.py` (lines 3-3):\n```python\nprint('app')\n```"
    assert ws.block(notes).startswith("File `notes.md`:\n````markdown\n```python\n")  # a longer fence
    assert ws.message().startswith("The user's project files as they are on disk now.")
    assert ws.entries()[0].tokens == 0  # no counter yet
    ws.set_counter(words)
    assert ws.entries()[0].tokens == words(ws.block(ws.entries()[0]))


def test_each_guard_is_a_refusal_with_a_reason(project, tmp_path):
    (project / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    (project / "latin.txt").write_bytes("caf\xe9\n".encode("latin-1"))
    (project / "dangling").symlink_to(project / "gone.py")
    (project / "loop_a").symlink_to(project / "loop_b")
    (project / "loop_b").symlink_to(project / "loop_a")
    secret = project / "secret.py"
    secret.write_text("x = 1\n")
    secret.chmod(0)
    os.mkfifo(project / "pipe")
    ws = WorkingSet(project, words)
    result = ws.add(["logo.png", "latin.txt", "dangling", "loop_a", "secret.py", "pipe", "missing.py",
                     "src/app.py:5-2", "src/app.py:40-50", "~nosuchuser/x.py", " "])
    reasons = dict(result.refused)
    assert "binary" in reasons["logo.png"]
    assert "broken symlink" in reasons["dangling"]
    assert "symlink loop" in reasons["loop_a"]
    if os.geteuid() != 0:  # root reads anything
        assert "Permission denied" in reasons["secret.py"]
    assert "not a regular file" in reasons["pipe"]
    assert reasons["missing.py"] == "no such file"
    assert "bad line range" in reasons["src/app.py:5-2"]
    assert "no lines 40-50" in reasons["src/app.py:40-50"]
    assert "nosuchuser" in reasons["~nosuchuser/x.py"]
    assert reasons[" "] == "no path given"
    assert paths(result) == ["latin.txt"] + ([] if os.geteuid() != 0 else ["secret.py"])
    assert ws.entries()[0].text == "caf\ufffd\n" and "not UTF-8" in ws.entries()[0].warning
    assert "latin.txt: not UTF-8: decoded with replacement characters" in result.notices
    assert all("\n" not in reason for _spec, reason in result.refused)


def test_a_file_too_large_is_refused_from_its_size_before_it_is_read(project):
    big = project / "big.log"
    big.write_text("word " * 200_000)  # 1 MB
    os.chmod(big, 0o200)  # write-only: reading it would fail, so a refusal by size proves it was not read
    ws = WorkingSet(project, words)
    (spec, reason), = ws.add(["big.log"], free_tokens=1_000).refused
    assert spec == "big.log" and "1,000,000 bytes" in reason and "1,000 free" in reason
    assert "add a line range (big.log:START-END)" in reason


def test_a_file_that_does_not_fit_is_refused_with_its_cost_what_is_free_and_a_range_that_fits(project):
    (project / "long.py").write_text("".join(f"x{i} = {i}\n" for i in range(100)))
    ws = WorkingSet(project, words)
    (spec, reason), = ws.add(["long.py"], free_tokens=150).refused
    cost = words(ws.block(_entry(project, "long.py")))
    assert reason.startswith(f"{cost:,} tokens, 150 free: add a line range such as long.py:1-")
    assert ws.add(["long.py:1-40"], free_tokens=150).added
    (spec, reason), = ws.add(["src"], free_tokens=5).refused
    assert reason.startswith("2 files, ") and "5 free: add fewer files or line ranges" in reason


def _entry(root, name):
    return WorkingSet(root).add([name]).added[0]


def test_a_folder_of_thousands_of_files_is_capped_with_a_notice(tmp_path):
    many = tmp_path / "many"
    many.mkdir()
    for i in range(MAX_FILES + 700):
        (many / f"f{i:04}.txt").write_text(f"{i}\n")
    ws = WorkingSet(tmp_path)
    result = ws.add(["many"])
    assert len(result.added) == MAX_FILES and result.added[0].path == "many/f0000.txt"
    assert result.notices == [f"many: {MAX_FILES + 700:,} files, added the first {MAX_FILES}"]


def test_a_capped_folder_that_does_not_fit_is_refused_without_saying_it_was_added(tmp_path):
    many = tmp_path / "many"
    many.mkdir()
    for i in range(MAX_FILES + 700):
        (many / f"f{i:04}.txt").write_text(f"{i}\n")
    result = WorkingSet(tmp_path, count=len).add(["many"], free_tokens=100)
    assert result.added == [] and result.notices == []
    [(spec, reason)] = result.refused
    assert spec == "many" and "100 free" in reason and f"of {MAX_FILES + 700:,} files, the first {MAX_FILES}" in reason


def _ignore_tree(root):
    (root / ".gitignore").write_text("build/\n*.log\n!keep.log\n")
    (root / "src" / ".gitignore").write_text("generated.py\n")
    (root / "src" / "generated.py").write_text("x = 1\n")
    (root / "build").mkdir()
    (root / "build" / "out.py").write_text("x = 1\n")
    (root / "debug.log").write_text("noise\n")
    (root / "keep.log").write_text("kept\n")
    (root / "node_modules" / "lib").mkdir(parents=True)
    (root / "node_modules" / "lib" / "index.js").write_text("x\n")
    (root / ".hidden").mkdir()
    (root / ".hidden" / "a.py").write_text("x\n")
    (root / ".env").write_text("TOKEN=1\n")
    (root / "venv" / "lib").mkdir(parents=True)
    (root / "venv" / "pyvenv.cfg").write_text("home = /usr\n")
    (root / "venv" / "lib" / "site.py").write_text("x\n")
    (root / "env2").mkdir()
    (root / "env2" / "pyvenv.cfg").write_text("home = /usr\n")
    (root / "env2" / "tool.py").write_text("x\n")


EXPECTED = ["README.md", "keep.log", "src/app.py", "src/pkg/util.py"]


@pytest.mark.parametrize("with_git", [False, True], ids=["pathspec", "git"])
def test_folders_and_globs_honour_gitignore_and_skip_hidden_and_vendored_folders(project, with_git):
    _ignore_tree(project)
    if with_git:
        if shutil.which("git") is None:
            pytest.skip("git is not installed")
        subprocess.run(["git", "init", "-q", str(project)], check=True)
        subprocess.run(["git", "-C", str(project), "add", "src/app.py"], check=True)  # cached and untracked both listed
    ws = WorkingSet(project)
    assert paths(ws.add(["."])) == EXPECTED
    ws.drop()
    assert paths(ws.add(["**/*.py"])) == ["src/app.py", "src/pkg/util.py"]
    explicit = ws.add(["src/generated.py", "build/out.py", ".env"])
    assert paths(explicit) == ["src/generated.py", "build/out.py", ".env"]  # named explicitly: added


def test_paths_outside_the_project_are_shown_absolute(project, tmp_path):
    outside = tmp_path / "elsewhere.py"
    outside.write_text("y = 2\n")
    ws = WorkingSet(project)
    assert paths(ws.add([str(outside), "../elsewhere.py"])) == [outside.as_posix()]
    assert ws.specs() == [outside.as_posix()]
    assert "must be relative" in ws.add(["../*.py"]).refused[0][1]


def test_drop_by_path_range_folder_glob_and_all(project):
    ws = WorkingSet(project)
    ws.add(["README.md", "src", "src/app.py:1-2"])
    assert ws.drop("src/app.py:1-2") == ["src/app.py:1-2"]
    assert ws.drop("*.md") == ["README.md"]
    assert ws.drop("src/pkg") == ["src/pkg/util.py"]
    assert ws.drop("nothing.py") == []
    assert ws.drop() == ["src/app.py"] and ws.entries() == []


def test_refresh_marks_changed_missing_and_back_and_orders_least_recently_changed_first(project):
    ws = WorkingSet(project, words)
    ws.add(["src/app.py", "src/pkg/util.py", "README.md"])
    app = project / "src" / "app.py"
    assert ws.refresh([app]) == []  # nothing changed on disk
    app.write_text("print('new')\n")
    (changed,) = ws.refresh([app])
    assert changed.text == "print('new')\n" and changed.state == "current"  # never answered: nothing is stale
    ws.mark_answered()
    app.write_text("print('newer')\n")
    (changed,) = ws.refresh([app])
    assert changed.state == "changed" and changed.tokens == words(ws.block(changed))
    assert [e.path for e in ws.entries()] == ["src/pkg/util.py", "README.md", "src/app.py"]
    ws.mark_answered()
    assert {e.state for e in ws.entries()} == {"current"}
    app.unlink()
    (gone,) = ws.refresh([app])
    assert gone.state == "missing" and gone.text == "" and gone.tokens == 0 and ws.block(gone) == ""
    assert "src/app.py" not in ws.message()
    app.write_text("print('newer')\n")
    (back,) = ws.refresh([app])
    assert back.state == "current" and back.text == "print('newer')\n"  # as the model last saw it


def test_a_symlinked_file_is_refreshed_through_its_target(project):
    (project / "link.py").symlink_to(project / "src" / "app.py")
    ws = WorkingSet(project)
    ws.add(["link.py"])
    assert project / "src" / "app.py" in ws.watched_paths() and project / "link.py" in ws.watched_paths()
    (project / "src" / "app.py").write_text("changed\n")
    (entry,) = ws.refresh([project / "src" / "app.py"])
    assert entry.path == "link.py" and entry.text == "changed\n"


def test_restore_keeps_missing_files_and_the_order(project):
    ws = WorkingSet(project)
    result = ws.restore(["src/pkg/util.py", "gone.py", "src/app.py:1-1"])
    assert [(e.spec, e.state) for e in ws.entries()] == [
        ("src/pkg/util.py", "current"), ("gone.py", "missing"), ("src/app.py:1-1", "current")]
    assert not result.refused and ws.specs() == ["src/pkg/util.py", "gone.py", "src/app.py:1-1"]


def test_completions_match_fuzzily_best_first(project):
    ws = WorkingSet(project)
    assert ws.completions("util")[0] == "src/pkg/util.py"
    assert ws.completions("sap") == ["src/app.py"]
    assert ws.completions("") == ["README.md", "src/app.py", "src/pkg/util.py"]
    assert ws.completions("zzz") == []
    assert len(ws.completions("", limit=2)) == 2


@pytest.fixture
def secret(tmp_path):
    outside = tmp_path / "secret" / "notes.md"
    outside.parent.mkdir()
    outside.write_text("the password is hunter2\n")
    return outside


@pytest.mark.parametrize("git", [False, True], ids=["walked", "git ls-files"])
def test_a_folder_or_glob_skips_symlinks_that_leave_the_project(project, secret, git):
    (project / "docs").mkdir()
    (project / "docs" / "notes.md").symlink_to(secret)
    (project / ".hidden").mkdir()
    (project / ".hidden" / "kept.md").write_text("kept\n")
    (project / "docs" / "readme.md").symlink_to(project / ".hidden" / "kept.md")  # it stays inside: kept
    if git:
        if shutil.which("git") is None:
            pytest.skip("git is not installed")
        subprocess.run(["git", "init", "-q", str(project)], check=True)
    ws = WorkingSet(project)
    for spec in (".", "docs", "docs/*.md"):
        ws.drop()
        result = ws.add([spec])
        assert "docs/notes.md" not in paths(result) and "docs/readme.md" in paths(result)
        assert f"{spec}: skipped 1 symlink leading outside the project" in " ".join(result.notices)
    assert "hunter2" not in ws.message()


def test_a_symlink_that_leaves_the_project_named_alone_is_shown_by_its_real_path(project, secret):
    (project / "link.txt").symlink_to(secret)
    (project / "docs").symlink_to(secret.parent)
    ws = WorkingSet(project)
    result = ws.add(["link.txt", "docs/notes.md"])
    assert paths(result) == [secret.as_posix()]  # the same file, added once
    ws.drop()
    assert paths(ws.add(["docs"])) == [secret.as_posix()]  # a linked folder: listed where it really is
    assert f"File `{secret.as_posix()}`" in ws.message() and "link.txt" not in ws.message()


def test_an_attached_link_retargeted_outside_the_project_goes_missing(project, secret):
    link = project / "link.md"
    link.symlink_to(project / "README.md")
    ws = WorkingSet(project)
    ws.add(["link.md"])
    link.unlink()
    link.symlink_to(secret)
    (entry,) = ws.refresh([link])
    assert entry.path == "link.md" and entry.state == "missing" and "outside the project" in entry.warning
    assert "hunter2" not in ws.message()


@pytest.mark.parametrize("name", [b"bad\xff.py", b"new\nline.py", b"esc\x1b[2J.py", b"bell\x07.py"],
                         ids=["not UTF-8", "newline", "ANSI escape", "BEL"])
def test_a_name_that_cannot_be_sent_is_skipped_in_folders_and_refused_alone(project, name):
    (project / os.fsdecode(name)).write_text("x = 1\n")
    ws = WorkingSet(project)
    result = ws.add(["."])
    assert len(result.added) == 3 and all(entry.path.isprintable() for entry in result.added)
    assert ".: skipped 1 file whose name is not UTF-8 text or holds control characters" in result.notices[0]
    ws.message().encode("utf-8")  # what the model is sent can be encoded
    assert os.fsdecode(name) not in ws.completions("")
    [(spec, reason)] = ws.add([os.fsdecode(name)]).refused
    assert "its name is not UTF-8 text or holds control characters" in reason



PATHOLOGICAL = "a*a*a*a*a*a*a*a*a*a*a*a*b"


def test_a_pathological_gitignore_pattern_is_matched_in_bounded_time(tmp_path):
    """pathspec's own regex backtracks for minutes on this name; the rewritten one answers at once."""
    root = tmp_path / "project"
    root.mkdir()
    (root / ".gitignore").write_text(PATHOLOGICAL + "\n")
    (root / ("a" * 60)).write_text("x\n")
    (root / ("a" * 59 + "b")).write_text("ignored\n")
    script = ("import sys; from pathlib import Path; from opencoder_local.context.working_set import WorkingSet; "
              "ws = WorkingSet(Path(sys.argv[1])); print([e.path for e in ws.add(['.']).added]); "
              f"print(ws.add(['*{PATHOLOGICAL}']).refused[0][1])")
    done = subprocess.run([sys.executable, "-c", script, str(root)], capture_output=True, text=True, timeout=30)
    assert done.stdout.splitlines() == [f"['{'a' * 60}']", "no text files to add (hidden, ignored by .gitignore, "
                                                          "or none there)"], done.stderr


def test_a_gitignore_of_many_double_stars_is_matched_in_bounded_time(tmp_path):
    """Eight `**` on a path sixty folders deep: pathspec's own regex tries every split of the path."""
    from opencoder_local.context.project_files import is_ignored

    root = tmp_path / "project"
    deep = root.joinpath(*["a"] * 60)
    deep.mkdir(parents=True)
    (root / ".gitignore").write_text("a/**/a/**/a/**/a/**/a/**/a/**/a/**/a/**/b\n")
    script = ("import sys; from pathlib import Path; from opencoder_local.context.project_files import is_ignored; "
              "print(is_ignored(Path(sys.argv[1]), '/'.join(['a'] * 60) + '/x'), "
              "is_ignored(Path(sys.argv[1]), '/'.join(['a'] * 60) + '/b'))")
    done = subprocess.run([sys.executable, "-c", script, str(root)], capture_output=True, text=True, timeout=30)
    assert done.stdout.split() == ["False", "True"], done.stderr


def test_the_rewritten_patterns_match_exactly_what_pathspecs_own_do():
    import random
    import re

    from pathspec.patterns.gitignore.spec import GitIgnoreSpecPattern

    from opencoder_local.context.project_files import linear_regex

    chance = random.Random(19)
    for pattern in ["a*a*a*b", "x?[a-c]*.py", "**/f*o*o/", "[]]*x*y", "a**b", "src/**/x*y*z", "/a*b/*c*d/e",
                    "*a*", r"\**x*y", "[!a]*b*c", "*.py", PATHOLOGICAL, "a/**/b/**/c", "**/a/**/a*b/**/c/**",
                    "a/**/b/c/**/c", "**/a/**/a/**/b", "x/**/a*/**/y?/**/z", "a/**/a/**/a/**/a/**/a/**/a/**/b"]:
        regex, _include = GitIgnoreSpecPattern.pattern_to_regex(pattern)
        theirs, ours = re.compile(regex), re.compile(linear_regex(regex))
        for _ in range(2000):
            name = "".join(chance.choice("ab/.cxyz") for _ in range(chance.randint(0, 14)))
            if "**" in pattern and chance.random() < 0.5:  # paths of whole names, as the double stars see them
                name = "/".join(chance.choice(["a", "b", "c", "ab", "x", "y", "z", "ya"]) for _ in range(chance.randint(1, 9)))
            assert bool(theirs.match(name)) == bool(ours.match(name)), (pattern, name)
