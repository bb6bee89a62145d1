"""The main flows on the real demo model through llama.cpp."""

from __future__ import annotations

import sqlite3
import threading

from opencoder_local import locations
from opencoder_local.settings import ChatSettings
from opencoder_local.tui.app import make_app
from opencoder_local.tui.widgets.chat_log import AssistantMessage, UserMessage
from opencoder_local.tui.widgets.prompt_input import PromptInput

import pytest

from tui.helpers import SharedEngine, answered, ask, ready, status_label, wait_for
from tui.scripted import ScriptedEngine

QUESTION = "Write a Python function that reverses a string. Answer with a code block."

pytestmark = pytest.mark.anyio


def stored(sql: str) -> list[tuple]:
    with sqlite3.connect(locations.database_path()) as db:
        return db.execute(sql).fetchall()


@pytest.mark.model
async def test_real_engine_loads_in_a_worker_and_the_status_bar_shows_it():
    app = make_app(ChatSettings(model="demo"))  # the default factory: llama.cpp loads the demo model
    async with app.run_test(size=(120, 40)) as pilot:
        assert "loading" in status_label(app, "state")  # interactive before the model is there
        await ready(pilot)
        await wait_for(pilot, lambda: "ctx" in status_label(app, "context"))
        assert status_label(app, "model").endswith("Q4_1")
        assert status_label(app, "backend") == "CPU"
        engine = app.screen.session.engine
        assert status_label(app, "context").startswith(f"ctx {engine.count([]).prompt_tokens:,} / {engine.n_ctx:,}: ")


async def test_ask_streams_a_markdown_answer_that_is_saved(demo_app):
    app = demo_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        await ask(pilot, QUESTION)
        answer = app.screen.session.messages[-1]
        assert answer.role == "assistant" and answer.status == "done" and answer.content
        view = app.screen.query(AssistantMessage).last()
        assert view.content == answer.content and view.message_id == answer.id
        assert "tok/s" in status_label(app, "rate")
        assert stored("SELECT role, status FROM messages") == [("user", "done"), ("assistant", "done")]
        assert stored("SELECT title FROM conversations") == [(QUESTION[:47] + "…",)]


async def test_context_meter_counts_the_conversation_and_the_draft_exactly(demo_app):
    app = demo_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        await ask(pilot, "Say hi.")
        screen = app.screen
        screen.prompt_input.text = "And now a draft that is not sent yet"
        engine = screen.session.engine
        expected = engine.count(screen.session.prompt("And now a draft that is not sent yet").messages)
        await wait_for(pilot, lambda: status_label(app, "context").startswith(f"ctx {expected.prompt_tokens:,} / {engine.n_ctx:,}: "))
        history = [m for m in screen.session.prompt().messages]
        assert expected.prompt_tokens > engine.count(history).prompt_tokens


async def test_enter_sends_and_ctrl_j_inserts_a_newline(demo_app):
    app = demo_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        await pilot.press("h", "i", "ctrl+j", "y", "o")
        assert app.screen.query_one(PromptInput).text == "hi\nyo"
        await pilot.press("enter")
        await answered(pilot, 2)
        assert app.screen.session.messages[0].content == "hi\nyo"
        assert app.screen.query_one(PromptInput).text == ""


async def test_escape_stops_at_once_and_keeps_the_partial_answer(demo_app):
    app = demo_app(max_tokens=2000)
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        screen = app.screen
        screen.prompt_input.text = "Write a very long, detailed tutorial about Python classes with many code examples."
        await pilot.press("enter")
        await wait_for(pilot, lambda: screen.generating and len(screen.query(AssistantMessage).last().content) > 20)
        await pilot.press("escape")
        await answered(pilot, 2)
        answer = screen.session.messages[-1]
        assert answer.status == "stopped" and answer.content
        assert stored("SELECT status, content FROM messages WHERE role = 'assistant'") == [("stopped", answer.content)]
        view = screen.query(AssistantMessage).last()
        assert "stopped" in str(view.query_one(".note").render())
        assert "stopped" in status_label(app, "state")


async def test_regenerate_replaces_the_last_answer(demo_app):
    app = demo_app(temperature=0.8)
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        await ask(pilot, QUESTION)
        first = app.screen.session.messages[-1]
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: app.screen.session.messages[-1].id != first.id and not app.screen.generating)
        await pilot.pause(0.05)
        rows = stored("SELECT id, role FROM messages ORDER BY id")
        assert [r[1] for r in rows] == ["user", "assistant"] and rows[1][0] > first.id
        assert len(app.screen.query(AssistantMessage)) == 1


async def test_edit_and_resend_the_last_question(demo_app):
    app = demo_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        await ask(pilot, "What is a list in Python?")
        await pilot.press("ctrl+t")
        prompt = app.screen.query_one(PromptInput)
        assert prompt.text == "What is a list in Python?"
        prompt.text = "What is a tuple in Python?"
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.screen.session.messages[0].content.endswith("tuple in Python?"))
        await answered(pilot, 2)
        assert [c for (c,) in stored("SELECT content FROM messages WHERE role = 'user'")] == ["What is a tuple in Python?"]
        users = app.screen.query(UserMessage)
        assert len(users) == 1 and users.first().content == "What is a tuple in Python?"


async def test_a_question_typed_before_the_model_is_ready_is_sent_when_it_is(demo_engine):
    import threading

    gate = threading.Event()

    def slow_factory(_settings):
        gate.wait(10)
        return SharedEngine(demo_engine)

    app = make_app(ChatSettings(model="demo"), slow_factory)
    async with app.run_test(size=(120, 40)) as pilot:
        app.screen.prompt_input.text = "Say hello."
        await pilot.press("enter")
        await pilot.pause(0.1)
        assert [m.role for m in app.screen.session.messages] == ["user"]
        assert "loading" in status_label(app, "state")
        gate.set()
        await answered(pilot, 2)
        assert app.screen.session.messages[-1].content


async def test_escape_right_after_enter_stops_the_answer_before_its_prompt_runs(demo_app):
    app = demo_app(max_tokens=300)
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        screen = app.screen
        question = screen.session.add_user("explain\n" + "\n".join(f"def f{i}(x):\n    return x*{i}" for i in range(60)))
        await screen.log_view.add(UserMessage(question.content, question.id))
        await screen.start_answer()
        screen.action_stop()  # in the same tick: the generation thread has not started yet
        await answered(pilot, 2)
        answer = screen.session.messages[-1]
        assert (answer.status, answer.content) == ("stopped", "")
        assert stored("SELECT status, content FROM messages WHERE role = 'assistant'") == [("stopped", "")]


async def test_escape_right_after_enter_stops_a_scripted_answer_before_its_first_word():
    engine = ScriptedEngine("word " * 200, delay=0.005)
    app = make_app(ChatSettings(model="demo"), lambda _s: engine)
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        screen = app.screen
        question = screen.session.add_user("a long answer, please")
        await screen.log_view.add(UserMessage(question.content, question.id))
        await screen.start_answer()
        screen.action_stop()  # in the same tick: the generation thread has not started yet
        await answered(pilot, 2)
        assert (screen.session.messages[-1].status, screen.session.messages[-1].content) == ("stopped", "")
        await ask(pilot, "and now?")  # the next turn is not stopped by the old Esc
        assert screen.session.messages[-1].status == "done"


class SlowCountEngine(ScriptedEngine):
    """Counting a draft that says "slow" waits until the test lets it finish."""

    def __init__(self):
        super().__init__("ok")
        self.counting_slow, self.finish_slow = threading.Event(), threading.Event()

    def count(self, messages):
        if any("slow" in m.content for m in messages):
            self.counting_slow.set()
            self.finish_slow.wait(10)
        return super().count(messages)


async def test_a_slow_count_of_an_old_draft_never_overwrites_the_newer_count():
    engine = SlowCountEngine()
    app = make_app(ChatSettings(model="demo"), lambda _s: engine)
    async with app.run_test(size=(120, 40)) as pilot:
        try:
            await ready(pilot)
            screen = app.screen
            screen.prompt_input.text = "slow " * 50
            await wait_for(pilot, engine.counting_slow.is_set)
            screen.prompt_input.text = "fast"
            expected = engine.count(screen.session.prompt("fast").messages)
            shown = f"ctx {expected.prompt_tokens:,} / {engine.n_ctx:,}: "
            await wait_for(pilot, lambda: status_label(app, "context").startswith(shown))
            engine.finish_slow.set()
            await pilot.pause(0.3)
            assert status_label(app, "context").startswith(shown)
        finally:
            engine.finish_slow.set()
