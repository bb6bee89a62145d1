"""Hostile paths, file names and edits (issue 19: row 1, row 4 and classes B, C, D, I, J, K), one row a case.

The first table runs the real command-line programs (`--show-prompt` reads only the demo model's
vocabulary, no weights); the second feeds a scripted answer to the one-shot `--apply` step, as
`opencoder-chat -p ... -f ... --apply` would after the model answered; the third asks what a chat
message's @words attach; the last changes an attached file under the working set. Every row ends in
one clear line or notice: no traceback, nothing written outside the project, nothing lost.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest

from opencoder_local.context.one_shot import apply_answer
from opencoder_local.context.working_set import WorkingSet
from opencoder_local.tui.commands import file_mentions
from opencoder_local.tui.widgets.file_chips import chip

BIN = Path(sys.executable).parent
SECRET = "the password is hunter2"
LONG_NAME = "m" * 300
PATHOLOGICAL = "a*a*a*a*a*a*a*a*a*a*a*a*b"


class Project:
    """A fresh project folder for one row, a secret file outside it, and helpers to build hostile inputs."""

    def __init__(self, tmp_path: Path):
        self.root = tmp_path / "project"
        self.root.mkdir()
        (self.root / "a.py").write_text("def add(a, b):\n    return a + b\n")
        self.outside = tmp_path / "outside"
        self.outside.mkdir()
        self.secret = self.outside / "notes.md"
        self.secret.write_text(SECRET + "\n")

    def link(self, name: str, target: Path) -> Path:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.symlink_to(target)
        return path

    def file(self, name: str | bytes, text: str = "x = 1\n") -> Path:
        path = Path(os.fsdecode(self.root)) / os.fsdecode(name)
        path.write_text(text)
        return path


# 1. the real programs


@dataclass(frozen=True)
class Run:
    argv: list[str]
    code: int
    stderr: tuple[str, ...] = ()  # words the stderr must hold
    stdout: tuple[str, ...] = ()  # words the prompt (stdout) must hold
    absent: tuple[str, ...] = ()  # text neither may hold
    stdin: str = ""


def prompt(*files: str) -> list[str]:
    return ["opencoder-chat", "--model", "demo", "-p", "hi", "--show-prompt", *[a for f in files for a in ("-f", f)]]


RUNS: dict[str, Callable[[Project], Run]] = {
    # row 1: a path too long for the file system
    "--model with a 300-byte name": lambda p: Run(
        ["opencoder-chat", "--model", f"/tmp/{LONG_NAME}.gguf", "-p", "hi"], 1, ("the path is too long",)),
    "tokenize --model under a 5,000-byte folder name": lambda p: Run(
        ["opencoder", "tokenize", "--model", f"/tmp/{'l' * 5000}/x.gguf"], 1, ("the path is too long",), stdin="hi"),
    "--model with a 5,000-byte path of short names": lambda p: Run(
        ["opencoder-chat", "--model", "/tmp/" + "/".join(["d" * 200] * 25) + "/x.gguf", "-p", "hi"], 1,
        ("the path is too long",)),
    "-f with a 300-byte name": lambda p: Run(prompt(LONG_NAME + ".py"), 1, ("the path is too long",)),
    # B: a symlink to outside the project
    "-f . with a symlink to a file outside": lambda p: (p.link("docs/notes.md", p.secret), Run(
        prompt("."), 0, ("skipped 1 symlink leading outside the project",), ("File `a.py`",),
        (SECRET, "docs/notes.md")))[-1],
    "-f a glob with a symlink to a file outside": lambda p: (p.link("docs/notes.md", p.secret), p.file("docs/b.md"), Run(
        prompt("docs/*.md"), 0, ("skipped 1 symlink",), ("File `docs/b.md`",), (SECRET,)))[-1],
    "-f link.txt to a file outside": lambda p: (p.link("link.txt", p.secret), Run(
        prompt("link.txt"), 0, (), (f"File `{p.secret.as_posix()}`", SECRET), ("File `link.txt`",)))[-1],
    "-f a symlinked folder leading outside": lambda p: (p.link("docs", p.outside), Run(
        prompt("docs"), 0, (), (f"File `{p.secret.as_posix()}`",), ("File `docs/notes.md`",)))[-1],
    # C and the adversarial names: not UTF-8, a newline, an escape, markup
    "-f . beside a name that is not UTF-8": lambda p: (p.file(b"bad\xff.py"), Run(
        prompt("."), 0, ("skipped 1 file whose name is not UTF-8 text or holds control characters",),
        ("File `a.py`",), ("bad",)))[-1],
    "-f . beside names with a newline and an escape": lambda p: (p.file("new\nline.py"), p.file("esc\x1b]0;x\x07.py"), Run(
        prompt("."), 0, ("skipped 2 files whose name",), ("File `a.py`",), ("line.py", "\x1b")))[-1],
    "-f a name with Rich markup": lambda p: (p.file("[bold red]x.py"), Run(
        prompt("[bold red]x.py"), 0, (), ("File `[bold red]x.py`",)))[-1],
    # D: a pathological .gitignore
    "-f . beside a pathological .gitignore": lambda p: (p.file(".gitignore", PATHOLOGICAL + "\n"), p.file("a" * 60), Run(
        prompt("."), 0, (), (f"File `{'a' * 60}`", "File `a.py`")))[-1],
    "-f a pathological glob": lambda p: Run(prompt("*" + PATHOLOGICAL), 1, ("no text files to add",)),
}


@pytest.mark.parametrize("build", RUNS.values(), ids=RUNS.keys())
def test_the_programs_say_one_line_and_send_nothing_from_outside(build, tmp_path):
    project = Project(tmp_path)
    case = build(project)
    result = subprocess.run(
        [str(BIN / case.argv[0]), *case.argv[1:]], input=case.stdin, capture_output=True, text=True,
        errors="replace", timeout=120, cwd=project.root, env={**os.environ, "OPENCODER_HOME": str(tmp_path / "home")},
    )
    assert result.returncode == case.code, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    if case.code:
        [line] = result.stderr.splitlines()
        assert line.startswith(f"{case.argv[0]}: error: ") and len(line) < 400, line
    for word in case.stderr:
        assert word in result.stderr, result.stderr
    for word in case.stdout:
        assert word in result.stdout
    for text in case.absent:
        assert text not in result.stdout and text not in result.stderr


# 2. a scripted answer through the one-shot --apply


class Terminal(io.StringIO):
    """A terminal that answers the y/N question, doing `meanwhile` first (what another process does)."""

    def __init__(self, answer: str, meanwhile: Callable[[], None] = lambda: None):
        super().__init__(answer)
        self.meanwhile = meanwhile

    def isatty(self) -> bool:
        return True

    def readline(self, *args) -> str:
        self.meanwhile()
        return super().readline(*args)


@dataclass(frozen=True)
class Apply:
    answer: str
    files: list[str]
    code: int
    stderr: tuple[str, ...]
    after: dict[str, bytes]  # files (relative to the project) and the bytes they must hold
    terminal: Terminal | None = None  # None: --yes


TWICE = b"def add(a, b):\n    return a + b\n\n\ndef mul(a, b):\n    return a + b\n"
MIXED = b"one = 1\r\ntwo = 2\nthree = 3\r\nfour = 4\n"


def _swap_src_for_link(p: Project) -> Callable[[], None]:
    def swap() -> None:
        shutil.rmtree(p.root / "src")
        p.link("src", p.outside)
    return swap


def _ambiguous(p: Project) -> Apply:
    p.file("a.py", TWICE.decode())
    answer = "a.py\n```python\n<<<<<<< SEARCH\n    return a + b\n=======\n    return a * b\n>>>>>>> REPLACE\n```\n"
    return Apply(answer, ["a.py"], 1, ("not applied: a.py: SEARCH block 1 matches 2 places in the file (lines 2, 6)",),
                 {"a.py": TWICE})


def _mixed_line_ends(p: Project) -> Apply:
    (p.root / "m.py").write_bytes(MIXED)
    answer = "m.py\n```python\n<<<<<<< SEARCH\ntwo = 2\n=======\ntwo = 22\n>>>>>>> REPLACE\n```\n"
    return Apply(answer, ["m.py"], 0, ("wrote m.py",), {"m.py": MIXED.replace(b"two = 2\n", b"two = 22\n")})


def _another_files_block(p: Project) -> Apply:
    answer = "Here is the config:\n\n`secret.env`\n```\nAPI_KEY=hunter2\n```\n"
    return Apply(answer, ["a.py"], 1, ("the answer changes no file",), {"a.py": b"def add(a, b):\n    return a + b\n"})


def _swapped_while_asking(p: Project) -> Apply:
    (p.root / "src").mkdir()
    p.file("src/__init__.py")
    (p.outside / "__init__.py").write_text("outside = True\n")
    answer = "src/__init__.py\n```python\nx = 2\n```\n"
    return Apply(answer, ["src/__init__.py"], 1, ("not written: src/__init__.py", "outside the project folder"),
                 {"src/__init__.py": b"outside = True\n"}, Terminal("y\n", _swap_src_for_link(p)))


APPLIES: dict[str, Callable[[Project], Apply]] = {
    "row 4: a SEARCH block that matches two places": _ambiguous,
    "K: a file with mixed CRLF and LF line ends": _mixed_line_ends,
    "J: a block named secret.env with only a.py attached": _another_files_block,
    "I: the folder becomes a symlink outside while y/N waits": _swapped_while_asking,
}


@pytest.mark.parametrize("build", APPLIES.values(), ids=APPLIES.keys())
def test_a_scripted_answer_is_applied_only_where_it_may_be(build, tmp_path, monkeypatch, capsys):
    project = Project(tmp_path)
    case = build(project)
    outside_before = {path.name: path.read_bytes() for path in project.outside.iterdir()}
    if case.terminal is not None:
        monkeypatch.setattr(sys, "stdin", case.terminal)
    code = apply_answer(case.answer, project.root, case.files, yes=case.terminal is None).exit_code
    err = capsys.readouterr().err
    assert code == case.code, err
    for words in case.stderr:
        assert words in err, err
    for name, data in case.after.items():
        assert (project.root / name).read_bytes() == data
    assert {path.name: path.read_bytes() for path in project.outside.iterdir()} == outside_before


# 3. what a chat message's @words attach


MENTIONS: dict[str, Callable[[Project], tuple[str, list[str]]]] = {
    "@ an absolute path outside": lambda p: (f"read @{p.secret}", []),
    "@ ../ out of the project": lambda p: ("read @../outside/notes.md", []),
    "@ ~ a home path": lambda p: ("read @~/.bashrc", []),
    "@ a link leading outside": lambda p: (p.link("link.md", p.secret), ("read @link.md please", []))[-1],
    "@ a project file with a range and punctuation": lambda p: ("see @a.py:1-2, thanks", ["a.py:1-2"]),
    "@ a decorator stays text": lambda p: ("why @property here?", []),
}


@pytest.mark.parametrize("build", MENTIONS.values(), ids=MENTIONS.keys())
def test_at_words_attach_project_files_only(build, tmp_path):
    project = Project(tmp_path)
    text, expected = build(project)
    assert file_mentions(text, project.root) == expected


# 4. an attached file that changes under the working set


def _becomes_a_folder(path: Path) -> None:
    path.unlink()
    path.mkdir()


def _becomes_unreadable(path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root reads any file")
    path.chmod(0)


def _becomes_a_link_outside(path: Path) -> None:
    path.unlink()
    path.symlink_to(path.parent.parent / "outside" / "notes.md")


CHANGES: dict[str, tuple[Callable[[Path], None], str]] = {
    "becomes a folder": (_becomes_a_folder, "it is a folder"),
    "becomes unreadable": (_becomes_unreadable, "cannot read it"),
    "becomes a symlink outside": (_becomes_a_link_outside, "outside the project"),
    "is deleted": (Path.unlink, "no such file"),
}


@pytest.mark.parametrize("change, reason", CHANGES.values(), ids=CHANGES.keys())
def test_an_attached_file_that_changes_kind_is_missing_with_one_reason(change, reason, tmp_path):
    project = Project(tmp_path)
    files = WorkingSet(project.root)
    files.add(["a.py"])
    change(project.root / "a.py")
    [entry] = files.refresh([project.root / "a.py"])
    assert entry.state == "missing" and reason in entry.warning and SECRET not in files.message()
    assert "✗ a.py" in chip(entry).plain


def test_a_name_with_markup_is_shown_as_text_in_its_chip(tmp_path):
    project = Project(tmp_path)
    project.file("[bold red]x.py")
    files = WorkingSet(project.root)
    files.add(["[bold red]x.py"])
    assert chip(files.entries()[0]).plain.startswith("● [bold red]x.py")
