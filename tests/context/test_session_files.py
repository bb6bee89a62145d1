"""The working set in the prompt on the demo model: exact counts, the KV cache reused across turns,
history cut in steps, and the set saved and restored with the conversation."""

from __future__ import annotations

import sqlite3

import pytest

from opencoder_local.context.session import ChatSession
from opencoder_local.context.window import fit_to_window, text_counter
from opencoder_local.context.edits import EDIT_INSTRUCTIONS
from opencoder_local.context.working_set import FILES_HEADER
from opencoder_local.engine.protocol import ContextBudget, GenParams, Message
from opencoder_local.store import Store


@pytest.fixture(scope="module")
def demo():
    from opencoder_local.engine import EngineOptions
    from opencoder_local.models.registry import open_model

    return open_model("demo", EngineOptions(n_ctx=4096), isolated=False)


def source(name: str, lines: int) -> str:
    """About 22 tokens a line of plausible Python."""
    return "".join(f"def {name}_{i}(value):\n    return value * {i} + {i * 7}\n\n" for i in range(lines))


@pytest.fixture
def project(tmp_path):
    root = tmp_path / "project"
    root.mkdir()
    (root / "alpha.py").write_text(source("alpha", 25))
    (root / "beta.py").write_text(source("beta", 25))
    return root


def session_on(demo, project, max_tokens=8) -> ChatSession:
    session = ChatSession(Store.open(":memory:"), GenParams(max_tokens=max_tokens), project=project)
    session.engine = demo
    return session


def stats_of(session: ChatSession):
    return [d.stats for d in session.answer() if d.stats is not None][-1]


def test_counts_are_the_engines_and_the_parts_add_up_to_the_prompt(demo, project):
    session = session_on(demo, project)
    result = session.add_files(["alpha.py", "beta.py"])
    assert [e.path for e in result.added] == ["alpha.py", "beta.py"] and not result.refused
    count_text = text_counter(demo)
    for entry in session.working_set.entries():
        assert entry.tokens == count_text(session.working_set.block(entry)) > 450
    prompt = session.prompt("What do these files do?")
    parts = prompt.parts
    assert parts["system"] + parts["files"] + parts["history"] == prompt.budget.prompt_tokens
    assert prompt.budget == demo.count(prompt.messages)
    assert parts["system"] == demo.count([Message("user", "")]).prompt_tokens  # the default system prompt included
    assert parts["files"] == demo.count([Message("user", session.working_set.message())]).prompt_tokens - parts["system"]
    assert parts["files"] == count_text(session.working_set.message())
    blocks = session.working_set.total_tokens()
    header = count_text(FILES_HEADER) + count_text(EDIT_INSTRUCTIONS)
    assert blocks < parts["files"] <= blocks + header + 6  # blocks joined under one header line, then how to edit
    assert parts["reserve"] == 8


def test_the_question_is_saved_as_typed_and_the_files_lead_the_first_message(demo, project):
    session = session_on(demo, project)
    session.add_files(["alpha.py"])
    session.add_user("Explain alpha.")
    assert session.store.messages(session.conversation.id)[0].content == "Explain alpha."
    first = session.prompt().messages[0]
    assert first.role == "user" and first.content.endswith("\n\nExplain alpha.")
    assert "File `alpha.py`:\n```python\ndef alpha_0(value):" in first.content


def test_a_follow_up_with_unchanged_files_evaluates_only_its_new_tokens(demo, project):
    session = session_on(demo, project)
    session.add_files(["alpha.py", "beta.py"])
    session.add_user("What does alpha_3 return?")
    first = stats_of(session)
    session.add_user("And beta_4?")
    follow_up = stats_of(session)
    new_tokens = follow_up.prompt_tokens - first.prompt_tokens - first.generated_tokens
    assert follow_up.reused_tokens >= first.prompt_tokens > 900
    assert follow_up.evaluated_tokens <= new_tokens + 2  # the answer's last token was sampled, never decoded


def test_an_edit_re_evaluates_from_that_file_on_and_the_edited_file_moves_last(demo, project):
    session = session_on(demo, project)
    session.add_files(["alpha.py", "beta.py"])
    session.add_user("What does alpha_3 return?")
    stats_of(session)

    def edit(name: str, old: str, new: str) -> None:
        path = project / name
        path.write_text(path.read_text().replace(old, new))
        (changed,) = session.working_set.refresh([path])
        assert changed.state == "changed" and changed.path == name

    edit("beta.py", "* 3 +", "* 33 +")  # the last file: everything before it stays in the cache
    session.add_user("And now?")
    alpha = session.working_set.entries()[0]
    assert alpha.path == "alpha.py" and stats_of(session).reused_tokens >= alpha.tokens
    edit("alpha.py", "* 4 +", "* 44 +")  # the first file: it moves last, so its next edit costs only itself
    assert [e.path for e in session.working_set.entries()] == ["beta.py", "alpha.py"]
    session.add_user("And now?")
    stats_of(session)
    edit("alpha.py", "* 5 +", "* 55 +")
    session.add_user("And now?")
    beta = session.working_set.entries()[0]
    stats = stats_of(session)
    assert beta.path == "beta.py" and stats.reused_tokens >= beta.tokens
    assert [e.state for e in session.working_set.entries()] == ["current", "current"]


def words(n_ctx):
    return lambda messages: ContextBudget(sum(len(m.content.split()) + 2 for m in messages), n_ctx)


def test_history_is_cut_a_quarter_window_at_a_time_and_the_cut_is_kept_while_it_fits():
    files = "FILES " * 50
    history: list[Message] = []
    cuts = []
    start = 0
    for turn in range(40):
        history += [Message("user", f"question {turn} " * 5), Message("assistant", "answer " * 10)]
        prompt = fit_to_window(words(400), "system", history + [Message("user", "new")], 40, files, start)
        assert prompt.budget.prompt_tokens <= 400 - 40
        assert prompt.messages[0] == Message("system", "system")
        assert prompt.messages[1].content.startswith(files.strip())  # the files are never cut
        assert prompt.messages[-1] == Message("user", "new")
        assert prompt.messages[1].content.endswith(history[prompt.dropped].content)  # whole exchanges
        start = prompt.dropped
        cuts.append(start)
    moves = sum(1 for a, b in zip(cuts, cuts[1:]) if a != b)
    assert cuts[-1] > 0 and moves <= len(cuts) // 4  # most turns keep the cut: the cache stays valid


def test_the_working_set_is_saved_with_the_conversation_and_restored(demo, project, tmp_path):
    store = Store.open(tmp_path / "conversations.sqlite3")
    session = ChatSession(store, GenParams(max_tokens=4), project=project)
    session.engine = demo
    session.add_files(["alpha.py", "beta.py:1-6"])  # before the conversation exists
    session.add_user("Hello")
    session.drop_files("alpha.py")
    session.add_files(["alpha.py:4-9"])
    assert store.working_set(session.conversation.id) == ["beta.py:1-6", "alpha.py:4-9"]
    (project / "beta.py").unlink()
    again = ChatSession(Store.open(tmp_path / "conversations.sqlite3"), GenParams(), project=project)
    assert again.open(session.conversation.id)
    assert [(e.spec, e.state) for e in again.working_set.entries()] == [("beta.py:1-6", "missing"),
                                                                        ("alpha.py:4-9", "current")]
    again.new()
    assert again.working_set.entries() == []


def test_a_database_from_before_working_sets_is_migrated(tmp_path):
    path = tmp_path / "old.sqlite3"
    from opencoder_local.store.migrations import MIGRATIONS

    db = sqlite3.connect(path)
    MIGRATIONS[0](db)
    db.execute("INSERT INTO conversations (title, model, created, updated) VALUES ('old', '', 0, 0)")
    db.execute("PRAGMA user_version = 1")
    db.commit()
    db.close()
    store = Store.open(path)
    assert store.working_set(1) == []
    store.save_working_set(1, ["a.py"])
    assert store.working_set(1) == ["a.py"]
    store.delete(1)
    assert store.working_set(1) == []
