"""Prompt lookup on the real demo model: the same tokens as plain greedy decoding, fewer steps.

Both engines run flash attention on one thread: only then does this llama.cpp compute each row of a
batch exactly as a one-token decode (for the demo's Q4_1 and Q8_0 weights; bench/batch_rounding.py),
so a difference here is the lookup's own. No cost table is stored in a test's data folder, so the
lookup engines draft by the built-in one: what they draft never depends on the machine's load.
"""

import pytest

from opencoder_local.engine import EngineOptions
from opencoder_local.models.registry import open_model
from opencoder_local.engine.lookup import DEFAULT_COSTS
from opencoder_local.engine.protocol import GenParams, Message

FILE = "".join(f"def scale_{i}(value):\n    return value * {i} + {i * 7}\n\n" for i in range(12))
COPY = [Message("user", f"Here is `scale.py`:\n```python\n{FILE}```\n"
                        "Rewrite the whole file with scale_5 renamed to grow_5.")]
FREE = [Message("user", "Explain what a hash map is.")]


def engine(lookup: bool, n_ctx: int = 2048):
    opened = open_model("demo", EngineOptions(n_ctx=n_ctx, n_threads=1, lookup=lookup, flash_attn=True), isolated=False)
    assert opened.lookup_costs == DEFAULT_COSTS
    return opened


@pytest.fixture(scope="module")
def plain():
    return engine(lookup=False)


@pytest.fixture(scope="module")
def lookup():
    return engine(lookup=True)


def run(engine, messages, **params):
    """The answer's pieces (one per token that completes text) and the turn's stats."""
    pieces, stats = [], None
    for delta in engine.stream(messages, GenParams(**params)):
        if delta.stats is None:
            pieces.append(delta.text)
        stats = delta.stats or stats
    return pieces, stats


def same_answer(plain, lookup, messages, **params):
    expected, reference = run(plain, messages, **params)
    pieces, stats = run(lookup, messages, **params)
    assert pieces == expected
    assert (stats.generated_tokens, stats.stop_reason) == (reference.generated_tokens, reference.stop_reason)
    assert reference.drafted_tokens == reference.accepted_tokens == 0
    return "".join(pieces), stats


def test_an_answer_that_copies_a_file_is_the_same_and_partly_drafted_from_it(plain, lookup):
    text, stats = same_answer(plain, lookup, COPY, max_tokens=200)
    assert "def scale_" in text
    assert 20 < stats.accepted_tokens <= stats.drafted_tokens


def test_a_free_form_answer_is_the_same(plain, lookup):
    same_answer(plain, lookup, FREE, max_tokens=160)


def test_every_turn_of_a_conversation_is_the_same(plain, lookup):
    messages = list(COPY)
    for question in ("Now rename scale_2 to grow_2 as well.", "Which function did you rename first?"):
        text, stats = same_answer(plain, lookup, messages, max_tokens=120)
        assert stats.reused_tokens > 0  # the KV cache, drafts removed, serves the next turn
        messages += [Message("assistant", text), Message("user", question)]
    same_answer(plain, lookup, messages, max_tokens=120)


def test_a_draft_that_runs_past_the_end_of_the_answer_stops_at_the_stop_token(plain, lookup):
    # The model repeats its earlier answer, so the draft runs on through <|im_end|> into the next turn.
    said = "The capital of France is Paris."
    messages = [Message("user", "What is the capital of France? One sentence."), Message("assistant", said),
                Message("user", "What is the capital of France? One sentence.")]
    text, stats = same_answer(plain, lookup, messages)
    assert stats.stop_reason == "stop" and stats.drafted_tokens > 0
    same_answer(plain, lookup, messages + [Message("assistant", text), Message("user", "And of Italy?")],
                max_tokens=40)


@pytest.mark.parametrize("max_tokens", [1, 2, 37])
def test_max_tokens_ends_the_answer_inside_a_draft(plain, lookup, max_tokens):
    _, stats = same_answer(plain, lookup, COPY, max_tokens=max_tokens)
    assert stats.generated_tokens == max_tokens and stats.stop_reason == "length"


def test_a_cancel_mid_batch_stops_at_once_and_the_next_turn_is_unchanged(plain, lookup):
    reference, _ = run(plain, COPY, max_tokens=120)
    seen = []
    for delta in lookup.stream(COPY, GenParams(max_tokens=400)):
        if delta.stats:
            stats = delta.stats
            break
        seen.append(delta.text)
        if len(seen) == 60:  # by now the answer is copying the file: these tokens came in batches
            lookup.cancel()
    assert len(seen) == 60 and stats.stop_reason == "cancelled" and stats.accepted_tokens > 0
    assert seen == reference[:60]
    again, _ = run(lookup, COPY, max_tokens=120)
    assert again == reference


def test_an_answer_that_fills_the_context_window_is_the_same():
    small_plain, small_lookup = engine(lookup=False, n_ctx=380), engine(lookup=True, n_ctx=380)
    budget = small_plain.count(COPY)
    assert 0 < budget.remaining < 120
    _, stats = same_answer(small_plain, small_lookup, COPY)
    assert stats.generated_tokens == budget.remaining and stats.stop_reason == "length"
    assert stats.drafted_tokens > 0


def test_sampling_keeps_plain_decoding(lookup):
    _, stats = run(lookup, COPY, max_tokens=40, temperature=0.7, seed=1)
    assert stats.generated_tokens == 40 and stats.drafted_tokens == 0


def test_the_model_process_answers_the_same_and_reports_its_drafts(plain):
    from opencoder_local.models.registry import open_model

    child = open_model("demo", EngineOptions(n_ctx=2048, n_threads=1, lookup=True, flash_attn=True))
    try:
        child.wait_ready()
        text, stats = "", None
        for delta in child.stream(COPY, GenParams(max_tokens=120)):
            text += delta.text
            stats = delta.stats or stats
    finally:
        child.close()
    expected, _ = run(plain, COPY, max_tokens=120)
    assert text == "".join(expected)
    assert 0 < stats.accepted_tokens <= stats.drafted_tokens  # by the built-in table, as in this process
