"""`opencoder-chat -p QUESTION -f PATH` and `--show-prompt`, through the real command line."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENCODER_HOME", str(tmp_path / "home"))
    root = tmp_path / "project"
    (root / "src").mkdir(parents=True)
    (root / "src" / "calc.py").write_text("def add(a, b):\n    return a + b\n\n\ndef sub(a, b):\n    return a - b\n")
    (root / "src" / "util.py").write_text("def double(x):\n    return 2 * x\n")
    (root / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    return root


def run(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", "import sys; from opencoder_local.cli import chat_main; sys.exit(chat_main())", *args],
        capture_output=True, text=True, env=os.environ, timeout=300, cwd=cwd, stdin=subprocess.DEVNULL,
    )


def test_show_prompt_prints_the_templated_prompt_with_the_files_as_they_are_now(project):
    result = run("--model", "demo", "-p", "What does add do?", "-f", "src/*.py", "-f", "src/calc.py:4-5",
                 "--system", "Be brief.", "--show-prompt", cwd=project)
    assert result.returncode == 0, result.stderr
    prompt = result.stdout
    assert prompt.startswith("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\n")
    assert "File `src/calc.py`:\n```python\n" + (project / "src" / "calc.py").read_text() + "```" in prompt
    assert "File `src/util.py`:\n```python\ndef double(x):" in prompt
    assert "File `src/calc.py` (lines 4-5):\n```python\n\ndef sub(a, b):\n```" in prompt
    assert prompt.endswith("What does add do?<|im_end|>\n<|im_start|>assistant\n")
    (project / "src" / "util.py").write_text("def triple(x):\n    return 3 * x\n")
    again = run("--model", "demo", "-p", "What does add do?", "-f", "src/*.py", "--show-prompt",
                "--project", str(project))
    assert "def triple(x):" in again.stdout and "def double" not in again.stdout


def test_show_prompt_never_loads_the_weights(project, llamacpp_vocab_gguf):
    result = run("--model", str(llamacpp_vocab_gguf), "-p", "Why?", "-f", "src/util.py", "--show-prompt",
                 "--project", str(project))
    assert result.returncode == 0, result.stderr  # the file has a vocabulary and no weights at all
    assert "You are OpenCoder" in result.stdout and "def double(x):" in result.stdout


@pytest.mark.model  # the demo model loads and answers
def test_one_shot_answers_with_the_files_in_context(project):
    result = run("--model", "demo", "--max-tokens", "12", "-p", "What does double return?", "-f", "src/util.py",
                 cwd=project)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()


@pytest.mark.parametrize("spec, words", [
    ("image.png", ("image.png", "binary")),
    ("missing.py", ("missing.py", "no such file")),
    ("src/calc.py:9-20", ("no lines 9-20",)),
])
def test_a_refused_file_is_one_line_and_a_non_zero_exit(project, spec, words):
    result = run("--model", "demo", "-p", "Why?", "-f", spec, "--show-prompt", cwd=project)
    assert result.returncode == 1 and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr
    assert all(word in lines[0] for word in words)


def test_a_file_larger_than_the_window_is_refused_with_its_cost(project):
    (project / "big.py").write_text("x = 1\n" * 4000)
    result = run("--model", "demo", "--ctx", "512", "-p", "Why?", "-f", "big.py", "--show-prompt", cwd=project)
    assert result.returncode == 1
    assert "cannot add big.py:" in result.stderr and "free" in result.stderr and "big.py:START-END" in result.stderr


def test_flags_that_need_a_question_or_a_folder_are_one_line(project, tmp_path):
    no_question = run("-f", "src/util.py", cwd=project)  # stdin is not a terminal: an empty question
    assert no_question.returncode == 1 and len(no_question.stderr.strip().splitlines()) == 1
    bad_project = run("-p", "Why?", "--project", str(tmp_path / "nowhere"))
    assert bad_project.returncode == 1 and "--project" in bad_project.stderr and "no such folder" in bad_project.stderr
