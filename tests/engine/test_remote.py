"""The remote engine against real servers on 127.0.0.1: llama.cpp's llama-server (built from the pinned
sdist's sources), llama-cpp-python's own server for the chat fallback, and a misbehaving stand-in
only for the faults a real server cannot be made to show on demand."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time

import httpx
import pytest

from fixtures.fake_llama_server import FakeLlamaServer
from fixtures.llama_server import PythonServer, free_port
from opencoder_local.engine.endpoint import Endpoint
from opencoder_local.engine.protocol import EngineOptions, EngineStoppedError, GenParams, Message
from opencoder_local.engine.server_api import ServerError, ServerStreamError
from opencoder_local.errors import UserError
from opencoder_local.models.registry import open_model

GREEDY = GenParams(temperature=0.0, max_tokens=48)
QUESTIONS = ["Write a Python function that reverses a string.", "What is a closure? Answer in one sentence."]
LONG = [Message("user", "Write a very long essay about the history of computers, with many sections.")]


def answer(engine, messages, params=GREEDY):
    text, stats = [], None
    for delta in engine.stream(messages, params):
        text.append(delta.text)
        stats = delta.stats or stats
    return "".join(text), stats


def slots(server) -> list[dict]:
    return httpx.get(f"{server.url}/slots", timeout=10).json()


def wait_idle(server, timeout: float = 10.0) -> dict:
    """The slot once it stops processing; fails if it never does."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        slot = slots(server)[0]
        if not slot["is_processing"]:
            return slot
        time.sleep(0.05)
    raise AssertionError(f"the server's slot is still generating: {slot}")


@pytest.fixture(scope="module")
def demo():
    """The local engine as the servers decode: one token at a time (lookup's batches round otherwise)."""
    return open_model("demo", EngineOptions(n_ctx=4096, lookup=False), isolated=False)


@pytest.fixture
def remote(llama_server):
    engine = open_model(Endpoint(llama_server.url))
    yield engine
    engine.close()


def test_the_server_is_described_from_props(remote, llama_server):
    assert remote.exact and remote.api == "completion"
    assert remote.n_ctx == 4096  # the slot's window, from /props
    assert remote.model_name == "SmolLM2-135M-Instruct.Q4_1"
    assert remote.backend == llama_server.url
    assert remote.chat_mode


def test_the_ids_the_server_received_are_opencoder_tokenize(remote, llama_server, tmp_path):
    messages = [Message("system", "Be brief."), Message("user", "Sort [3, 1, 2] in Python  ->\tnow ✓")]
    chat = tmp_path / "chat.json"
    chat.write_text(json.dumps([{"role": m.role, "content": m.content} for m in messages]))
    tokenized = subprocess.run([sys.executable, "-m", "opencoder_local", "tokenize", "--model", "demo", "--chat",
                                str(chat)], capture_output=True, text=True, env=os.environ, timeout=120)
    assert tokenized.returncode == 0, tokenized.stderr
    before = set(llama_server.prompts.iterdir())
    _, stats = answer(remote, messages, GenParams(max_tokens=4))
    logged = set(llama_server.prompts.iterdir()) - before
    assert len(logged) == 1
    received = json.loads(logged.pop().read_text())
    assert received == json.loads(tokenized.stdout)
    assert stats.prompt_tokens == len(received)


@pytest.mark.parametrize("question", QUESTIONS)
def test_greedy_answers_equal_the_local_engine(remote, demo, question):
    messages = [Message("user", question)]
    local, _ = answer(demo, messages)
    served, stats = answer(remote, messages)
    assert served == local and served.strip()
    assert stats.generated_tokens >= 1 and stats.stop_reason in ("stop", "length")


def test_openai_completions_with_ids_give_the_same_answer(llama_server, demo):
    """The vLLM way (token ids on /v1/completions), tried on llama-server's own OpenAI endpoint."""
    engine = open_model(Endpoint(llama_server.url), api="completions")
    try:
        messages = [Message("user", QUESTIONS[0])]
        served, stats = answer(engine, messages)
    finally:
        engine.close()
    fresh = open_model("demo", EngineOptions(n_ctx=4096, lookup=False), isolated=False)
    try:
        local = answer(fresh, messages)[0]
    finally:
        fresh.close()
    # The server's prompt cache holds this question from the tests before: it evaluates the prompt in
    # other batches than a fresh engine, so a near tie deep in the answer may go the other way (seen on
    # an AMD EPYC). The ids crossed the wire and decode to the local model's words: the answers open alike.
    assert served[:60] == local[:60] and len(served) > 60
    assert stats.stop_reason in ("stop", "length") and stats.generated_tokens >= 1


def test_a_follow_up_hits_the_servers_prompt_cache(remote):
    first = [Message("user", "Name three sorting algorithms.")]
    text, stats1 = answer(remote, first)
    follow_up = first + [Message("assistant", text), Message("user", "Which is fastest?")]
    _, stats2 = answer(remote, follow_up)
    first_ids = remote.prompt_ids(first)
    assert remote.prompt_ids(follow_up)[: len(first_ids)] == first_ids
    assert stats2.reused_tokens >= len(first_ids)
    assert stats2.prompt_tokens == len(remote.prompt_ids(follow_up))


def test_cancel_stops_the_servers_generation(remote, llama_server):
    deltas = remote.stream(LONG, GenParams(max_tokens=3000))
    got = []
    for delta in deltas:
        got.append(delta)
        if len(got) == 3:
            remote.cancel()
    assert got[-1].stats.stop_reason == "cancelled"
    slot = wait_idle(llama_server)
    decoded = slot["next_token"][0]["n_decoded"]
    assert decoded < 3000
    time.sleep(0.5)
    assert slots(llama_server)[0]["next_token"][0]["n_decoded"] == decoded  # and it stays stopped


def test_cancel_before_the_first_token_frees_the_slot(remote, llama_server):
    deltas = remote.stream(LONG, GenParams(max_tokens=3000))
    threading.Timer(0.05, remote.cancel).start()
    assert list(deltas)[-1].stats.stop_reason == "cancelled"
    wait_idle(llama_server)
    assert answer(remote, [Message("user", "Hi")], GenParams(max_tokens=4))[1].stop_reason == "length"


def test_a_server_killed_mid_answer_keeps_the_partial_answer(start_llama_server):
    server = start_llama_server()
    engine = open_model(Endpoint(server.url))
    got = []
    with pytest.raises(EngineStoppedError) as stopped:
        for delta in engine.stream(LONG, GenParams(max_tokens=3000)):
            got.append(delta.text)
            if len(got) == 5:
                server.stop(kill=True)
    assert isinstance(stopped.value, ServerStreamError)
    assert "".join(got).strip()
    assert server.url in str(stopped.value) and "\n" not in str(stopped.value)
    with pytest.raises(EngineStoppedError, match="cannot reach"):  # and the next turn says it is gone
        answer(engine, [Message("user", "Hi")])


def test_a_port_nobody_listens_on():
    with pytest.raises(ServerError, match="cannot reach .* refused"):
        open_model(Endpoint(f"http://127.0.0.1:{free_port()}"))


def test_a_server_that_does_not_answer_times_out():
    with FakeLlamaServer(props="silent") as fake:
        started = time.monotonic()
        with pytest.raises(ServerError, match="did not answer within 1 s"):
            open_model(Endpoint(fake.url, timeout=1), tokenizer="demo")
        assert time.monotonic() - started < 10
    with FakeLlamaServer(completion="silent") as fake:
        engine = open_model(Endpoint(fake.url, timeout=1), tokenizer="demo")
        with pytest.raises(ServerStreamError, match="did not answer within 1 s"):
            answer(engine, [Message("user", "Hi")])


@pytest.mark.parametrize("fault, words", [("malformed", "malformed stream"), ("bad-json", "malformed event")])
def test_a_malformed_stream_keeps_what_came_before_it(fault, words):
    with FakeLlamaServer(completion=fault) as fake:
        engine = open_model(Endpoint(fake.url), tokenizer="demo")
        got = []
        with pytest.raises(ServerStreamError, match=words):
            for delta in engine.stream([Message("user", "Hi")], GREEDY):
                got.append(delta.text)
    assert got == ["Hello"]


def test_a_model_the_server_does_not_have(llama_server):
    with pytest.raises(ServerError, match="does not serve 'opencoder-8b-instruct'; it serves: .*SmolLM2"):
        open_model(Endpoint(llama_server.url, model="opencoder-8b-instruct"))


def test_a_context_overflow_reported_by_the_server(start_llama_server):
    """The server restarted with a smaller window after the engine asked: its refusal is one line."""
    port = free_port()
    server = start_llama_server(port=port)
    engine = open_model(Endpoint(server.url))
    assert engine.n_ctx == 4096
    server.stop()
    start_llama_server(port=port, n_ctx=256)
    question = [Message("user", "Explain this code:\n" + "x = [i * i for i in range(100)]\n" * 40)]
    assert 256 < engine.count(question).prompt_tokens < 4096
    with pytest.raises(ServerError, match="has a 256-token window and the prompt takes"):
        answer(engine, question)


def test_an_api_key_from_the_named_variable(start_llama_server, monkeypatch):
    server = start_llama_server(extra=("--api-key", "s3cret-key"))
    with pytest.raises(UserError, match="OPENCODER_TEST_KEY is not set"):
        open_model(Endpoint(server.url, api_key_env="OPENCODER_TEST_KEY"))
    with pytest.raises(ServerError, match="wants an API key.*api_key_env") as refused:
        open_model(Endpoint(server.url))
    monkeypatch.setenv("OPENCODER_TEST_KEY", "wrong")
    with pytest.raises(ServerError, match="check the key in OPENCODER_TEST_KEY") as wrong:
        open_model(Endpoint(server.url, api_key_env="OPENCODER_TEST_KEY"))
    monkeypatch.setenv("OPENCODER_TEST_KEY", "s3cret-key")
    engine = open_model(Endpoint(server.url, api_key_env="OPENCODER_TEST_KEY"))
    try:
        assert answer(engine, [Message("user", "Hi")], GenParams(max_tokens=4))[1].generated_tokens == 4
    finally:
        engine.close()
    assert "s3cret" not in str(refused.value) + str(wrong.value) + repr(engine.endpoint)


def test_the_chat_fallback_on_llama_cpp_pythons_server(demo):
    """A server that takes only text: the messages go to /v1/chat/completions and it tokenizes."""
    from opencoder_local.models.registry import demo_path

    messages = [Message("user", QUESTIONS[0])]
    with PythonServer(demo_path(), n_ctx=2048) as server:
        with pytest.raises(ServerError, match="does not say its context window: give it with --ctx"):
            open_model(Endpoint(server.url))
        engine = open_model(Endpoint(server.url), EngineOptions(n_ctx=2048))
        try:
            assert engine.api == "chat" and not engine.exact
            assert engine.backend == f"{server.url} · server's tokens"
            with pytest.raises(UserError, match="no local vocabulary"):
                engine.text(messages)
            served, stats = answer(engine, messages)
        finally:
            engine.close()
    fresh = open_model("demo", EngineOptions(n_ctx=2048, lookup=False), isolated=False)  # no cached prefix:
    try:  # a prompt evaluated after a cached one is batched differently, and a near tie may go the other way
        assert served == answer(fresh, messages)[0]  # the same template, applied by the server
    finally:
        fresh.close()
    assert stats.stop_reason in ("stop", "length") and stats.generated_tokens >= 1


def test_no_local_vocabulary_falls_back_to_the_servers_tokens(llama_server, demo):
    engine = open_model(Endpoint(llama_server.url), tokenizer="server")
    try:
        assert engine.api == "chat" and engine.backend.endswith("server's tokens")
        budget = engine.count([Message("user", "x" * 300)])
        assert budget.n_ctx == 4096 and budget.prompt_tokens >= 100  # an estimate, on the safe side
        messages = [Message("user", QUESTIONS[1])]
        assert answer(engine, messages)[0] == answer(demo, messages)[0]
    finally:
        engine.close()


def test_a_tokenizer_of_another_model_is_refused(llama_server, llamacpp_vocab_gguf):
    with pytest.raises(UserError, match="tokens but the model at .* --tokenizer must name a GGUF of the served"):
        open_model(Endpoint(llama_server.url), tokenizer=str(llamacpp_vocab_gguf))

