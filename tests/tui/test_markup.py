"""Text from the user, the model or the disk is shown as it is, never read as Textual markup."""

from __future__ import annotations

from opencoder_local.settings import ChatSettings
from opencoder_local.tui.app import make_app
from opencoder_local.tui.screens.ask import AskScreen
from opencoder_local.tui.screens.code_picker import CodePickerScreen
from opencoder_local.tui.screens.confirm import ConfirmScreen
from opencoder_local.tui.widgets.chat_log import MessageView
from opencoder_local.tui.widgets.sidebar import ConversationList
from opencoder_local.tui.widgets.status_bar import StatusBar

import pytest

from tui.helpers import ask, notices, ready, wait_for
from tui.scripted import ScriptedEngine

pytestmark = pytest.mark.anyio

TITLE = "why is [/usr/bin] not found"
RENAMED = "[/] renamed [b]bold?"
ANSWER = "Try [bold]this[/]:\n\n```python\nprint('[/usr/bin]')\n```\n"


def titles(app) -> list[str]:
    listing = app.screen.query_one(ConversationList)
    return [str(listing.get_option_at_index(i).prompt) for i in range(listing.option_count)]


def markup_app():
    return make_app(ChatSettings(model="demo"), lambda _s: ScriptedEngine(ANSWER))


async def test_a_title_that_looks_like_markup_survives_send_restart_rename_and_delete():
    app = markup_app()
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await ready(pilot)
        await ask(pilot, TITLE)
        await pilot.pause(0.1)
        assert titles(app) == [TITLE]
        assert [v.content for v in app.screen.query(MessageView)] == [TITLE, ANSWER]

    again = markup_app()  # the same OPENCODER_HOME: the sidebar lists that title at start-up
    async with again.run_test(size=(120, 40), notifications=True) as pilot:
        await ready(pilot)
        assert titles(again) == [TITLE]
        screen = again.screen
        await screen.conversations.open(screen.session.store.last_conversation().id)
        await pilot.press("f2")
        await wait_for(pilot, lambda: isinstance(again.screen, AskScreen) and again.screen.query("Input"))
        field = again.screen.query_one("Input")
        assert field.value == TITLE
        field.value = RENAMED
        await pilot.press("enter")
        await pilot.pause(0.1)
        assert titles(again) == [RENAMED]

        await pilot.press("ctrl+p")
        await pilot.press(*"renamed")
        hits = again.screen.query_one("CommandList")

        def found() -> bool:
            shown = [str(hits.get_option_at_index(i).prompt) for i in range(hits.option_count)]
            return f"Open: {RENAMED}\nSwitch to this conversation" in shown

        await wait_for(pilot, found, timeout=30)
        await pilot.press("escape")

        screen.conversations.delete(screen.session.conversation.id)
        await wait_for(pilot, lambda: isinstance(again.screen, ConfirmScreen) and again.screen.query(".question"))
        assert RENAMED in str(again.screen.query_one(".question").render())
        await pilot.press("y")
        await pilot.pause(0.2)
        assert f"Deleted “{RENAMED}”." in notices(again) and titles(again) == []
        assert again.is_running


async def test_file_names_and_code_that_look_like_markup_are_shown_as_they_are(tmp_path):
    engine = ScriptedEngine(ANSWER)
    engine.model_name = "coder-[/x]-1B"
    app = make_app(ChatSettings(model="demo"), lambda _s: engine)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await ready(pilot)
        await pilot.pause(0.05)
        assert str(app.screen.query_one(StatusBar).query_one("#model").render()) == "coder-[/x]-1B Q4_1"
        await ask(pilot, "code please")
        await app.screen.run_action("save_chosen_code")
        await wait_for(pilot, lambda: isinstance(app.screen, CodePickerScreen) and app.screen.query("OptionList"))
        picker = app.screen.query_one("OptionList")
        assert str(picker.get_option_at_index(0).prompt) == "[python] print('[/usr/bin]') (1 line)"
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, AskScreen) and app.screen.query("Input"))
        target = tmp_path / "[/x]" / "out.py"
        app.screen.query_one("Input").value = str(target)
        await pilot.press("enter")
        await pilot.pause(0.2)  # the notice, naming that path, is on screen
        assert f"Saved the code block to {target}." in notices(app)
        assert target.read_text() == "print('[/usr/bin]')\n"
        assert app.is_running
