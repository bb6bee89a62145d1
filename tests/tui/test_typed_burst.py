"""A burst of typed keys (a paste in a terminal without bracketed paste, `xdotool type`) costs one
re-wrap per burst, not one per key: the text lands whole and the app stays responsive (issue 19, row 2)."""

from __future__ import annotations

import string

import pytest
from textual import events

from opencoder_local.settings import ChatSettings
from opencoder_local.tui.app import make_app

from tui.scripted import ScriptedEngine

pytestmark = pytest.mark.anyio

ALPHABET = string.ascii_letters + string.digits + " .,;:()[]{}=+-*/'\"<>_#"


def burst(length: int) -> str:
    return "".join(ALPHABET[(i * 7) % len(ALPHABET)] for i in range(length))


def key_name(character: str) -> str:
    from textual.keys import _character_to_key
    return _character_to_key(character)


def count_wraps(prompt) -> list[int]:
    """Spy on the wrapped document: every re-wrap (whole or of the edited lines) is counted."""
    calls: list[int] = []
    wrapped = prompt.wrapped_document
    for name in ("wrap", "wrap_range"):
        original = getattr(wrapped, name)

        def spy(*args, _original=original, **kwargs):
            calls.append(1)
            return _original(*args, **kwargs)
        setattr(wrapped, name, spy)
    return calls


def send_keys(app, text: str) -> None:
    """As the terminal driver delivers a burst: every key posted to the app before any is handled."""
    for character in text:
        event = events.Key(key_name(character), character)
        event.set_sender(app)
        app._driver.send_message(event)


@pytest.mark.parametrize("length", [5_000, 26_000])
async def test_a_burst_of_typed_keys_lands_whole_in_a_few_wraps(length):
    text = burst(length)
    app = make_app(ChatSettings(model="demo"), lambda _s: ScriptedEngine())
    async with app.run_test(size=(120, 40)) as pilot:
        prompt = app.screen.prompt_input
        wraps = count_wraps(prompt)
        send_keys(app, text)
        for _ in range(200):
            await pilot.pause()
            if len(prompt.text) >= length:
                break
        assert prompt.text == text
        assert len(wraps) < length // 100, f"{len(wraps)} re-wraps for {length:,} keys"


async def test_keys_after_a_burst_act_on_the_whole_burst():
    """Ctrl+J, Enter and an @ after typed text see that text in the box (nothing reordered)."""
    app = make_app(ChatSettings(model="demo"), lambda _s: ScriptedEngine())
    async with app.run_test(size=(120, 40)) as pilot:
        prompt = app.screen.prompt_input
        send_keys(app, "first line")
        app._driver.send_message(events.Key("ctrl+j", "\n"))
        send_keys(app, "second")
        await pilot.pause()
        await pilot.pause()
        assert prompt.text == "first line\nsecond"
        assert prompt.cursor_location == (1, len("second"))
        prompt.text = "replaced"
        assert prompt.text == "replaced"
