"""The command palette lists every action; the log follows the answer unless the user scrolled up."""

from __future__ import annotations

import pytest
from textual.command import CommandPalette

from opencoder_local.settings import ChatSettings
from opencoder_local.tui.app import make_app
from opencoder_local.tui.commands import CHAT_ACTIONS
from opencoder_local.tui.screens.chat import ChatScreen
from opencoder_local.tui.widgets.chat_log import AssistantMessage, ChatLog

from tui.helpers import answered, ask, ready, wait_for
from tui.scripted import ScriptedEngine

pytestmark = pytest.mark.anyio


def test_every_palette_action_exists_on_the_chat_screen_and_every_key_is_in_the_palette():
    actions = {action for _title, _help, action in CHAT_ACTIONS}
    for action in actions:
        assert callable(getattr(ChatScreen, f"action_{action}", None)), action
    bound = {binding.action for binding in ChatScreen.BINDINGS}
    assert bound <= actions


async def test_the_palette_shows_all_chat_actions_and_runs_them():
    app = make_app(ChatSettings(model="demo"), lambda _s: ScriptedEngine("ok"))
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        await ask(pilot, "hello")
        chat = app.screen
        await pilot.press("ctrl+p")
        await pilot.pause(0.3)
        palette = app.screen
        assert isinstance(palette, CommandPalette)
        shown = {str(option.prompt).split("\n")[0] for option in palette.query_one("CommandList").options}
        # offered while there is an edit to review or to undo (test_edits), a command's output to add or
        # failing tests to fix (test_command_runs, test_test_loop)
        idle = {"review_edits", "undo_edit", "add_output", "fix_tests"}
        assert all(chat.check_action(action, ()) is False for action in idle)
        assert {title for title, _h, action in CHAT_ACTIONS if action not in idle} <= shown
        assert not {title for title, _h, action in CHAT_ACTIONS if action in idle} & shown
        await pilot.press(*"new conv")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ChatScreen) and app.screen.session.conversation is None)


async def test_the_log_follows_the_answer_unless_the_user_scrolls_up():
    long_answer = "\n\n".join(f"Paragraph {i} of a long answer." for i in range(80))
    engine = ScriptedEngine(long_answer)
    app = make_app(ChatSettings(model="demo"), lambda _s: engine)
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot)
        log = app.screen.query_one(ChatLog)
        await ask(pilot, "first")
        assert log.max_scroll_y > 0 and log.scroll_y == log.max_scroll_y
        engine.pause_after = 90  # 15 paragraphs: the second answer holds mid-way until the test has scrolled up
        app.screen.prompt_input.text = "second"
        await pilot.press("enter")
        await wait_for(pilot, engine.paused.is_set)
        await wait_for(pilot, lambda: "Paragraph 10" in app.screen.query(AssistantMessage).last().content)
        assert app.screen.generating
        await pilot.pause(0.1)
        log.scroll_to(y=0, animate=False)  # as a mouse wheel would
        log.release_anchor()
        engine.resume.set()
        await answered(pilot, 4)
        await pilot.pause(0.1)
        assert log.scroll_y < log.max_scroll_y - 50


async def test_the_input_stays_usable_while_an_answer_streams():
    engine = ScriptedEngine("word " * 1500, pause_after=5)
    app = make_app(ChatSettings(model="demo"), lambda _s: engine)
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot)
        app.screen.prompt_input.text = "go"
        await pilot.press("enter")
        await wait_for(pilot, engine.paused.is_set)
        await pilot.press(*"next")
        assert app.screen.generating
        assert app.screen.prompt_input.text == "next"
        await pilot.press("escape")
        await answered(pilot, 2)
        assert app.screen.session.messages[-1].status == "stopped"


async def test_the_palette_finds_conversations_to_open():
    engine = ScriptedEngine("ok")
    app = make_app(ChatSettings(model="demo"), lambda _s: engine)
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        await ask(pilot, "about sorting")
        first = app.screen.session.conversation.id
        await pilot.press("ctrl+n")
        await ask(pilot, "about parsing")
        await pilot.press("ctrl+p")
        await pilot.press(*"open sorting")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ChatScreen)
                       and app.screen.session.conversation.id == first)
