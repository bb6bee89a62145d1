"""Prompt lookup's cost table: the same answer whatever the machine's load, a stored table used,
a damaged one ignored with one notice, and `opencoder calibrate` measuring and storing one."""

import json
import os
import subprocess
import sys

import pytest

from opencoder_local import locations
from opencoder_local.engine import EngineOptions
from opencoder_local.engine.lookup import DEFAULT_COSTS, CostTable
from opencoder_local.engine.lookup_costs import store_costs, stored_costs
from opencoder_local.engine.protocol import GenParams, Message
from opencoder_local.models.registry import demo_path, open_model

FILE = "".join(f"def scale_{i}(value):\n    return value * {i} + {i * 7}\n\n" for i in range(12))
COPY = [Message("user", f"Here is `scale.py`:\n```python\n{FILE}```\n"
                        "Rewrite the whole file with scale_5 renamed to grow_5.")]
THREADS = 1
DEAR = CostTable(((2, 2.0), (17, 17.0)))  # a batch costs as much as its tokens one by one: never worth it


def answer(max_tokens: int = 120):
    """A fresh engine's greedy answer to COPY, as the one-shot mode gives it: token ids and stats.
    One thread, default attention: a batch rounds unlike a one-token decode, so batches of other
    sizes would give other tokens (and a second thread would only slow a loaded machine down)."""
    engine = open_model("demo", EngineOptions(n_ctx=1024, n_threads=THREADS, lookup=True), isolated=False)
    try:
        stats = [d.stats for d in engine.stream(COPY, GenParams(max_tokens=max_tokens)) if d.stats][0]
        return list(engine.answer_ids), stats
    finally:
        engine.close()


@pytest.fixture
def cpu_hog():
    """A busy loop in another process, for as long as the test runs."""
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    yield
    hog.kill()
    hog.wait()


def test_the_same_question_gets_the_same_tokens_under_load(cpu_hog):
    runs = [answer() for _ in range(3)]
    ids, stats = runs[0]
    assert stats.drafted_tokens > 0 and stats.accepted_tokens > 20  # it did draft, in batches of several sizes
    for other_ids, other in runs[1:]:
        assert other_ids == ids
        assert (other.drafted_tokens, other.accepted_tokens) == (stats.drafted_tokens, stats.accepted_tokens)


def test_a_stored_table_is_used_for_its_model_and_thread_count():
    model, threads = demo_path(), THREADS
    store_costs(model, threads + 1, DEFAULT_COSTS)
    assert stored_costs(model, threads) is None  # measured on another thread count
    store_costs(model, threads, DEAR)
    assert stored_costs(model, threads) == DEAR and stored_costs(model, threads + 1) == DEFAULT_COSTS
    _, stats = answer()
    assert stats.drafted_tokens == 0  # by the stored table, drafting never pays
    store_costs(model, threads, DEFAULT_COSTS)  # measured again: replaces the table, keeps the other
    assert len(json.loads(locations.lookup_costs_path().read_text())["tables"]) == 2


def test_a_table_for_a_model_file_that_changed_is_not_used(tmp_path):
    model = tmp_path / "model.gguf"
    model.write_bytes(b"weights")
    store_costs(model, 2, DEAR)
    assert stored_costs(model, 2) == DEAR
    os.utime(model, ns=(0, 0))
    assert stored_costs(model, 2) is None
    model.write_bytes(b"other weights")
    assert stored_costs(model, 2) is None


@pytest.mark.parametrize("text", ["{not json", '{"version": 1}', '{"version": 1, "tables": [{"costs": {"2": "x"}}]}',
                                  '{"version": 1, "tables": [{"costs": {"2": -1}}]}', "[]", "\xff\xfe"])
def test_a_damaged_table_file_is_ignored_with_one_notice(tmp_path, capsys, text):
    model = tmp_path / "model.gguf"
    model.write_bytes(b"weights")
    path = locations.lookup_costs_path()
    path.parent.mkdir(parents=True)
    path.write_bytes(text.encode("latin-1"))
    assert stored_costs(model, 2) is None
    assert stored_costs(model, 2) is None
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(path) in err and "opencoder calibrate" in err
    store_costs(model, 2, DEAR)  # measuring again replaces the damaged file
    assert stored_costs(model, 2) == DEAR


def test_an_engine_with_a_damaged_table_answers_by_the_built_in_one(capsys):
    path = locations.lookup_costs_path()
    path.parent.mkdir(parents=True)
    path.write_text('{"version": 1, "tables": [{"costs": {"2": null}}]}')
    ids, stats = answer(max_tokens=60)
    assert stats.generated_tokens == 60 and stats.drafted_tokens > 0
    assert "ignoring" in capsys.readouterr().err


def test_calibrate_measures_and_stores_the_table_the_next_engine_uses():
    result = subprocess.run([sys.executable, "-m", "opencoder_local", "calibrate", "--model", "demo", "--threads", "1"],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert "2 tokens" in result.stdout and str(locations.lookup_costs_path()) in result.stdout
    table = stored_costs(demo_path(), 1)
    assert table is not None and [size for size, _ in table.points] == [2, 4, 8, 17]
    assert all(cost >= 1.0 for _, cost in table.points)
    engine = open_model("demo", EngineOptions(n_ctx=512, n_threads=1, lookup=True), isolated=False)
    try:
        assert engine.lookup_costs == table
    finally:
        engine.close()
