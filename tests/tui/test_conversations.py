"""New, switch, clear, rename, delete, search, --continue and export."""

from __future__ import annotations

from opencoder_local import locations
from opencoder_local.context.session import ChatSession
from opencoder_local.engine.protocol import GenParams
from opencoder_local.settings import ChatSettings
from opencoder_local.store import Store
from opencoder_local.tui.app import make_app
from opencoder_local.tui.screens.ask import AskScreen
from opencoder_local.tui.screens.confirm import ConfirmScreen
from opencoder_local.tui.widgets.chat_log import AssistantMessage, MessageView
from opencoder_local.tui.widgets.sidebar import ConversationList, Sidebar

import pytest

from tui.helpers import ask, ready, wait_for
from tui.scripted import ScriptedEngine

pytestmark = pytest.mark.anyio


def titles(app) -> list[str]:
    listing = app.screen.query_one(ConversationList)
    return [str(listing.get_option_at_index(i).prompt) for i in range(listing.option_count)]


async def test_new_chat_then_switch_back_from_the_sidebar(demo_app):
    app = demo_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        await ask(pilot, "What is a dict?")
        first = app.screen.session.conversation.id
        await pilot.press("ctrl+n")
        assert not app.screen.query(MessageView)
        await ask(pilot, "What is a set?")
        assert titles(app) == ["What is a set?", "What is a dict?"]
        listing = app.screen.query_one(ConversationList)
        listing.focus()
        listing.highlighted = 1
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.screen.session.conversation.id == first)
        await pilot.pause(0.05)
        views = app.screen.query(MessageView)
        assert [v.content for v in views][0] == "What is a dict?" and len(views) == 2


async def test_continue_resumes_the_last_conversation_where_it_was(demo_app):
    app = demo_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        await ask(pilot, "What is a generator?")
        before = [(m.role, m.content) for m in app.screen.session.messages]
    again = demo_app(continue_last=True)
    async with again.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.1)
        assert [(v.__class__.__name__, v.content) for v in again.screen.query(MessageView)] == [
            ("UserMessage", before[0][1]), ("AssistantMessage", before[1][1])]
        await ready(pilot)
        await ask(pilot, "And a coroutine?")
        assert len(again.screen.session.messages) == 4  # the same conversation goes on


async def test_clear_rename_search_and_delete():
    store = Store.open(locations.database_path())
    for title in ("sorting in rust", "python lists"):
        session = ChatSession(store, GenParams())
        session.add_user(title)
    store.close()
    app = make_app(ChatSettings(model="demo", continue_last=True), lambda _s: ScriptedEngine("ok"))
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        assert titles(app) == ["python lists", "sorting in rust"]
        await pilot.press("f2")
        assert isinstance(app.screen, AskScreen)
        app.screen.query_one("Input").value = "Lists in Python"
        await pilot.press("enter")
        assert titles(app) == ["Lists in Python", "sorting in rust"]

        await pilot.press("ctrl+f")
        await pilot.press(*"rust")
        assert titles(app) == ["sorting in rust"]
        await pilot.press("ctrl+u")
        app.screen.query_one(Sidebar).query_one("#search").value = ""
        await pilot.pause(0.05)

        app.screen.prompt_input.focus()
        await pilot.press("ctrl+l")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        assert app.screen.session.messages == [] and not app.screen.query(MessageView)

        await app.screen.run_action("delete")
        await pilot.press("y")
        await pilot.pause(0.05)
        assert titles(app) == ["sorting in rust"]
        reopened = Store.open(locations.database_path())
        assert [c.title for c in reopened.conversations()] == ["sorting in rust"]


async def test_export_writes_the_conversation_as_markdown(tmp_path):
    app = make_app(ChatSettings(model="demo"), lambda _s: ScriptedEngine("Use `sorted()`:\n\n```python\nsorted(xs)\n```\n"))
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        await ask(pilot, "How do I sort?")
        await app.screen.run_action("export")
        await pilot.pause()
        target = tmp_path / "out" / "sort.md"
        app.screen.query_one("Input").value = str(target)
        await pilot.press("enter")
        text = target.read_text()
        assert text.startswith("# How do I sort?\n")
        assert "## You\n\nHow do I sort?" in text and "## Assistant\n\nUse `sorted()`" in text


async def test_an_answer_cut_short_by_a_crash_shows_as_interrupted():
    store = Store.open(locations.database_path())
    session = ChatSession(store, GenParams())
    message = session.add_user("question")
    store.add_message(message.conversation_id, "assistant", "half an ans", status="streaming")
    store.close()
    app = make_app(ChatSettings(model="demo", continue_last=True), lambda _s: ScriptedEngine("ok"))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.1)
        view = app.screen.query(AssistantMessage).last()
        assert view.content == "half an ans"
        assert "interrupted" in str(view.query_one(".note").render())
