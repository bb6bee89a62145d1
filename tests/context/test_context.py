"""Conversation -> the messages sent, within the window; the session saves as it streams."""

from __future__ import annotations

import pytest

from opencoder_local.context.code_blocks import code_blocks
from opencoder_local.context.session import ChatSession
from opencoder_local.context.window import fit_to_window
from opencoder_local.engine.prompt_format import ContextFullError
from opencoder_local.engine.protocol import ContextBudget, GenParams, Message
from opencoder_local.store import DONE, STOPPED, Store, StoreError


def words(n_ctx):
    return lambda messages: ContextBudget(sum(len(m.content.split()) + 2 for m in messages), n_ctx)


def test_everything_is_sent_when_it_fits():
    history = [Message("user", "a b"), Message("assistant", "c d")]
    prompt = fit_to_window(words(100), "be brief", history, reserve=10)
    assert prompt.messages == [Message("system", "be brief"), *history]
    assert prompt.dropped == 0 and prompt.budget.prompt_tokens == 4 + 4 + 4
    assert prompt.parts == {"system": 4 + 2, "files": 0, "map": 0, "history": 6, "reserve": 10}  # an empty question's frame is system


def test_old_exchanges_are_dropped_whole_and_the_newest_question_is_kept():
    history = [Message("user", "q1 " * 20), Message("assistant", "a1 " * 20),
               Message("user", "q2"), Message("assistant", "a2"), Message("user", "q3")]
    prompt = fit_to_window(words(40), "sys", history, reserve=10)
    assert prompt.messages == [Message("system", "sys"), *history[2:]]
    assert prompt.dropped == 2 and prompt.budget.prompt_tokens <= 30


def test_code_blocks_are_found_as_a_renderer_finds_them():
    blocks = code_blocks("x\n```python\na = 1\n```\n\n    indented is not fenced\n\n~~~\nplain\n~~~\n")
    assert [(b.language, b.code) for b in blocks] == [("python", "a = 1\n"), ("", "plain\n")]
    assert blocks[0].suggested_name == "snippet.py" and blocks[1].suggested_name == "snippet.txt"


@pytest.fixture(scope="module")
def demo():
    from opencoder_local.engine import EngineOptions
    from opencoder_local.models.registry import open_model

    return open_model("demo", EngineOptions(n_ctx=512), isolated=False)


def test_a_session_streams_and_saves_on_the_demo_model(demo):
    store = Store.open(":memory:")
    session = ChatSession(store, GenParams(max_tokens=40), system="You are terse.")
    session.engine = demo
    session.add_user("Say hello in Python.")
    text = "".join(d.text for d in session.answer())
    assert text and store.messages(session.conversation.id)[-1].content == text
    assert session.messages[-1].status == DONE
    assert session.prompt().budget == demo.count(session.prompt().messages)


def test_a_stopped_session_keeps_the_partial_answer(demo):
    store = Store.open(":memory:")
    session = ChatSession(store, GenParams(max_tokens=300))
    session.engine = demo
    session.add_user("Write a long story about a robot.")
    parts = []
    for delta in session.answer():
        parts.append(delta.text)
        if len(parts) == 5:
            session.stop()
    saved = store.messages(session.conversation.id)[-1]
    assert saved.status == STOPPED and saved.content == "".join(parts) and len(parts) <= 8


def test_a_full_context_leaves_no_empty_answer(demo):
    store = Store.open(":memory:")
    session = ChatSession(store, GenParams())
    session.engine = demo
    session.add_user("word " * 600)
    with pytest.raises(ContextFullError):
        list(session.answer())
    assert [m.role for m in store.messages(session.conversation.id)] == ["user"]


def test_a_final_save_that_fails_keeps_the_answer_in_memory_and_raises_a_store_error(demo):
    store = Store.open(":memory:")
    session = ChatSession(store, GenParams(max_tokens=10))
    session.engine = demo
    session.add_user("Say hello.")

    def full(*_args):
        raise StoreError("cannot save: database or disk is full")

    store.update_message = full
    parts = []
    with pytest.raises(StoreError, match="disk is full"):
        for delta in session.answer():
            parts.append(delta.text)
    assert parts and session.messages[-1].role == "assistant"
    assert session.messages[-1].content == "".join(parts)
