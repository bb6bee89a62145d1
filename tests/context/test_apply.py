"""Writing proposed edits into a real project folder: the path rules, atomic writes that keep the
file's permissions and line ends, no overwrite of a file changed since its diff, and undo from the
store across a restart."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess

import pytest

from opencoder_local.context.apply import ChangedSinceApplied, EditRefused, check_target, plan, restore, write
from opencoder_local.context.edits import ProposedEdit, Replacement
from opencoder_local.context.session import ChatSession
from opencoder_local.engine.protocol import GenParams
from opencoder_local.files import FileWriteError
from opencoder_local.store import Store

CALC = "def add(a, b):\n    return a + b\n"
TYPED = "def add(a: int, b: int) -> int:\n    return a + b\n"


@pytest.fixture
def project(tmp_path):
    root = tmp_path / "project"
    (root / "src").mkdir(parents=True)
    (root / "src" / "calc.py").write_text(CALC)
    return root


def whole(path: str, text: str = TYPED) -> ProposedEdit:
    return ProposedEdit(path, text)


def apply_all(root, *edits):
    return write([(change, change.new) for change in (plan(root, edit) for edit in edits)])


def test_an_edit_is_written_atomically_and_keeps_the_files_mode(project):
    target = project / "src" / "calc.py"
    target.chmod(0o754)
    inode = target.stat().st_ino
    change = plan(project, whole("src/calc.py"))
    assert (change.path, change.before, change.diff.added, change.diff.removed) == ("src/calc.py", CALC.encode(), 1, 1)
    result = write([(change, change.new)])
    assert target.read_text() == TYPED
    assert stat.S_IMODE(target.stat().st_mode) == 0o754
    assert target.stat().st_ino != inode  # a new file renamed over the old one, never rewritten in place
    assert sorted(p.name for p in target.parent.iterdir()) == ["calc.py"]  # no temporary file left
    [written] = result.written
    assert (written.path, written.before, written.after) == (str(target), CALC.encode(), TYPED.encode())


def test_crlf_line_ends_and_a_bom_stay_as_the_file_had_them(project):
    target = project / "src" / "calc.py"
    target.write_bytes(b"\xef\xbb\xbf" + CALC.replace("\n", "\r\n").encode())
    edit = ProposedEdit("src/calc.py", replacements=(Replacement(["def add(a, b):"], ["def add(a: int, b: int) -> int:"]),))
    change = plan(project, edit)
    assert change.crlf and change.bom and change.diff.added == 1  # the diff is of the text, not of the line ends
    write([(change, change.new)])
    assert target.read_bytes() == b"\xef\xbb\xbf" + TYPED.replace("\n", "\r\n").encode()


@pytest.mark.parametrize("path, reason", [
    ("../outside.py", "outside the project folder"),
    ("/etc/passwd", "outside the project folder"),
    ("~/.bashrc", "outside the project folder"),
    ("src/../../outside.py", "outside the project folder"),
    (".git/config", "inside .git/"),
    ("src/.git/hooks/pre-commit", "inside .git/"),
])
def test_paths_that_leave_the_project_or_point_into_git_are_refused(project, path, reason):
    with pytest.raises(EditRefused, match=reason):
        plan(project, whole(path))
    assert not (project.parent / "outside.py").exists()


def test_a_symlink_to_outside_the_project_is_refused(project, tmp_path):
    (tmp_path / "elsewhere").mkdir()
    (project / "link").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(EditRefused, match="symlink to outside"):
        plan(project, whole("link/evil.py"))


def test_gitignored_paths_are_refused_in_a_repository_and_outside_one(project):
    (project / ".gitignore").write_text("build/\n*.log\n")
    for root_is_repo in (False, True):
        if root_is_repo:
            if shutil.which("git") is None:
                pytest.skip("git is not installed")
            subprocess.run(["git", "init", "-q", str(project)], check=True)
        for path in ("build/out.py", "debug.log"):
            with pytest.raises(EditRefused, match="ignored by .gitignore"):
                check_target(project, path)
        assert check_target(project, "src/new.py") == project / "src" / "new.py"


def test_in_a_repository_a_tracked_file_is_not_ignored_and_info_exclude_counts(project):
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    subprocess.run(["git", "init", "-q", str(project)], check=True)
    (project / ".gitignore").write_text("*.cfg\n")
    (project / "settings.cfg").write_text("a = 1\n")
    subprocess.run(["git", "-C", str(project), "add", "-f", "settings.cfg"], check=True)
    assert check_target(project, "settings.cfg") == project / "settings.cfg"  # git tracks it: not ignored
    with pytest.raises(EditRefused, match="ignored"):
        check_target(project, "other.cfg")
    (project / ".git" / "info" / "exclude").write_text("secret.txt\n")
    with pytest.raises(EditRefused, match="ignored"):
        check_target(project, "secret.txt")


def test_a_new_file_and_its_folders_are_created(project):
    change = plan(project, whole("tests/unit/test_calc.py", "from calc import add\n"))
    assert change.is_new and change.diff.added == 1
    assert change.diff.unified(change.path, new_file=True).startswith("--- /dev/null\n+++ b/tests/unit/test_calc.py")
    write([(change, change.new)])
    assert (project / "tests" / "unit" / "test_calc.py").read_text() == "from calc import add\n"


def test_a_file_changed_on_disk_since_its_diff_is_not_overwritten(project):
    target = project / "src" / "calc.py"
    change = plan(project, whole("src/calc.py"))
    target.write_text(CALC + "\n# edited meanwhile\n")
    result = write([(change, change.new)])
    assert result.stale == [change] and result.written == []
    assert target.read_text().endswith("# edited meanwhile\n")
    fresh = plan(project, whole("src/calc.py"))  # the new diff, against the file as it is now
    assert fresh.diff.removed == 3 and write([(fresh, fresh.new)]).written


def test_a_file_created_meanwhile_is_not_overwritten_by_a_new_file_edit(project):
    change = plan(project, whole("new.py", "A = 1\n"))
    (project / "new.py").write_text("mine\n")
    assert write([(change, change.new)]).stale == [change]
    assert (project / "new.py").read_text() == "mine\n"


def test_undo_restores_the_exact_bytes_and_removes_created_files(project):
    target = project / "src" / "calc.py"
    target.write_bytes(b"def add(a, b):\r\n    return a + b")  # CRLF, no final newline
    result = apply_all(project, whole("src/calc.py"), whole("src/new.py", "B = 2\n"))
    assert len(result.written) == 2
    restore(result.written)
    assert target.read_bytes() == b"def add(a, b):\r\n    return a + b"
    assert not (project / "src" / "new.py").exists()


def test_undo_asks_before_losing_later_changes(project):
    target = project / "src" / "calc.py"
    written = apply_all(project, whole("src/calc.py")).written
    target.write_text(TYPED + "# more\n")
    with pytest.raises(ChangedSinceApplied) as changed:
        restore(written)
    assert changed.value.paths == [str(target)] and target.read_text().endswith("# more\n")
    restore(written, force=True)
    assert target.read_text() == CALC


def test_undo_anyway_never_writes_through_a_link_put_in_the_file_s_place(project, tmp_path):
    target = project / "src" / "calc.py"
    written = apply_all(project, whole("src/calc.py")).written
    elsewhere = tmp_path / "elsewhere.txt"
    elsewhere.write_text("not the project's\n")
    target.unlink()
    target.symlink_to(elsewhere)  # the file is now a link out of the project
    with pytest.raises(FileWriteError):
        restore(written, force=True, root=project)
    assert elsewhere.read_text() == "not the project's\n" and target.is_symlink()


def test_undo_after_a_restart_from_the_store(project, tmp_path):
    db = tmp_path / "chats.db"
    session = ChatSession(Store.open(db), GenParams(), project=project)
    session.add_user("add type hints")
    message = session.store.add_message(session.conversation.id, "assistant", f"src/calc.py\n```python\n{TYPED}```\n")
    [edit] = session.proposed_edits(message.content)
    change = session.plan_edit(edit)
    session.apply_edits(message.id, [(change, change.new)])
    conversation = session.conversation.id
    session.store.close()

    again = ChatSession(Store.open(db), GenParams(), project=project)
    assert again.open(conversation)
    [applied] = again.applied_edits()
    assert applied.message_id == message.id and applied.undone is None
    assert again.last_applied_edit() == applied
    again.undo_edit(applied)
    assert (project / "src" / "calc.py").read_text() == CALC
    assert again.last_applied_edit() is None and again.applied_edits()[0].undone is not None
    again.store.close()


def test_files_that_cannot_be_edited_are_refused_with_a_reason(project):
    (project / "blob.bin").write_bytes(b"\x00\x01binary")
    (project / "latin.txt").write_bytes("café".encode("latin-1"))
    (project / "folder").mkdir()
    for path, reason in (("blob.bin", "binary"), ("latin.txt", "not UTF-8"), ("folder", "folder")):
        with pytest.raises(EditRefused, match=reason):
            plan(project, whole(path))
    if hasattr(os, "mkfifo"):
        os.mkfifo(project / "pipe")
        with pytest.raises(EditRefused, match="pipe"):
            plan(project, whole("pipe"))


def test_a_line_range_is_never_the_only_file_an_untied_block_goes_to(project):
    session = ChatSession(Store.open(":memory:"), GenParams(), project=project)
    block = "Here:\n\n```python\nX = 1\n```\n"
    session.working_set.add(["src/calc.py:1-1"])  # the model saw one line: a whole-file block would cut the rest
    assert session.proposed_edits(block) == []
    session.working_set.drop()
    session.working_set.add(["src/calc.py"])
    assert [edit.path for edit in session.proposed_edits(block)] == ["src/calc.py"]


def test_mixed_line_ends_change_only_on_the_lines_replaced(project):
    target = project / "src" / "mixed.py"
    target.write_bytes(b"a = 1\r\nb = 2\nc = 3\r\nd = 4\ne = 5")
    edit = ProposedEdit("src/mixed.py", replacements=(
        Replacement(["b = 2"], ["b = 20", "bb = 21"]), Replacement(["d = 4"], ["d = 40"]),
        Replacement(["e = 5"], ["e = 50"])))
    apply_all(project, edit)
    assert target.read_bytes() == b"a = 1\r\nb = 20\nbb = 21\nc = 3\r\nd = 40\ne = 50"


def test_a_whole_file_for_a_mixed_file_keeps_each_unchanged_lines_end(project):
    target = project / "src" / "mixed.py"
    target.write_bytes(b"one\r\ntwo\nthree\r\n")
    apply_all(project, whole("src/mixed.py", "zero\none\ntwo\nthree\nfour\n"))
    assert target.read_bytes() == b"zero\r\none\r\ntwo\nthree\r\nfour\r\n"


def test_an_ambiguous_search_block_is_refused_so_the_model_can_be_asked_again(project):
    target = project / "src" / "calc.py"
    target.write_text(CALC + "\n\ndef mul(a, b):\n    return a + b\n")
    edit = ProposedEdit("src/calc.py", replacements=(Replacement(["    return a + b"], ["    return a * b"]),))
    with pytest.raises(EditRefused, match="matches 2 places") as refused:
        plan(project, edit)
    assert refused.value.ask_again and refused.value.block == 1


@pytest.fixture
def outside(tmp_path):
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "calc.py").write_text(CALC)
    return folder


def test_a_folder_swapped_for_a_symlink_after_the_diff_is_refused_at_the_write(project, outside):
    change = plan(project, whole("src/calc.py"))
    shutil.rmtree(project / "src")
    (project / "src").symlink_to(outside)  # while the y/N question waits
    result = write([(change, change.new)])
    assert result.failed == [("src/calc.py", "src/calc.py: a symlink to outside the project folder "
                              f"{project}")] and not result.written
    assert (outside / "calc.py").read_text() == CALC


def test_the_write_itself_never_follows_a_folder_turned_symlink(project, outside):
    """The race after the rules are checked again: the write walks the folders with O_NOFOLLOW."""
    from opencoder_local.files import FileWriteError, write_inside

    real_realpath = os.path.realpath

    def swap_then_resolve(path, *args, **kwargs):
        resolved = real_realpath(path, *args, **kwargs)
        if str(path).endswith("calc.py") and not (project / "src").is_symlink():  # just after it resolved
            shutil.rmtree(project / "src")
            (project / "src").symlink_to(outside)
        return resolved

    os.path.realpath = swap_then_resolve
    try:
        with pytest.raises(FileWriteError, match="src changed into a symlink"):
            write_inside(project, project / "src" / "calc.py", b"x = 1\n")
    finally:
        os.path.realpath = real_realpath
    assert (outside / "calc.py").read_text() == CALC and sorted(os.listdir(outside)) == ["calc.py"]


def test_a_new_file_in_new_folders_is_written_inside_the_project(project):
    apply_all(project, whole("pkg/sub/new.py", "X = 1\n"))
    assert (project / "pkg" / "sub" / "new.py").read_text() == "X = 1\n"
    assert sorted(os.listdir(project / "pkg" / "sub")) == ["new.py"]
