"""Questions asked while the model is still loading: answered where they were asked, or not at all."""

from __future__ import annotations

import threading

from opencoder_local import locations
from opencoder_local.settings import ChatSettings
from opencoder_local.store import Store
from opencoder_local.tui.app import make_app

import pytest

from tui.helpers import notices, wait_for
from tui.scripted import ScriptedEngine

pytestmark = pytest.mark.anyio


class SlowLoad:
    """An engine factory that returns only when the test lets it."""

    def __init__(self, answer: str):
        self.engine = ScriptedEngine(answer)
        self.loaded = threading.Event()

    def __call__(self, _settings):
        self.loaded.wait(10)
        return self.engine


async def ask_while_loading(pilot, text: str) -> None:
    pilot.app.screen.prompt_input.text = text
    await pilot.press("enter")
    await wait_for(pilot, lambda: "as soon as the model has loaded" in notices(pilot.app))


async def load(pilot, factory: SlowLoad) -> None:
    factory.loaded.set()
    await wait_for(pilot, lambda: pilot.app.screen.session.engine is not None)
    await pilot.pause(0.2)
    await wait_for(pilot, lambda: not pilot.app.screen.generating)


async def test_a_question_asked_while_loading_is_answered_when_the_model_arrives():
    factory = SlowLoad("Hello there.")
    app = make_app(ChatSettings(model="demo"), factory)
    async with app.run_test(size=(120, 40)) as pilot:
        try:
            await ask_while_loading(pilot, "hi")
            await load(pilot, factory)
        finally:
            factory.loaded.set()
        assert [m.content for m in app.screen.session.messages] == ["hi", "Hello there."]


async def test_a_new_chat_while_loading_drops_the_queued_question_without_a_crash():
    factory = SlowLoad("Hello there.")
    app = make_app(ChatSettings(model="demo"), factory)
    async with app.run_test(size=(120, 40)) as pilot:
        try:
            await ask_while_loading(pilot, "hi")
            await pilot.press("ctrl+n")
            await load(pilot, factory)
        finally:
            factory.loaded.set()
        assert "Ctrl+R" in notices(app)
        assert app.screen.session.conversation is None and factory.engine.turns == 0
        assert app.is_running and app.return_code is None
    store = Store.open(locations.database_path())
    assert [m.content for m in store.messages(store.last_conversation().id)] == ["hi"]


async def test_switching_conversation_while_loading_answers_nothing_there():
    store = Store.open(locations.database_path())
    old = store.create_conversation("old chat")
    store.add_message(old.id, "user", "old question")
    store.add_message(old.id, "assistant", "old answer")
    store.close()
    factory = SlowLoad("UNREQUESTED ANSWER")
    app = make_app(ChatSettings(model="demo"), factory)
    async with app.run_test(size=(120, 40)) as pilot:
        try:
            await ask_while_loading(pilot, "new question")
            await app.screen.conversations.open(old.id)
            await load(pilot, factory)
        finally:
            factory.loaded.set()
        assert [m.content for m in app.screen.session.messages] == ["old question", "old answer"]
        assert factory.engine.turns == 0 and "Ctrl+R" in notices(app)
