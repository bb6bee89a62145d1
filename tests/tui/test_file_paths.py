"""Paths typed into the app (save, export, /add): a bad one is a notice, the app lives on,
and nothing but a regular file is ever replaced."""

from __future__ import annotations

import os
import stat

import pytest

from opencoder_local.settings import ChatSettings
from opencoder_local.tui.app import make_app
from opencoder_local.tui.screens.ask import AskScreen

from tui.helpers import ask, notices, ready, wait_for
from tui.scripted import ScriptedEngine

pytestmark = pytest.mark.anyio

ANSWER = "Here:\n\n```python\nprint(1)\n```\n"


async def _answer_path(pilot, action: str, path: str) -> None:
    app = pilot.app
    await app.screen.run_action(action)
    await wait_for(pilot, lambda: isinstance(app.screen, AskScreen) and app.screen.query("Input"))
    app.screen.query_one("Input").value = path
    await pilot.press("enter")
    await pilot.pause(0.1)


@pytest.mark.parametrize("action", ["save_code", "export", "add"])
async def test_a_path_with_an_unknown_user_is_a_notice_and_the_app_lives_on(action):
    app = make_app(ChatSettings(model="demo"), lambda _s: ScriptedEngine(ANSWER))
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        await ask(pilot, "code please")
        if action == "add":
            app.screen.prompt_input.text = "/add ~nosuchuser/out.py"
            await pilot.press("enter")
            await wait_for(pilot, lambda: "nosuchuser" in notices(app))
        else:
            await _answer_path(pilot, action, "~nosuchuser/out.py")
        assert "nosuchuser" in notices(app)
        await ask(pilot, "still there?")
        assert len(app.screen.session.messages) == 4


async def test_saving_onto_a_fifo_is_refused_without_asking(tmp_path):
    folder = tmp_path / "out"
    folder.mkdir()
    fifo = folder / "pipe"
    os.mkfifo(fifo)
    app = make_app(ChatSettings(model="demo"), lambda _s: ScriptedEngine(ANSWER))
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        await ask(pilot, "code please")
        await _answer_path(pilot, "save_code", str(fifo))
        assert "it is a named pipe (FIFO), not a regular file" in notices(app)
        assert "Saved" not in notices(app)
        assert not isinstance(app.screen, AskScreen)
    assert stat.S_ISFIFO(os.stat(fifo).st_mode) and os.listdir(folder) == ["pipe"]
