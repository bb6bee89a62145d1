"""User paths and the one atomic write: regular files only, permissions kept, nothing left behind."""

from __future__ import annotations

import os
import re
import socket
import stat
from pathlib import Path

import pytest

from opencoder_local.files import FileWriteError, PathError, atomic_path, user_path, write_atomic


def test_user_path_expands_home_and_refuses_what_cannot_be_a_path(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    assert user_path("~/x.md") == tmp_path / "x.md"
    with pytest.raises(PathError, match="no home folder known for nosuchuser"):
        user_path("~nosuchuser/x.gguf")
    with pytest.raises(PathError, match="NUL"):
        user_path("a\0b")
    with pytest.raises(PathError, match="cannot be encoded"):
        user_path("bad\ud800name")


@pytest.mark.parametrize("text, said", [
    ("/tmp/" + "m" * 300 + ".gguf", "a name in it has 305 bytes, at most 255"),
    ("é" * 128, "a name in it has 256 bytes"),  # bytes, not characters
    ("/".join(["d" * 200] * 25) + "/x.gguf", "5,031 bytes, at most 4,096"),
], ids=["a 300-byte name", "128 two-byte characters", "a 5,031-byte path"])
def test_a_path_longer_than_a_file_system_takes_is_one_line(text, said):
    with pytest.raises(PathError, match=said) as refused:
        user_path(text)
    assert str(refused.value).startswith("the path is too long") and len(str(refused.value)) < 200
    assert user_path("x" * 255).name == "x" * 255


def test_a_new_file_gets_normal_permissions_and_a_replaced_one_keeps_its_own(tmp_path):
    umask = os.umask(0o022)
    try:
        fresh = tmp_path / "fresh.md"
        write_atomic(fresh, "new\n")
        assert stat.S_IMODE(fresh.stat().st_mode) == 0o644
        script = tmp_path / "run.sh"
        script.write_text("old\n")
        script.chmod(0o750)
        write_atomic(script, "echo new\n")
        assert script.read_text() == "echo new\n" and stat.S_IMODE(script.stat().st_mode) == 0o750
    finally:
        os.umask(umask)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fresh.md", "run.sh"]


def test_a_symlink_to_a_file_is_followed_and_kept(tmp_path):
    real = tmp_path / "real.txt"
    real.write_text("old")
    link = tmp_path / "link.txt"
    link.symlink_to(real)
    write_atomic(link, "new")
    assert link.is_symlink() and real.read_text() == "new"


def _fifo(folder: Path) -> Path:
    path = folder / "fifo"
    os.mkfifo(path)
    return path


def _socket(folder: Path) -> Path:
    path = folder / "sock"
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    server.close()  # the socket file stays
    return path


def _symlink_to_fifo(folder: Path) -> Path:
    link = folder / "link"
    link.symlink_to(_fifo(folder))
    return link


@pytest.mark.parametrize(
    "make, kind",
    [
        (_fifo, "a named pipe (FIFO)"),
        (_socket, "a socket"),
        (lambda folder: folder, "a folder"),
        (_symlink_to_fifo, "a named pipe (FIFO)"),
    ],
)
def test_anything_but_a_regular_file_is_refused_before_the_work(tmp_path, make, kind):
    folder = tmp_path / "d"
    folder.mkdir()
    target = make(folder)
    before = sorted(os.listdir(folder))
    worked = []
    with pytest.raises(FileWriteError, match=re.escape(f"it is {kind}, not a regular file")):
        with atomic_path(target):
            worked.append(True)
    assert not worked and sorted(os.listdir(folder)) == before
    assert not stat.S_ISREG(os.stat(target).st_mode)


def test_a_target_that_turns_into_a_fifo_while_writing_is_not_replaced(tmp_path):
    target = tmp_path / "out"
    with pytest.raises(FileWriteError, match="named pipe"):
        with atomic_path(target) as tmp:
            tmp.write_text("data")
            os.mkfifo(target)
    assert stat.S_ISFIFO(os.stat(target).st_mode) and os.listdir(tmp_path) == ["out"]


def test_a_failed_write_leaves_nothing_and_says_so_in_one_line(tmp_path):
    with pytest.raises(FileWriteError, match="cannot write .*No such file or directory"):
        write_atomic(tmp_path / "missing" / "x.md", "x")
    with pytest.raises(KeyboardInterrupt):
        with atomic_path(tmp_path / "x.md") as tmp:
            tmp.write_text("half")
            raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []
