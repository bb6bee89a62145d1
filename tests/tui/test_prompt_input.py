"""What a person types into the question box arrives in it, invisible characters included."""

from __future__ import annotations

import unicodedata

import pytest
from textual import events

from opencoder_local.settings import ChatSettings
from opencoder_local.tui.app import make_app

from tui.scripted import ScriptedEngine

pytestmark = pytest.mark.anyio

FAMILY = "\U0001F468\u200D\U0001F469\u200D\U0001F467"  # man ZWJ woman ZWJ girl: one emoji
TYPED = [
    ("zero-width space", "a\u200bb"),
    ("zero-width non-joiner", "\u0645\u200c\u06cc"),
    ("a joined family emoji", FAMILY),
    ("bidi isolates", "\u2066abc\u2069"),
    ("a no-break space", "1\u00a0km"),
    ("a private-use icon", "\ue0a0 main"),
]


async def type_as_a_terminal_does(pilot, text: str) -> None:
    """Key events as Textual's terminal parser makes them: the key's name and the character itself.

    (Pilot.press cannot: it looks the character up again from the key's name and loses it.)"""
    for character in text:
        name = character if character.isalnum() else unicodedata.name(character, character)
        await press_key(pilot, name.lower().replace(" ", "_").replace("-", "_"), character)


async def press_key(pilot, key: str, character: str) -> None:
    pilot.app.post_message(events.Key(key, character))
    await pilot.pause()


@pytest.mark.parametrize("text", [t for _, t in TYPED], ids=[name for name, _ in TYPED])
async def test_every_typed_character_is_inserted(text):
    app = make_app(ChatSettings(model="demo"), lambda _s: ScriptedEngine())
    async with app.run_test(size=(120, 40)) as pilot:
        await type_as_a_terminal_does(pilot, text)
        assert app.screen.prompt_input.text == text


async def test_control_characters_still_do_not_type():
    app = make_app(ChatSettings(model="demo"), lambda _s: ScriptedEngine())
    async with app.run_test(size=(120, 40)) as pilot:
        await type_as_a_terminal_does(pilot, "a")
        for key, character in [("ctrl+g", "\x07"), ("ctrl+backslash", "\x1c"), ("ctrl+underscore", "\x1f")]:
            await press_key(pilot, key, character)
        await type_as_a_terminal_does(pilot, "b")
        assert app.screen.prompt_input.text == "ab"
