"""`opencoder eval humaneval --model demo --limit 3`: the real demo model, the real sandbox, the table."""

from __future__ import annotations

import json

import pytest

from opencoder_local.cli import main


@pytest.mark.model
def test_three_problems_on_the_demo_model(tmp_path, capsys):
    out = tmp_path / "demo.jsonl"
    assert main(["eval", "humaneval", "--model", "demo", "--limit", "3", "--out", str(out), "--threads", "1"]) == 0
    printed = capsys.readouterr().out
    assert "pass@1" in printed and "/3 = " in printed
    demo_line = next(line for line in printed.splitlines() if line.startswith("demo"))
    assert demo_line.rstrip().endswith("-")  # not OpenCoder: no published figure beside it
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["task_id"] for r in rows] == ["HumanEval/0", "HumanEval/1", "HumanEval/2"]
    assert all(r["tokens"] > 0 and (r["passed"] or r["reason"]) for r in rows)
    assert main(["eval", "humaneval", "--model", "demo", "--limit", "3", "--out", str(out)]) == 0  # resumed
    assert len(out.read_text().splitlines()) == 3


def test_a_limit_below_one_is_one_line(capsys):
    assert main(["eval", "humaneval", "--model", "demo", "--limit", "0"]) == 1
    assert capsys.readouterr().err.strip() == "opencoder: error: --limit must be a whole number of problems, at least 1"
