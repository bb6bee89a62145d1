"""/test and its fix loop through the app, with real pytest runs: the test command shown and confirmed
once, a failure, the model asked with the output and the files the failure names, its edit reviewed and
applied, the tests run again; a fix that never works ends after `rounds`; Esc ends the loop."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from opencoder_local.tui.screens.chat import ChatScreen
from opencoder_local.tui.screens.review import ReviewScreen
from opencoder_local.tui.screens.run_confirm import RunConfirmScreen
from opencoder_local.tui.widgets.command_block import LoopNote

from tui.helpers import notices, ready, wait_for
from tui.test_command_runs import app_on, command, ran, summary

pytestmark = pytest.mark.anyio

BROKEN = 'def add(a, b):\n    raise ValueError("add is not written yet")\n'
FIXED = "def add(a, b):\n    return a + b\n"
STILL_WRONG = ["def add(a, b):\n    return a - b\n", "def add(a, b):\n    return a * b\n"]


def whole_file(text: str) -> str:
    return f"Here is the fix.\n\n`calc.py`\n```python\n{text}```\n"


@pytest.fixture
def project(tmp_path, monkeypatch) -> Path:
    # The project's pytest needs none of this environment's plugins (textual-snapshot, xdist, anyio):
    # without them each of its runs starts in a quarter of the time.
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    root = tmp_path / "project"
    root.mkdir()
    (root / "calc.py").write_text(BROKEN)
    (root / "test_calc.py").write_text("from calc import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n")
    (root / ".opencoder.toml").write_text(f'test_command = "{sys.executable} -m pytest -q -p no:cacheprovider"\n')
    return root


def notes(app) -> list[str]:
    return [str(note.render()) for note in app.screen.query(LoopNote)] if isinstance(app.screen, ChatScreen) else []


async def failing_tests(pilot) -> None:
    """/test, confirmed, and wait for the run to fail."""
    await command(pilot, "/test")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, RunConfirmScreen))
    assert "pytest" in str(pilot.app.screen.query_one("#command").render())
    await pilot.press("y")
    block = await ran(pilot)
    assert "failed (exit 1)" in summary(block) and "ValueError" in block.shown


async def test_a_failing_test_is_fixed_reviewed_and_run_again(project):
    app, engine = app_on(project, whole_file(FIXED))
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        chat = app.screen
        await failing_tests(pilot)
        assert "F8: ask the model to fix it" in str(app.screen.query("CommandBlock").last().border_subtitle)
        await pilot.press("f8")
        await wait_for(pilot, lambda: isinstance(app.screen, ReviewScreen), timeout=60)
        question = engine.prompts[-1][-1].content
        assert "failed (exit 1)" in question and "add is not written yet" in question
        assert "calc.py" in [entry.spec for entry in chat.files]  # the failure named it: a chip, and in the prompt
        assert "`calc.py`" in engine.prompts[-1][0].content or "calc.py" in engine.prompts[-1][0].content
        await pilot.press("y")
        await wait_for(pilot, lambda: any("pass after 1 round" in note for note in notes(app)), timeout=120)
        assert (project / "calc.py").read_text() == FIXED
        assert "passed" in summary(app.screen.query("CommandBlock").last())
        await command(pilot, "/test")  # confirmed once: it runs at once now
        block = await ran(pilot, 3)
        assert "passed" in summary(block) and not isinstance(app.screen, RunConfirmScreen)


async def test_a_fix_that_never_works_ends_after_the_rounds(project):
    app, engine = app_on(project, *[whole_file(text) for text in STILL_WRONG], rounds=2)
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        await failing_tests(pilot)
        await pilot.press("f8")
        for _round in STILL_WRONG:
            await wait_for(pilot, lambda: isinstance(app.screen, ReviewScreen), timeout=60)
            await pilot.press("y")
            await wait_for(pilot, lambda: isinstance(app.screen, ChatScreen))
        await wait_for(pilot, lambda: any("still fail after 2 rounds" in note for note in notes(app)), timeout=120)
        assert engine.turns == 2 and (project / "calc.py").read_text() == STILL_WRONG[1]
        assert len(app.screen.query("CommandBlock")) == 3  # the first run and one per round


async def test_esc_ends_the_fix_while_its_edit_waits(project):
    app, engine = app_on(project, whole_file(FIXED))
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        await failing_tests(pilot)
        await pilot.press("f8")
        await wait_for(pilot, lambda: isinstance(app.screen, ReviewScreen), timeout=60)
        await pilot.press("escape")  # the review waits for later
        await wait_for(pilot, lambda: isinstance(app.screen, ChatScreen))
        assert "The fix waits for review" in notices(app)
        await pilot.press("escape")
        await wait_for(pilot, lambda: any("stopped with Esc" in note for note in notes(app)))
        assert (project / "calc.py").read_text() == BROKEN and len(app.screen.query("CommandBlock")) == 1
