"""The project map in a chat on the demo model: exact parts, the same map (and a reused KV cache) for a
follow-up about the same thing, a new map for a question that names something new."""

from __future__ import annotations

import pytest

from opencoder_local.context.repo_map import MAP_HEADER
from opencoder_local.context.session import ChatSession
from opencoder_local.context.window import text_counter
from opencoder_local.engine.protocol import GenParams
from opencoder_local.store import Store

pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def demo():
    from opencoder_local.engine import EngineOptions
    from opencoder_local.models.registry import open_model

    return open_model("demo", EngineOptions(n_ctx=4096), isolated=False)


@pytest.fixture
def project(tmp_path):
    root = tmp_path / "project"
    root.mkdir()
    (root / "tax.py").write_text("def compute_tax_bracket(income):\n    return income // 10_000\n")
    (root / "payroll.py").write_text("from tax import compute_tax_bracket\n\n\ndef run_payroll(salary):\n"
                                     "    return salary - compute_tax_bracket(salary)\n")
    for i in range(30):
        (root / f"util_{i:02}.py").write_text("".join(f"def util_{i}_{j}(x):\n    return x\n\n" for j in range(6)))
    return root


def session_on(demo, project, map_tokens=None) -> ChatSession:
    session = ChatSession(Store.open(":memory:"), GenParams(max_tokens=8), project=project, map_tokens=map_tokens)
    session.engine = demo
    return session


def stats_of(session: ChatSession):
    return [d.stats for d in session.answer() if d.stats is not None][-1]


def test_the_map_is_its_own_exact_part_after_the_files_and_within_its_budget(demo, project):
    session = session_on(demo, project, map_tokens=300)
    session.add_files(["payroll.py"])
    prompt = session.prompt("Where is compute_tax_bracket defined?")
    parts = prompt.parts
    assert 0 < parts["map"] <= 300
    assert parts["system"] + parts["files"] + parts["map"] + parts["history"] == prompt.budget.prompt_tokens
    first = prompt.messages[-1].content
    files_at, map_at = first.index("File `payroll.py`"), first.index(MAP_HEADER)
    assert files_at < map_at < first.index("Where is compute_tax_bracket defined?")
    assert "tax.py:\n  def compute_tax_bracket(income):" in first and "payroll.py:\n" not in first
    assert text_counter(demo)(session.repo_map("Where is compute_tax_bracket defined?").text) <= 300


def test_a_follow_up_gets_the_same_map_and_reuses_the_cache_a_new_name_changes_it(demo, project):
    session = session_on(demo, project)
    session.add_user("What does compute_tax_bracket return?")
    first_map = session.repo_map()
    first = stats_of(session)
    assert session.repo_map("And why is that?") == first_map  # no new name: the same map, byte for byte
    session.add_user("And why is that?")
    follow = stats_of(session)
    new_tokens = follow.prompt_tokens - first.prompt_tokens - first.generated_tokens
    assert follow.evaluated_tokens <= new_tokens + 8 < follow.prompt_tokens // 2
    moved = session.repo_map("What does util_7_3 do?")
    assert moved.text != first_map.text and moved.files[0] == "util_07.py"


def test_no_map_when_it_is_off(demo, project):
    session = session_on(demo, project, map_tokens=0)
    prompt = session.prompt("Where is compute_tax_bracket defined?")
    assert prompt.parts["map"] == 0 and MAP_HEADER not in prompt.messages[-1].content
    assert session.suggested_files("compute_tax_bracket") == []


def test_suggestions_are_the_best_files_for_the_draft_not_in_the_working_set(demo, project):
    session = session_on(demo, project)
    session.add_files(["tax.py"])
    assert session.suggested_files("Who calls compute_tax_bracket?")[0] == "payroll.py"
    assert session.suggested_files("hello there") == []
