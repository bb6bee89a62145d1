"""`opencoder-chat -p Q -f FILES --test COMMAND --apply --yes`: real pytest runs, a scripted model.

In-process runs replace the one place settings become an engine (`settings.open_chat_engine`) with a
scripted one; the runs that need no model at all, a timeout and Ctrl+C go through a real process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from opencoder_local import cli, settings
from tui.scripted import ScriptedEngine

from .test_run import processes_with, wait_for

PYTEST = f"{sys.executable} -m pytest -q -p no:cacheprovider"
BROKEN = "def add(a, b):\n    return a - b\n"
FIX = "calc.py\n```python\n<<<<<<< SEARCH\n    return a - b\n=======\n    return a + b\n>>>>>>> REPLACE\n```\n"
WRONG = "calc.py\n```python\ndef add(a, b):\n    return a * b\n```\n"
NO_MATCH = "calc.py\n```python\n<<<<<<< SEARCH\n    return b - a\n=======\n    return a + b\n>>>>>>> REPLACE\n```\n"


@pytest.fixture
def project(tmp_path, monkeypatch):
    # The project's pytest needs none of this environment's plugins (textual-snapshot, xdist, anyio):
    # without them each of its runs starts in a quarter of the time.
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    root = tmp_path / "project"
    (root / "tests").mkdir(parents=True)
    (root / "calc.py").write_text(BROKEN)
    (root / "tests" / "test_calc.py").write_text("from calc import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n")
    (root / "conftest.py").write_text("")  # the project's folder on sys.path for `from calc import add`
    return root


def scripted(monkeypatch, answers) -> ScriptedEngine:
    engine = ScriptedEngine(answers)
    monkeypatch.setattr(settings, "open_chat_engine", lambda *args, **kwargs: engine)
    return engine


def loop(project, *extra: str) -> int:
    return cli.chat_main(["--model", "demo", "--project", str(project), "-p", "Make the tests pass.",
                          "--test", PYTEST, "--apply", "--yes", *extra])


def lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("opencoder-chat: ")]


def test_a_failing_test_is_fixed_in_one_round(project, monkeypatch, capsys):
    engine = scripted(monkeypatch, FIX)
    assert loop(project, "-f", "calc.py") == 0
    out, err = capsys.readouterr()
    assert (project / "calc.py").read_text() == BROKEN.replace("a - b", "a + b")
    said = lines(err)
    assert said[0].startswith(f"opencoder-chat: round 1: `{PYTEST}` failed (exit 1) in ") and said[0].endswith(
        "; asking the model")
    assert said[-2].startswith(f"opencoder-chat: round 2: `{PYTEST}` passed in ")
    assert said[-1] == "opencoder-chat: the command passes after 1 fix"
    assert out.startswith("--- a/calc.py\n+++ b/calc.py\n")
    [question] = [prompt[-1].content for prompt in engine.prompts]
    assert "Make the tests pass." in question and "FAILED tests/test_calc.py::test_add" in question
    assert "calc.py" in question and "tests/test_calc.py" in question  # the file the failure names was added
    assert "def test_add" in question and engine.closed


def test_a_fix_that_never_works_ends_after_the_rounds_with_exit_1(project, monkeypatch, capsys):
    engine = scripted(monkeypatch, [WRONG, NO_MATCH])
    assert loop(project, "-f", "calc.py", "--rounds", "2") == 1
    said = lines(capsys.readouterr().err)
    assert [line.split(": ")[1].split(":")[0] for line in said if ": round " in line] == ["round 1", "round 2",
                                                                                          "round 3"]
    assert "not applied: calc.py: SEARCH block 1" in "\n".join(said)
    assert said[-1] == "opencoder-chat: the command still fails after 2 rounds of fixes"
    assert engine.turns == 2 and (project / "calc.py").read_text() == WRONG.split("```python\n")[1].split("```")[0]
    second = engine.prompts[1][-1].content
    assert "The edits of your last answer could not all be written" not in engine.prompts[0][-1].content
    assert "assert 6 == 5" in second  # the output of the run after the first (wrong) fix


def test_an_edit_that_cannot_apply_is_said_in_the_next_question(project, monkeypatch, capsys):
    engine = scripted(monkeypatch, [NO_MATCH, FIX])
    assert loop(project, "-f", "calc.py") == 0
    assert "The edits of your last answer could not all be written:\n- calc.py: SEARCH block 1" in \
        engine.prompts[1][-1].content
    assert lines(capsys.readouterr().err)[-1] == "opencoder-chat: the command passes after 2 fixes"


def test_without_files_the_question_spells_out_the_edit_format(project, monkeypatch, capsys):
    engine = scripted(monkeypatch, FIX)
    code = cli.chat_main(["--model", "demo", "--project", str(project), "-p", "Fix it.", "--test", "echo boom; exit 2",
                          "--rounds", "1", "--apply", "--yes"])
    assert code == 1
    question = engine.prompts[0][-1].content
    assert "failed (exit 2). Its output:\n\n```\nboom\n```" in question
    assert "<<<<<<< SEARCH" in question and "return a - b" not in question  # no file (a map at most): the format is here
    assert lines(capsys.readouterr().err)[-1] == "opencoder-chat: the command still fails after 1 round of fixes"


def cli_process(args: list[str], cwd, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "opencoder_local", "chat", *args], cwd=cwd,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=os.environ, **kwargs)


def finished(args: list[str], cwd) -> tuple[int, str]:
    process = cli_process(args, cwd)
    _out, err = process.communicate(timeout=120)
    assert "Traceback" not in err
    return process.returncode, err


def test_a_passing_command_never_loads_a_model(project):
    (project / "calc.py").write_text(BROKEN.replace("a - b", "a + b"))
    code, err = finished(["--model", "no-such-model-anywhere", "-p", "Fix it", "--test", PYTEST, "--apply", "--yes"],
                         project)
    assert code == 0, err
    assert err.splitlines()[-1] == "opencoder-chat: the command passes; the model was not asked"


def test_a_timeout_stops_the_group_and_says_so_in_one_line(project):
    code, err = finished(["--model", "demo", "-p", "Fix it", "--test", "sleep 744 & sleep 745", "--test-timeout", "0.5",
                          "--rounds", "0", "--apply", "--yes"], project)
    assert code == 1
    assert err.splitlines() == [
        "opencoder-chat: round 1: `sleep 744 & sleep 745` timed out after 0.5 s and was stopped",
        "opencoder-chat: the command fails (--rounds 0: the model was not asked)"]
    assert wait_for(lambda: not processes_with("sleep 744") and not processes_with("sleep 745"))


def test_a_command_not_found_is_not_sent_to_the_model(project):
    code, err = finished(["--model", "demo", "-p", "Fix it", "--test", "no-such-test-runner", "--apply", "--yes"],
                         project)
    assert code == 1 and err.splitlines()[-1] == "opencoder-chat: not asking the model: the command itself was not found"


@pytest.mark.parametrize("flags, words", [
    (["--test", "true"], "--test goes with --apply --yes"),
    (["--test", "true", "--apply"], "--test goes with --apply --yes"),
    (["--test", "true", "--apply", "--yes", "--rounds", "-1"], "--rounds must be 0 or more"),
    (["--test", "true", "--apply", "--yes", "--test-timeout", "0"], "--test-timeout a number of seconds above 0"),
])
def test_usage_errors_are_one_line(project, flags, words):
    code, err = finished(["--model", "demo", "-p", "Fix it", *flags], project)
    assert code == 1 and len(err.splitlines()) == 1 and words in err, err


def test_ctrl_c_stops_the_command_group_and_exits_130(project):
    process = cli_process(["--model", "demo", "-p", "Fix it", "--test", "sleep 746 & sleep 747", "--apply", "--yes"],
                          project)
    assert wait_for(lambda: processes_with("sleep 746") and processes_with("sleep 747"), 60)
    time.sleep(0.1)
    process.send_signal(signal.SIGINT)
    _out, err = process.communicate(timeout=30)
    assert process.returncode == 130 and err.splitlines() == ["opencoder-chat: interrupted"], err
    assert wait_for(lambda: not processes_with("sleep 746") and not processes_with("sleep 747"))
