"""The work of a load and of a turn is done once: the model file is checked once, and a turn's prompt
is tokenized once (the ids the meter counted are the ids the model process gets)."""

from __future__ import annotations

import pytest

from opencoder_local.context.session import ChatSession
from opencoder_local.engine import EngineOptions, GenParams
from opencoder_local.engine import model_file as model_file_module
from opencoder_local.engine import gguf_file
from opencoder_local.models.registry import open_model, resolve
from opencoder_local.store import Store

pytestmark = pytest.mark.model


class Spy:
    """Wraps a function and records the first argument of every call."""

    def __init__(self, function):
        self.function = function
        self.calls: list = []

    def __call__(self, *args, **kwargs):
        self.calls.append(args[0] if args else None)
        return self.function(*args, **kwargs)


@pytest.fixture(autouse=True)
def _home(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENCODER_HOME", str(tmp_path / "home"))


def test_a_model_process_load_reads_and_checks_the_file_once_in_the_app(monkeypatch):
    templates = gguf_file.read_gguf(resolve("demo")).chat_templates()
    assert templates  # the demo model has one: the check below has something to count
    reads = Spy(gguf_file.read_gguf)
    checks = Spy(model_file_module.check_template)
    monkeypatch.setattr(model_file_module, "read_gguf", reads)
    monkeypatch.setattr(model_file_module, "check_template", checks)
    engine = open_model("demo", EngineOptions(n_ctx=1024))
    try:
        engine.wait_ready()
        assert len(reads.calls) == 1
        assert checks.calls == templates  # each of the file's templates, once
    finally:
        engine.close()


def test_a_turn_sends_the_ids_its_count_made_without_tokenizing_again(tmp_path):
    engine = open_model("demo", EngineOptions(n_ctx=2048))
    encode = Spy(engine.format.vocab.encode)
    engine.format.vocab.encode = encode
    session = ChatSession(Store.open(":memory:"), GenParams(max_tokens=4), project=tmp_path)
    session.engine = engine
    try:
        engine.wait_ready()
        for question in ("What is a list in Python?", "And a tuple?"):
            counted = session.prompt(question)  # the meter, as the question is typed
            text = engine.format.text(counted.messages)
            session.add_user(question)
            stats = [delta.stats for delta in session.answer() if delta.stats is not None][0]
            assert encode.calls.count(text) == 1  # counted once; the turn sent those very ids
            assert stats.prompt_tokens == counted.budget.prompt_tokens
    finally:
        engine.close()
