"""The app with the model in its own process: a dead model process loses nothing, quitting never waits."""

from __future__ import annotations

import os
import signal
import sqlite3

import pytest

from opencoder_local import locations
from opencoder_local.settings import ChatSettings
from opencoder_local.tui.app import load_real_engine, make_app
from opencoder_local.tui.widgets.chat_log import AssistantMessage

from tui.helpers import answered, ask, notices, ready, status_label, wait_for

pytestmark = pytest.mark.anyio

LONG_ANSWER = "Write a long Python module with a linked list class, a stack and a queue, fully commented."
LONG_PROMPT = "Summarise this log:\n" + "\n".join(f"line {i}: request served in {i % 97} ms" for i in range(300))


def stored_rows() -> list[tuple[str, str, str]]:
    with sqlite3.connect(locations.database_path()) as db:
        return db.execute("SELECT role, status, content FROM messages ORDER BY id").fetchall()


class Factory:
    """The app's real engine factory; `on_start` may act on each new model process (kill it, freeze it)."""

    def __init__(self, on_start=None):
        self.on_start = on_start
        self.engines = []

    def __call__(self, settings):
        engine = load_real_engine(settings)
        if self.on_start is not None:
            self.on_start(len(self.engines), engine)
        self.engines.append(engine)
        return engine


async def test_a_model_process_killed_mid_answer_keeps_the_answer_and_the_next_question_restarts_it():
    factory = Factory()
    app = make_app(ChatSettings(model="demo", max_tokens=1500), factory)
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        screen = app.screen
        screen.prompt_input.text = LONG_ANSWER
        await pilot.press("enter")
        await wait_for(pilot, lambda: len(screen.query(AssistantMessage).last().content) > 40)
        os.kill(factory.engines[0].pid, signal.SIGKILL)
        await wait_for(pilot, lambda: "killed by SIGKILL while answering" in notices(app))
        await answered(pilot, 2)
        cut = screen.session.messages[-1]
        assert cut.status == "cut" and len(cut.content) > 40
        assert "cut short" in str(screen.query(AssistantMessage).last().query_one(".note").render())
        assert [(role, status) for role, status, _ in stored_rows()] == [("user", "done"), ("assistant", "cut")]
        assert stored_rows()[1][2] == cut.content

        await ask(pilot, "Say hello.")
        assert len(factory.engines) == 2 and screen.session.engine is factory.engines[1]
        assert screen.session.messages[-1].status == "done" and screen.session.messages[-1].content
        assert app.is_running
    first, second = (engine.exit_code for engine in factory.engines)
    assert first == -signal.SIGKILL and second is not None  # the second ended at quit (killed, or on its own at EOF)


@pytest.mark.model
async def test_esc_on_a_model_process_that_stopped_responding_keeps_the_answer_as_stopped_and_restarts_it():
    factory = Factory()
    app = make_app(ChatSettings(model="demo", max_tokens=1500), factory)
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        screen = app.screen
        screen.prompt_input.text = LONG_ANSWER
        await pilot.press("enter")
        await wait_for(pilot, lambda: len(screen.query(AssistantMessage).last().content) > 40)
        os.kill(factory.engines[0].pid, signal.SIGSTOP)  # hung: it will never answer the stop
        await pilot.press("escape")
        await answered(pilot, 2)  # without the deadline on the stop, it stays "generating" for ever
        await wait_for(pilot, lambda: "stopped responding while answering" in notices(app))
        assert "stopped" in status_label(app, "state")  # "model stopped": the next question starts it again
        stopped = screen.session.messages[-1]
        assert stopped.status == "stopped" and len(stopped.content) > 40
        assert str(screen.query(AssistantMessage).last().query_one(".note").render()) == "■ stopped"
        assert [(role, status) for role, status, _ in stored_rows()] == [("user", "done"), ("assistant", "stopped")]
        assert stored_rows()[1][2] == stopped.content
        assert factory.engines[0].exit_code == -signal.SIGKILL

        await pilot.press("ctrl+n")  # not after the long code answer: on a loaded machine that runs for minutes
        await ask(pilot, "Say hello.")
        assert len(factory.engines) == 2 and screen.session.engine is factory.engines[1]
        assert screen.session.messages[-1].status == "done" and screen.session.messages[-1].content
        assert app.is_running


async def test_a_model_process_killed_while_loading_is_a_notice_and_the_next_question_loads_it_again():
    def kill_the_first(index, engine):
        if index == 0:
            os.kill(engine.pid, signal.SIGKILL)

    factory = Factory(kill_the_first)
    app = make_app(ChatSettings(model="demo", max_tokens=20), factory)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: "while loading the model" in notices(app))
        assert app.screen.session.engine is None
        await ask(pilot, "Say hello.")
        assert len(factory.engines) == 2
        assert [m.role for m in app.screen.session.messages] == ["user", "assistant"]


async def test_quitting_while_the_model_loads_ends_the_model_process_at_once():
    factory = Factory(lambda _index, engine: os.kill(engine.pid, signal.SIGSTOP))  # a load that never ends
    app = make_app(ChatSettings(model="demo"), factory)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: factory.engines)
        app.screen.prompt_input.text = "asked while loading"
        await pilot.press("enter")
        await pilot.press("ctrl+q")
    assert factory.engines[0].exit_code == -signal.SIGKILL
    assert [(role, content) for role, _status, content in stored_rows()] == [("user", "asked while loading")]


async def test_quitting_during_a_long_prompt_ends_at_once_and_leaves_no_streaming_row():
    factory = Factory()
    app = make_app(ChatSettings(model="demo"), factory)
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        app.screen.prompt_input.text = LONG_PROMPT
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.screen.generating)
        await pilot.press("ctrl+q")
    assert factory.engines[0].exit_code is not None  # killed, or gone by itself when its socket closed
    rows = stored_rows()
    assert rows[0][:2] == ("user", "done") and rows[0][2] == LONG_PROMPT
    assert all(status != "streaming" for _role, status, _content in rows)
