"""One owner of what the chat is doing: the screen's phase, which the status bar shows; the flows
see the screen only as a ChatHost and never import it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from opencoder_local.settings import ChatSettings
from opencoder_local.tui import flows
from opencoder_local.tui.app import make_app
from opencoder_local.tui.flows.host import ChatHost
from opencoder_local.tui.phase import Phase
from opencoder_local.tui.screens.chat import ChatScreen

from tui.helpers import answered, ready, status_label, wait_for
from tui.scripted import ScriptedEngine

pytestmark = pytest.mark.anyio


def test_no_flow_imports_the_chat_screen():
    for path in Path(flows.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                assert node.module != "opencoder_local.tui.screens.chat", path.name


def test_the_chat_screen_has_all_a_flow_may_use():
    wanted = set(ChatHost.__annotations__) | {name for name in vars(ChatHost) if not name.startswith("_")}
    assert wanted <= set(dir(ChatScreen)) | {"session"}  # the session is set per screen


async def test_the_phase_goes_through_a_turn_and_a_stop_and_the_status_bar_shows_it():
    engine = ScriptedEngine("one two three four five six", pause_after=2)
    app = make_app(ChatSettings(model="demo"), lambda _s: engine)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen
        seen: list[Phase] = []
        screen.watch(screen, "phase", lambda phase: seen.append(phase), init=True)
        await ready(pilot)
        await wait_for(pilot, lambda: screen.phase is Phase.IDLE)
        assert status_label(app, "state") == "ready"
        screen.prompt_input.text = "count"
        await pilot.press("enter")
        await wait_for(pilot, engine.paused.is_set)
        assert screen.generating and status_label(app, "state") == "generating"
        await pilot.press("escape")
        await answered(pilot, 2)
        assert status_label(app, "state") == "stopped" and not screen.generating
        assert seen[-4:] == [Phase.IDLE, Phase.GENERATING, Phase.STOPPING, Phase.STOPPED]
