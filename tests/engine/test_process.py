"""The model in its own process: the same answers as in-process, control across the boundary, crashes."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time

import pytest

from opencoder_local.engine import EngineOptions
from opencoder_local.engine.prompt_format import ContextFullError
from opencoder_local.models.registry import open_model
from opencoder_local.engine.process import CANCEL_DEADLINE_S
from opencoder_local.engine.protocol import EngineStoppedError, GenParams, Message
from opencoder_local.errors import UserError

QUESTION = [Message("user", "Write a Python function that reverses a string")]
LONG_ANSWER = [Message("user", "Write a long Python module with a linked list class, a stack and a queue, fully commented.")]
# About 3,000 tokens: long enough that its evaluation takes many compute steps.
LONG_QUESTION = [Message("user", "Summarise this log:\n" + "\n".join(f"line {i}: request served in {i % 97} ms" for i in range(300)))]


@pytest.fixture(scope="module")
def child():
    engine = open_model("demo", EngineOptions(n_ctx=4096))
    engine.wait_ready()
    yield engine
    engine.close()


def run(engine, messages, **params):
    text, stats, pieces = "", None, 0
    for delta in engine.stream(messages, GenParams(**params)):
        text += delta.text
        pieces += delta.tokens
        stats = delta.stats or stats
    return text, stats, pieces


def test_the_child_answers_exactly_as_the_engine_in_process(child, demo):
    assert child.count(QUESTION) == demo.count(QUESTION)
    ours, stats, pieces = run(child, QUESTION, max_tokens=60)
    theirs, reference, _ = run(demo, QUESTION, max_tokens=60)
    assert ours == theirs and ours
    assert (stats.prompt_tokens, stats.generated_tokens, stats.stop_reason) == \
        (reference.prompt_tokens, reference.generated_tokens, reference.stop_reason)
    assert pieces <= stats.generated_tokens and pieces >= stats.generated_tokens - 3  # batches count their tokens
    assert child.backend == demo.backend and child.n_ctx == demo.n_ctx and child.chat_mode


def test_a_follow_up_reuses_the_childs_kv_cache(child):
    answer, _, _ = run(child, QUESTION, max_tokens=20)
    _, stats, _ = run(child, QUESTION + [Message("assistant", answer), Message("user", "And in C?")], max_tokens=3)
    assert stats.reused_tokens >= child.count(QUESTION).prompt_tokens


def test_cancel_during_prompt_evaluation_stops_before_any_token(child):
    assert child.count(LONG_QUESTION).prompt_tokens > 2000
    deltas = child.stream(LONG_QUESTION, GenParams(max_tokens=50))
    child.cancel()
    text, stats, _ = "", None, 0
    for delta in deltas:
        text += delta.text
        stats = delta.stats or stats
    assert stats.stop_reason == "cancelled" and stats.generated_tokens == 0 and text == ""
    _, after, _ = run(child, QUESTION, max_tokens=5)  # the next turn is not cancelled by the old one
    assert after.stop_reason == "length"


def test_cancel_during_generation_stops_within_a_token(child):
    deltas = child.stream(QUESTION, GenParams(max_tokens=400))
    seen = 0
    for delta in deltas:
        if delta.stats is not None:
            stats = delta.stats
            break
        seen += delta.tokens
        if seen >= 5:
            child.cancel()
    assert stats.stop_reason == "cancelled" and stats.generated_tokens < 400


def test_a_cancel_the_child_answers_in_time_leaves_it_running(child):
    deltas = child.stream(QUESTION, GenParams(max_tokens=400))
    next(iter(deltas))
    child.cancel()
    assert list(deltas)[-1].stats.stop_reason == "cancelled"
    child.cancel()  # Esc again, with no turn running: nothing to wait for
    time.sleep(CANCEL_DEADLINE_S * 1.5)  # past the deadline: a deadline left armed would have struck by now
    assert child.exit_code is None
    _, stats, _ = run(child, QUESTION, max_tokens=3)
    assert stats.stop_reason == "length"


def test_a_reader_that_gives_up_leaves_the_child_ready_for_the_next_turn(child):
    deltas = child.stream(QUESTION, GenParams(max_tokens=400))
    next(iter(deltas))
    deltas.close()  # the generator's finally cancels the abandoned turn
    text, stats, _ = run(child, QUESTION, max_tokens=8)
    assert stats.stop_reason == "length" and stats.generated_tokens == 8


def test_a_full_context_is_refused_before_anything_is_sent(child):
    small = open_model("demo", EngineOptions(n_ctx=64))
    try:
        with pytest.raises(ContextFullError):
            small.stream([Message("user", "explain " * 80)], GenParams())
    finally:
        small.close()


def test_a_killed_child_mid_answer_is_one_engine_stopped_error_with_the_signal():
    engine = open_model("demo")
    engine.wait_ready()
    deltas = engine.stream(QUESTION, GenParams(max_tokens=2000))
    text = next(iter(deltas)).text
    os.kill(engine.pid, signal.SIGKILL)
    with pytest.raises(EngineStoppedError, match="SIGKILL while answering"):
        for delta in deltas:
            text += delta.text
    with pytest.raises(EngineStoppedError):
        engine.stream(QUESTION, GenParams())
    engine.close()


def read_in_a_thread(deltas) -> dict:
    """Read a stream to its end in a thread; the result has "text", then "error" or "stats", and "ended"."""
    result = {"text": "", "ended": threading.Event()}

    def read():
        try:
            for delta in deltas:
                result["text"] += delta.text
                result["stats"] = delta.stats or result.get("stats")
        except Exception as exc:
            result["error"] = exc
        finally:
            result["ended"].set()

    threading.Thread(target=read, daemon=True).start()
    return result


@pytest.mark.model
@pytest.mark.parametrize("question", [LONG_ANSWER, LONG_QUESTION], ids=["mid-answer", "during-a-long-prompt"])
def test_a_child_that_stops_responding_is_killed_when_it_does_not_answer_a_cancel(question):
    engine = open_model("demo", EngineOptions(n_ctx=4096))
    try:
        engine.wait_ready()
        deltas = engine.stream(question, GenParams(max_tokens=2000))  # 2,000 tokens: still answering when frozen
        if question is LONG_ANSWER:
            next(iter(deltas))
        os.kill(engine.pid, signal.SIGSTOP)
        result = read_in_a_thread(deltas)
        engine.cancel()
        assert result["ended"].wait(60), "the stream never ended"  # generous: without the deadline it never does
        assert isinstance(result.get("error"), EngineStoppedError)
        assert "stopped responding while answering" in str(result["error"])
        assert engine.exit_code == -signal.SIGKILL
        with pytest.raises(EngineStoppedError, match="stopped responding"):
            engine.stream(QUESTION, GenParams())
    finally:
        engine.close()
    fresh = open_model("demo", EngineOptions(n_ctx=4096))
    try:
        fresh.wait_ready()
        _, stats, _ = run(fresh, QUESTION, max_tokens=3)
        assert stats.stop_reason == "length"
    finally:
        fresh.close()


def test_a_child_killed_while_loading_is_an_engine_stopped_error():
    engine = open_model("demo")
    os.kill(engine.pid, signal.SIGKILL)
    with pytest.raises(EngineStoppedError, match="while loading"):
        engine.wait_ready()
    engine.close()


def test_close_ends_a_frozen_load_at_once():
    engine = open_model("demo")
    os.kill(engine.pid, signal.SIGSTOP)  # a load that would never finish
    engine.close()
    assert engine.exit_code == -signal.SIGKILL
    with pytest.raises(UserError):
        engine.wait_ready()


def test_a_load_the_child_refuses_is_its_one_line_error():
    engine = open_model("demo", EngineOptions(n_threads=10_000))
    with pytest.raises(UserError, match="--threads must be between"):
        engine.wait_ready()
    assert engine.exit_code is not None


def test_a_child_that_cannot_start_is_one_line(monkeypatch):
    monkeypatch.setattr(sys, "executable", "/nonexistent/python3")
    with pytest.raises(UserError, match="cannot start the model process"):
        open_model("demo")


def test_a_child_whose_interpreter_fails_reports_its_last_words(monkeypatch, tmp_path):
    broken = tmp_path / "python3"
    broken.write_text("#!/bin/sh\necho 'Fatal Python error: no memory' >&2\nexit 3\n")
    broken.chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(broken))
    engine = open_model("demo")
    with pytest.raises(EngineStoppedError, match=r"exited with status 3 while loading the model \(Fatal Python error"):
        engine.wait_ready()
