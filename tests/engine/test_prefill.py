"""Reading a turn's prompt ahead: what the app knows before Enter (system prompt, files, history) is in
the KV cache when the turn comes, so the turn evaluates only the question; a turn or a stop that
arrives meanwhile never waits for the reading."""

from __future__ import annotations

import os
import time

import pytest

from opencoder_local.engine import EngineOptions
from opencoder_local.engine.protocol import GenParams, Message
from opencoder_local.models.registry import open_model

pytestmark = pytest.mark.model

FILES = Message("system", "You help with this file:\n" + "".join(f"def f{i}(x):\n    return x * {i}\n" for i in range(40)))
QUESTION = Message("user", "What does f7 return?")


@pytest.fixture(autouse=True)
def _home(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENCODER_HOME", str(tmp_path / "home"))  # no saved state from another test


@pytest.fixture(scope="module")
def child():
    engine = open_model("demo", EngineOptions(n_ctx=2048, n_batch=64, kv_cache_gb=0))  # small batches: many of them
    engine.wait_ready()
    yield engine
    engine.close()


def turn(engine, messages, **params):
    text, stats = "", None
    for delta in engine.stream(messages, GenParams(**params)):
        text += delta.text
        stats = delta.stats or stats
    return text, stats


def cpu_seconds(pid: int) -> float:
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_until_idle(engine, quiet_s: float = 0.5, timeout: float = 300.0) -> None:
    """Until the model process has used no CPU for `quiet_s` (its read ahead has ended)."""
    deadline = time.monotonic() + timeout
    last, since = cpu_seconds(engine.pid), time.monotonic()
    while time.monotonic() - since < quiet_s:
        assert time.monotonic() < deadline, "the model process never went idle"
        time.sleep(0.1)
        now = cpu_seconds(engine.pid)
        if now != last:
            last, since = now, time.monotonic()


def test_a_turn_after_a_prefill_evaluates_only_what_follows_the_prefix(child):
    turn(child, [Message("user", "Hi")], max_tokens=2)  # another prompt in the cache first
    prefix = child.count([FILES]).prompt_tokens
    child.prefill([FILES])
    wait_until_idle(child)
    _, stats = turn(child, [FILES, QUESTION], max_tokens=4)
    assert stats.reused_tokens >= prefix - 8  # the template's closing tokens after the prefix differ
    assert stats.evaluated_tokens < stats.prompt_tokens - prefix + 8


def test_the_same_answer_with_and_without_the_prefix_read_ahead():
    engine = open_model("demo", EngineOptions(n_ctx=2048, n_batch=64, kv_cache_gb=0, lookup=False), isolated=False)
    try:
        fresh, _ = turn(engine, [FILES, QUESTION], max_tokens=24)
        turn(engine, [Message("user", "Hi")], max_tokens=2)
        engine.prefill([FILES])
        ahead, stats = turn(engine, [FILES, QUESTION], max_tokens=24)
        assert stats.reused_tokens > 0 and ahead == fresh
    finally:
        engine.close()


def test_a_turn_sent_during_a_long_prefill_stops_it_and_reads_the_rest_itself(child):
    long_files = Message("system", "Log:\n" + "\n".join(f"line {i}: request served in {i % 97} ms" for i in range(60)))
    turn(child, [Message("user", "Hi")], max_tokens=2)
    child.prefill([long_files])
    text, stats = turn(child, [long_files, QUESTION], max_tokens=4)  # sent at once, behind the prefill
    assert text and stats.stop_reason in ("stop", "length")
    assert stats.prompt_tokens == child.count([long_files, QUESTION]).prompt_tokens


def test_a_stop_during_a_prefill_ends_the_turn_behind_it_without_killing_the_process(child):
    long_files = Message("system", "Log:\n" + "\n".join(f"entry {i}: cache miss after {i % 89} ms" for i in range(60)))
    child.prefill([long_files])
    deltas = child.stream([long_files, QUESTION], GenParams(max_tokens=50))
    child.cancel()
    stats = [d.stats for d in deltas if d.stats is not None][-1]
    assert stats.stop_reason == "cancelled" and child.exit_code is None
    text, stats = turn(child, [QUESTION], max_tokens=3)  # the process answers on
    assert stats.generated_tokens > 0


def test_no_prefill_while_a_turn_runs(child):
    """Sent during a turn, a prefill would truncate the cache under the answer: it is not sent."""
    deltas = child.stream([QUESTION], GenParams(max_tokens=30))
    first = next(deltas)
    child.prefill([FILES])  # ignored: a turn is running
    rest = list(deltas)
    _, stats = turn(child, [QUESTION, Message("assistant", first.text + "".join(d.text for d in rest)),
                            Message("user", "Thanks")], max_tokens=2)
    assert stats.reused_tokens >= child.count([QUESTION]).prompt_tokens
