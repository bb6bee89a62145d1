"""`opencoder-chat -p QUESTION -f PATH --apply [--yes]`: the diff on standard output; written with
--yes or when a terminal says y; without a terminal and without --yes only printed."""

from __future__ import annotations

import io
import os
import subprocess
import sys

import pytest

from opencoder_local.context.one_shot import apply_answer
from opencoder_local.context.code_blocks import code_blocks

HELLO = 'def greet(name):\n    return "Hello " + name\n'
QUESTION = "Write the whole hello.py again with a docstring."  # the demo model answers with one block


@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENCODER_HOME", str(tmp_path / "home"))
    root = tmp_path / "project"
    root.mkdir()
    (root / "hello.py").write_text(HELLO)
    return root


def run(*args: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", "import sys; from opencoder_local.cli import chat_main; sys.exit(chat_main())", *args],
        capture_output=True, text=True, env=os.environ, timeout=600, cwd=cwd, stdin=subprocess.DEVNULL,
    )


def test_with_yes_the_demo_models_block_is_written_and_the_diff_printed(project):
    result = run("--model", "demo", "--max-tokens", "150", "-p", QUESTION, "-f", "hello.py", "--apply", "--yes",
                 cwd=project)
    assert result.returncode == 0, result.stderr
    [block] = [b.code for b in code_blocks(result.stderr)]  # the answer streams to stderr with --apply
    assert (project / "hello.py").read_text() == block != HELLO
    assert result.stdout.startswith("--- a/hello.py\n+++ b/hello.py\n@@ ")
    assert "-def greet(name):" in result.stdout or '-    return "Hello " + name' in result.stdout
    assert "wrote hello.py" in result.stderr


def test_without_a_terminal_or_yes_the_diff_is_only_printed(project):
    result = run("--model", "demo", "--max-tokens", "150", "-p", QUESTION, "-f", "hello.py", "--apply", cwd=project)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("--- a/hello.py\n+++ b/hello.py\n")
    assert "add --yes to write" in result.stderr
    assert (project / "hello.py").read_text() == HELLO


def test_flags_that_need_apply_or_a_question_are_one_line(project):
    yes_alone = run("-p", "Why?", "--yes", "--model", "demo", cwd=project)
    assert yes_alone.returncode == 1 and "--yes goes with --apply" in yes_alone.stderr
    no_question = run("--apply", cwd=project)
    assert no_question.returncode == 1 and len(no_question.stderr.strip().splitlines()) == 1


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


ANSWER = f"`hello.py`\n```python\n{HELLO.replace('Hello', 'Goodbye')}```\n\n`../escape.py`\n```python\nX = 1\n```\n"


@pytest.mark.parametrize("typed, written", [("y\n", True), ("\n", False), ("no\n", False)])
def test_on_a_terminal_it_asks_first(project, monkeypatch, capsys, typed, written):
    monkeypatch.setattr(sys, "stdin", Terminal(typed))
    code = apply_answer(ANSWER, project, ["hello.py"], yes=False).exit_code
    out, err = capsys.readouterr()
    assert out.startswith("--- a/hello.py\n+++ b/hello.py\n") and "+    return \"Goodbye \" + name" in out
    assert "Write hello.py? [y/N]" in err
    assert "not applied: ../escape.py: outside the project folder" in err  # refused, never asked about
    assert code == 1  # something the answer asked for was refused
    assert (project / "hello.py").read_text() == (HELLO.replace("Hello", "Goodbye") if written else HELLO)
    assert not (project.parent / "escape.py").exists()


def test_a_new_file_is_named_in_the_question(project, monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", Terminal("y\n"))
    assert apply_answer("`src/new.py`\n```python\nA = 1\n```\n", project, ["hello.py"], yes=False).exit_code == 0
    out, err = capsys.readouterr()
    assert out.startswith("--- /dev/null\n+++ b/src/new.py\n") and "creating src/new.py" in err
    assert (project / "src" / "new.py").read_text() == "A = 1\n"


def test_an_answer_without_an_edit_is_one_line_and_exit_1(project, capsys):
    assert apply_answer("Use a docstring.\n\n```python\nx = 1\n```\n", project, [], yes=True).exit_code == 1
    assert "the answer changes no file" in capsys.readouterr().err
