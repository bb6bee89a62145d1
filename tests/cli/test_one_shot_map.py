"""`--show-prompt` with the project map, `--map-tokens` and `map_tokens` in config, through the real command line."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from opencoder_local.context.repo_map import MAP_HEADER


@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENCODER_HOME", str(tmp_path / "home"))
    root = tmp_path / "project"
    (root / "src").mkdir(parents=True)
    (root / "src" / "tax.py").write_text("def compute_tax_bracket(income):\n    return income // 10_000\n")
    (root / "src" / "pay.py").write_text("from src.tax import compute_tax_bracket\n\n\ndef run_payroll(salary):\n"
                                         "    return salary - compute_tax_bracket(salary)\n")
    return root


def run(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", "import sys; from opencoder_local.cli import chat_main; sys.exit(chat_main())", *args],
        capture_output=True, text=True, env=os.environ, timeout=300, cwd=cwd, stdin=subprocess.DEVNULL,
    )


def test_show_prompt_has_the_map_after_the_files_and_before_the_question(project):
    result = run("--model", "demo", "-p", "Who calls compute_tax_bracket?", "-f", "src/pay.py", "--show-prompt",
                 cwd=project)
    assert result.returncode == 0, result.stderr
    prompt = result.stdout
    assert prompt.index("File `src/pay.py`") < prompt.index(MAP_HEADER) < prompt.index("Who calls compute_tax_bracket?")
    assert "src/tax.py:\n  def compute_tax_bracket(income):" in prompt
    assert "src/pay.py:\n" not in prompt  # the working set's files are shown whole, not mapped


def test_map_tokens_zero_on_the_command_line_or_in_config_turns_it_off(project, tmp_path):
    off = run("--model", "demo", "-p", "Who calls compute_tax_bracket?", "--map-tokens", "0", "--show-prompt",
              cwd=project)
    assert off.returncode == 0 and MAP_HEADER not in off.stdout
    config = tmp_path / "home" / "config" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text("map_tokens = 0\n")
    assert MAP_HEADER not in run("--model", "demo", "-p", "compute_tax_bracket?", "--show-prompt", cwd=project).stdout
    back_on = run("--model", "demo", "-p", "compute_tax_bracket?", "--map-tokens", "200", "--show-prompt", cwd=project)
    assert MAP_HEADER in back_on.stdout


def test_a_bad_map_budget_is_one_line(project):
    result = run("--model", "demo", "-p", "Why?", "--map-tokens", "-5", "--show-prompt", cwd=project)
    assert result.returncode != 0 and result.stdout == ""
    assert result.stderr.strip().count("\n") == 0 and "--map-tokens" in result.stderr and "Traceback" not in result.stderr
