"""The prefix cache on disk with the real demo model: a reopened conversation evaluates only what
follows its saved state, and answers exactly as it would from scratch; a damaged state is never used."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from opencoder_local import locations
from opencoder_local.engine import EngineOptions, GenParams, Message, open_engine
from opencoder_local.models.registry import model_file, open_model

pytestmark = pytest.mark.model

PARAMS = GenParams(max_tokens=12)
SOURCE = (Path(__file__).parents[2] / "opencoder_local" / "engine" / "kv_store.py").read_text()[:1800]
FIRST = [Message("user", f"Here is a module:\n{SOURCE}\nWhat is it for? One sentence.")]


def later(answer: str) -> list[Message]:
    return [*FIRST, Message("assistant", answer), Message("user", "Which hash does it use?")]


def engine(gb: float = 1.0):
    return open_model("demo", EngineOptions(n_ctx=2048, kv_cache_gb=gb), isolated=False)


def ask(model, messages):
    text, stats = [], None
    for delta in model.stream(messages, PARAMS):
        text.append(delta.text)
        stats = delta.stats or stats
    return "".join(text), stats


def saved_files() -> list[Path]:
    folder = locations.kv_cache_dir()
    return sorted(folder.iterdir()) if folder.exists() else []


@pytest.fixture(scope="module")
def conversation(tmp_path_factory):
    """The first answer, and the follow-up's answer from scratch with the cache off: the reference."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("OPENCODER_HOME", str(tmp_path_factory.mktemp("reference")))
        model = engine(0)
        first, _ = ask(model, FIRST)
        model.close()
        model = engine(0)  # a fresh context: the follow-up evaluated in full
        expected, stats = ask(model, later(first))
        model.close()
    assert stats.reused_tokens == 0
    return first, expected


def leave_conversation() -> str:
    """A session that answers the first question and is left: its state saved."""
    model = engine()
    first, _ = ask(model, FIRST)
    report = model.save_state()
    model.close()
    assert report is not None and report.tokens > len(FIRST[0].content) // 8
    return first


def test_a_reopened_conversation_evaluates_only_what_follows_and_answers_the_same(conversation):
    first, expected = conversation
    assert leave_conversation() == first
    model = engine()  # a restart: a fresh llama.cpp context
    answer, stats = ask(model, later(first))
    model.close()
    assert answer == expected
    assert stats.restored_tokens > 0 and stats.restored_tokens == stats.reused_tokens
    assert stats.evaluated_tokens == stats.prompt_tokens - stats.restored_tokens
    # from the batch boundary before the saved prefix ends: the follow-up question, the template's
    # turn markers, and what the boundary leaves of the prefix
    assert stats.restored_tokens % EngineOptions().n_batch == 0
    assert stats.evaluated_tokens < EngineOptions().n_batch + 40
    assert stats.notice == ""


@pytest.mark.parametrize("damage", ["flip", "truncate"])
def test_a_damaged_state_is_removed_with_a_notice_and_the_answer_is_still_right(conversation, damage):
    first, expected = conversation
    leave_conversation()
    [path] = saved_files()
    data = bytearray(path.read_bytes())
    if damage == "flip":
        for at in (len(data) // 2, len(data) - 100):
            data[at] ^= 0xFF
    else:
        del data[len(data) // 3:]
    path.write_bytes(data)
    model = engine()
    answer, stats = ask(model, later(first))
    model.close()
    assert answer == expected
    assert stats.restored_tokens == 0 and stats.reused_tokens == 0
    assert stats.notice.count("\n") == 0 and "ignored and removed" in stats.notice
    assert not path.exists()


def test_a_state_saved_for_another_model_file_is_not_loaded(conversation, tmp_path):
    first, expected = conversation
    leave_conversation()
    copy = tmp_path / "same-weights.gguf"  # the same bytes at another path: another identity
    copy.write_bytes(model_file("demo").path.read_bytes())
    model = open_engine(model_file(str(copy)), EngineOptions(n_ctx=2048, kv_cache_gb=1.0), isolated=False)
    answer, stats = ask(model, later(first))
    model.close()
    assert answer == expected and stats.restored_tokens == 0


def test_a_cap_of_zero_saves_nothing(conversation):
    model = engine(0)
    ask(model, FIRST)
    assert model.save_state() is None
    model.close()
    assert saved_files() == []


def test_the_model_process_saves_on_request_and_on_quit(conversation):
    first, expected = conversation
    options = EngineOptions(n_ctx=2048, kv_cache_gb=1.0)
    model = open_model("demo", options, isolated=True)
    model.wait_ready()
    ask(model, FIRST)
    model.close()  # quitting: the state is saved within the deadline
    assert len(saved_files()) == 1
    model = open_model("demo", options, isolated=True)
    model.wait_ready()
    answer, stats = ask(model, later(first))
    model.save_state()  # leaving the conversation: saved after the turn, in the model process
    model.close()
    assert answer == expected and stats.restored_tokens > 0
    assert len(saved_files()) == 1  # the longer state replaced the one it covers


def chat(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", "import sys; from opencoder_local.cli import chat_main; sys.exit(chat_main())",
         "--model", "demo", "--ctx", "2048", "--max-tokens", "12", *args],
        capture_output=True, text=True, env=os.environ, timeout=600)


def test_one_shot_calls_on_the_same_file_evaluate_it_once(tmp_path):
    (tmp_path / "module.py").write_text(SOURCE)
    first = chat("-f", "module.py", "-p", "What is this module for?")
    assert first.returncode == 0, first.stderr
    [saved] = saved_files()
    os.utime(saved, (1, 1))  # a read touches it: the second call loads it
    second = chat("-f", "module.py", "-p", "Which hash does it use?")
    assert second.returncode == 0, second.stderr
    assert saved.exists() and saved.stat().st_mtime > 1
    config = locations.config_path()
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text("kv_cache_gb = 0\n")
    for path in saved_files():
        path.unlink()
    scratch = chat("-f", "module.py", "-p", "Which hash does it use?")
    assert scratch.stdout == second.stdout
    assert saved_files() == []
