"""Streaming, stopping, cancelling and KV-cache reuse on the real demo model."""

import threading

import pytest

from opencoder_local.engine import EngineOptions
from opencoder_local.engine.prompt_format import ContextFullError
from opencoder_local.models.registry import open_model
from opencoder_local.engine.protocol import GenParams, Message

QUESTION = [Message("user", "Write a Python function that reverses a string")]


def run(engine, messages, **params):
    text, stats = "", None
    for delta in engine.stream(messages, GenParams(**params)):
        text += delta.text
        stats = delta.stats or stats
    return text, stats


def test_answers_a_coding_question_with_code_and_stops_at_end_of_turn(demo):
    text, stats = run(demo, QUESTION)
    assert "def " in text and "```" in text
    assert stats.stop_reason == "stop"
    assert "<|im_end|>" not in text and "<|im_start|>" not in text
    assert stats.prompt_tokens == demo.count(QUESTION).prompt_tokens
    assert stats.generated_tokens > 10 and stats.gen_tok_s > 0 and stats.ttft_s > 0


def test_greedy_is_deterministic_and_max_tokens_is_a_length_stop(demo):
    first, stats = run(demo, QUESTION, max_tokens=12)
    second, _ = run(demo, QUESTION, max_tokens=12)
    assert first == second
    assert stats.stop_reason == "length" and stats.generated_tokens == 12


def test_follow_up_turn_evaluates_only_its_new_tokens(demo):
    answer, first = run(demo, QUESTION, max_tokens=40)
    follow_up = QUESTION + [Message("assistant", answer), Message("user", "Now write it in C.")]
    _, second = run(demo, follow_up, max_tokens=5)
    assert second.reused_tokens >= first.prompt_tokens
    new_part = demo.count(follow_up).prompt_tokens - first.prompt_tokens
    # Only the tail (the answer as re-rendered, the new question) is evaluated again.
    assert second.evaluated_tokens <= new_part


def test_cancel_stops_within_one_token_and_keeps_the_engine_usable(demo):
    reference, _ = run(demo, QUESTION, max_tokens=30)
    seen = []
    for delta in demo.stream(QUESTION, GenParams(max_tokens=200)):
        if delta.stats:
            stats = delta.stats
            break
        seen.append(delta.text)
        if len(seen) == 5:
            demo.cancel()
    assert stats.stop_reason == "cancelled"
    assert len(seen) == 5  # not one more token after the cancel
    again, after = run(demo, QUESTION, max_tokens=30)
    assert again == reference and after.stop_reason == "length"


def test_cancel_aborts_a_long_prompt_evaluation(demo):
    long_question = [Message("user", "Explain this code:\n" + "x = compute(x, y) + 1\n" * 300)]
    assert demo.count(long_question).prompt_tokens > 2500
    timer = threading.Timer(0.05, demo.cancel)
    timer.start()
    _, stats = run(demo, long_question, max_tokens=5)
    timer.join()
    assert stats.stop_reason == "cancelled" and stats.generated_tokens == 0
    text, stats = run(demo, QUESTION, max_tokens=30)
    reference_engine = open_model("demo", EngineOptions(n_ctx=4096), isolated=False)
    reference, _ = run(reference_engine, QUESTION, max_tokens=30)
    assert text == reference


def test_a_prompt_that_cannot_fit_raises_with_the_numbers():
    small = open_model("demo", EngineOptions(n_ctx=64), isolated=False)
    big = [Message("user", "word " * 200)]
    with pytest.raises(ContextFullError) as err:
        list(small.stream(big, GenParams()))
    assert err.value.n_ctx == 64
    assert err.value.prompt_tokens == small.count(big).prompt_tokens > 64
    assert "64" in str(err.value)


def test_answer_is_capped_by_the_remaining_window():
    small = open_model("demo", EngineOptions(n_ctx=128), isolated=False)
    budget = small.count(QUESTION)
    _, stats = run(small, QUESTION)
    assert stats.generated_tokens <= budget.remaining
    assert budget.remaining == 128 - budget.prompt_tokens


def test_defaults_come_from_the_model_and_the_machine():
    from opencoder_local.engine.threads import default_threads

    engine = open_model("demo", isolated=False)
    assert engine.n_ctx == 8192  # the GGUF's llama.context_length
    assert engine.n_threads == default_threads() >= 1
    assert engine.backend == "CPU"  # no GPU on these machines; Metal/CUDA when offload is built in
    assert engine.quantization == "Q4_1" and engine.chat_mode


def test_a_cancel_after_stream_returns_stops_the_turn_before_its_prompt_runs(demo):
    turn = demo.stream(QUESTION, GenParams(max_tokens=50))
    demo.cancel()  # e.g. Esc pressed before the worker thread took the first delta
    deltas = list(turn)
    assert len(deltas) == 1 and deltas[0].stats.stop_reason == "cancelled"
    assert deltas[0].stats.generated_tokens == 0


def test_a_cancel_between_turns_does_not_poison_the_next_one(demo):
    demo.cancel()
    _, stats = run(demo, QUESTION, max_tokens=5)
    assert stats.stop_reason == "length" and stats.generated_tokens == 5


def test_context_full_is_raised_when_the_turn_is_asked_for():
    small = open_model("demo", EngineOptions(n_ctx=64), isolated=False)
    with pytest.raises(ContextFullError):
        small.stream([Message("user", "word " * 200)], GenParams())  # no iteration needed


def test_templates_see_the_models_bos_and_eos_tokens(demo):
    from opencoder_local.engine.prompt_format import build_prompt

    template = "{{ bos_token }}{% for m in messages %}[{{ m['content'] }}]{{ eos_token }}{% endfor %}"
    ids = build_prompt(demo.vocab, template, [Message("user", "a"), Message("assistant", "b")])
    assert ids[0] == demo.vocab.bos_id and ids.count(demo.vocab.bos_id) == 1
    eos = demo.vocab.specials[demo.vocab.eos_text]
    assert ids.count(eos) == 2 and ids[-1] == eos


def test_thread_counts_are_checked():
    from opencoder_local.errors import UserError

    for bad in (-1, 100_000):
        with pytest.raises(UserError, match="--threads"):
            open_model("demo", EngineOptions(n_threads=bad), isolated=False)
