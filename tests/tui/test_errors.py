"""What the user sees when something goes wrong: a notice that says what to do, never a traceback."""

from __future__ import annotations

import pytest

from opencoder_local import locations
from opencoder_local.engine.protocol import Delta
from opencoder_local.settings import ChatSettings
from opencoder_local.store import STOPPED, Store, StoreError
from opencoder_local.tui.app import make_app
from opencoder_local.tui.widgets.chat_log import AssistantMessage
from opencoder_local.tui.widgets.status_bar import StatusBar

from tui.helpers import ask, notices, ready, wait_for
from tui.scripted import ScriptedEngine

pytestmark = pytest.mark.anyio


async def test_a_model_that_fails_to_load_is_a_notice_and_the_app_stays_up(tmp_path):
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"not a gguf at all")
    app = make_app(ChatSettings(model=str(bad)))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: "could not be loaded" in "".join(str(n.title) for n in app._notifications))
        assert "broken.gguf" in notices(app)
        assert str(app.screen.query_one(StatusBar).query_one("#state").render()) == "no model"
        app.screen.prompt_input.text = "hello?"
        await pilot.press("enter")
        assert "as soon as the model has loaded" in notices(app)
        assert app.is_running


async def test_an_unknown_model_name_is_a_notice():
    app = make_app(ChatSettings(model="no-such-model"))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: "no-such-model" in notices(app))
        assert "unknown model" in notices(app)


async def test_a_full_context_is_a_notice_and_no_empty_answer_is_kept(demo_engine):
    from opencoder_local.tui.app import load_real_engine

    app = make_app(ChatSettings(model="demo", ctx=64), load_real_engine)
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        app.screen.prompt_input.text = "explain " * 80
        await pilot.press("enter")
        await wait_for(pilot, lambda: "context window" in notices(app))
        await pilot.pause(0.1)
        assert "context window" in notices(app) and "new conversation" in notices(app)
        assert [m.role for m in app.screen.session.messages] == ["user"]
        assert not app.screen.query(AssistantMessage)


async def test_a_database_that_cannot_be_opened_is_a_notice_and_chat_still_works():
    locations.data_dir().parent.mkdir(parents=True, exist_ok=True)
    locations.data_dir().write_text("a file where the data folder should be")
    app = make_app(ChatSettings(model="demo"), lambda _s: ScriptedEngine("still here"))
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        assert "cannot open the conversation database" in notices(app)
        await ask(pilot, "hi")
        assert app.screen.session.messages[-1].content == "still here"


@pytest.mark.parametrize("theme, applied", [("nord", "nord"), ("no-such-theme", None)])
async def test_theme_from_settings(theme, applied):
    app = make_app(ChatSettings(model="demo", theme=theme), lambda _s: ScriptedEngine())
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.05)
        if applied:
            assert app.theme == applied
        else:
            assert "Unknown theme 'no-such-theme'" in notices(app)


async def test_adding_a_binary_file_is_a_notice(tmp_path):
    blob = tmp_path / "image.png"
    blob.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00")
    app = make_app(ChatSettings(model="demo"), lambda _s: ScriptedEngine())
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        app.screen.prompt_input.text = f"/add {blob}"
        await pilot.press("enter")
        await wait_for(pilot, lambda: "binary file" in notices(app))
        assert app.screen.session.working_set.entries() == []


async def test_an_added_text_file_goes_with_the_next_question(tmp_path):
    source = tmp_path / "util.py"
    source.write_text("def f():\n    return 1\n")
    engine = ScriptedEngine("seen")
    app = make_app(ChatSettings(model="demo"), lambda _s: engine)
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        app.screen.prompt_input.text = "/add util.py"
        await pilot.press("enter")
        await wait_for(pilot, lambda: len(app.screen.files) == 1)
        await ask(pilot, "What does this do?")
        sent = engine.prompts[-1][-1].content
        assert sent.endswith("What does this do?") and "File `util.py`:\n```python\ndef f():" in sent
        assert app.screen.session.messages[0].content == "What does this do?"  # saved as typed


async def test_a_database_failing_mid_session_is_a_notice_not_a_crash(monkeypatch):
    app = make_app(ChatSettings(model="demo"), lambda _s: ScriptedEngine("an answer"))
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        await ask(pilot, "hello")

        def broken(*_args):
            raise StoreError("cannot save to conversations.sqlite3: disk I/O error")

        monkeypatch.setattr(Store, "rename", broken)
        monkeypatch.setattr(Store, "delete", broken)
        await pilot.press("f2")
        await pilot.pause(0.1)
        await pilot.press("x", "enter")
        await wait_for(pilot, lambda: "disk I/O error" in notices(app))
        app.screen.conversations.delete(app.screen.session.conversation.id)
        await pilot.pause(0.1)
        await pilot.press("y")
        await pilot.pause(0.2)
        assert app.is_running and app.return_code is None
        await ask(pilot, "still working?")
        assert app.screen.session.messages[-1].content == "an answer"


class FailingEngine(ScriptedEngine):
    """Fails after the first piece, the way llama_decode does when the GPU runs out of memory."""

    def _turn(self, prompt, answer):
        yield Delta("partial ")
        raise RuntimeError("llama_decode returned -3")


async def test_an_engine_failing_mid_answer_is_a_notice_and_the_partial_answer_is_kept():
    app = make_app(ChatSettings(model="demo"), lambda _s: FailingEngine())
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        await ask(pilot, "hi")
        await wait_for(pilot, lambda: "llama_decode returned -3" in notices(app))
        answer = app.screen.session.messages[-1]
        assert (answer.role, answer.content, answer.status) == ("assistant", "partial ", STOPPED)
        view = app.screen.query(AssistantMessage).last()
        assert view.content == "partial " and view.message_id == answer.id
        assert app.is_running and app.return_code is None


async def test_a_full_disk_at_the_end_of_an_answer_is_a_notice_and_the_answer_is_kept(monkeypatch):
    engine = ScriptedEngine(["an answer", "a second answer"])
    app = make_app(ChatSettings(model="demo"), lambda _s: engine)
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)

        def full(*_args):
            raise StoreError("cannot save to conversations.sqlite3: database or disk is full")

        with monkeypatch.context() as patch:
            patch.setattr(Store, "update_message", full)
            await ask(pilot, "hello")
            await wait_for(pilot, lambda: "disk is full" in notices(app))
        assert [m.content for m in app.screen.session.messages] == ["hello", "an answer"]
        assert app.screen.query(AssistantMessage).last().content == "an answer"
        await ask(pilot, "and then?")
        assert [m.content for m in engine.prompts[-1]][-3:] == ["hello", "an answer", "and then?"]
