"""Commands are data: the input box, the palette and the help screen read one table, and every key
hint comes from the bindings the app runs on."""

from __future__ import annotations

import gc

import pytest
from textual.binding import Binding
from textual.command import CommandPalette

from opencoder_local.settings import ChatSettings
from opencoder_local.tui.app import make_app
from opencoder_local.tui.commands import CHAT_ACTIONS, SLASH_COMMANDS, key_label
from opencoder_local.tui.flows.slash import SlashCommands
from opencoder_local.tui.screens.ask import AskScreen
from opencoder_local.tui.screens.chat import ChatScreen
from opencoder_local.tui.screens.help import HelpScreen
from opencoder_local.tui.widgets.prompt_input import PromptInput

from tui.helpers import ready, wait_for
from tui.scripted import ScriptedEngine

pytestmark = pytest.mark.anyio


def test_every_slash_command_has_its_handler():
    for command in SLASH_COMMANDS:
        assert callable(getattr(SlashCommands, command.handler, None)), command.name


def help_text(app) -> str:
    return "\n".join(str(static.render()) for static in app.screen.query("Static"))


@pytest.mark.parametrize("how", ["f1", "/help"])
async def test_help_lists_every_command_and_every_bound_key(how):
    app = make_app(ChatSettings(model="demo"), lambda _s: ScriptedEngine())
    async with app.run_test(size=(120, 50)) as pilot:
        await ready(pilot)
        if how == "f1":
            await pilot.press("f1")
        else:
            app.screen.prompt_input.text = "/help"
            await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        shown = help_text(app)
        for command in SLASH_COMMANDS:
            assert command.usage in shown and command.help in shown
        titles = {action.action: action.title for action in CHAT_ACTIONS}
        for binding in Binding.make_bindings([*ChatScreen.BINDINGS, *PromptInput.BINDINGS]):
            assert key_label(binding) in shown
            assert titles.get(binding.action, binding.description) in shown
        assert key_label(Binding(app.COMMAND_PALETTE_BINDING, "")) in shown
        await pilot.press("escape")
        assert isinstance(app.screen, ChatScreen)


async def test_the_palette_hints_keys_from_the_bindings_and_offers_the_slash_commands(tmp_path):
    (tmp_path / "a.py").write_text("A = 1\n")
    app = make_app(ChatSettings(model="demo", project=str(tmp_path)), lambda _s: ScriptedEngine())
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        await pilot.press("ctrl+p")
        await wait_for(pilot, lambda: isinstance(app.screen, CommandPalette))
        await pilot.pause(0.3)
        options = [str(option.prompt) for option in app.screen.query_one("CommandList").options]
        regenerate = next(o for o in options if o.startswith("Regenerate answer"))
        bound = next(b for b in Binding.make_bindings(ChatScreen.BINDINGS) if b.action == "regenerate")
        assert f"({key_label(bound)})" in regenerate
        assert all(any(o.startswith(c.usage) for o in options) for c in SLASH_COMMANDS)
        await pilot.press(*"/add")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, AskScreen))
        app.screen.query_one("Input").value = "a.py"
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ChatScreen) and len(app.screen.files) == 1)
        assert app.screen.files[0].spec == "a.py"


async def test_an_app_in_a_test_does_not_freeze_the_garbage_collector():
    frozen = gc.get_freeze_count()
    app = make_app(ChatSettings(model="demo"), lambda _s: ScriptedEngine())
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
    assert gc.get_freeze_count() == frozen
