"""The prompts and stop words of OpenCoder's harness, and an answer cut at its first stop word."""

from __future__ import annotations

from opencoder_local.evaluation.data import humaneval
from opencoder_local.evaluation.prompts import COMPLETION_STOPS, GENERAL_STOPS, prompt_for
from opencoder_local.evaluation.run import answer
from scripted_engine import ScriptedEngine


def test_humaneval_is_the_164_problems_of_the_package():
    problems = humaneval()
    assert len(problems) == 164
    assert problems[0].task_id == "HumanEval/0" and problems[0].entry_point == "has_close_elements"


def test_an_instruct_model_gets_the_harness_message():
    problem = humaneval()[2]
    prompt = prompt_for(problem, chat=True)
    assert prompt.text == ("Please provide a self-contained Python script that solves the following problem in a "
                           "markdown code block:\n```python\n" + problem.prompt.strip() + "\n\n```\n")
    assert prompt.stops == GENERAL_STOPS and "\n```\n" in prompt.stops


def test_a_base_model_completes_the_prompt_and_stops_at_the_next_definition():
    problem = humaneval()[2]
    prompt = prompt_for(problem, chat=False)
    assert prompt.text == problem.prompt.strip() + "\n"
    assert set(COMPLETION_STOPS) | set(GENERAL_STOPS) == set(prompt.stops)


def test_an_answer_stops_at_a_stop_word_split_across_pieces_and_cancels_the_turn():
    engine = ScriptedEngine(["    return a", " + b\n", "\nde", "f main(", "):\n    pass\n"], chat=False)
    text, tokens = answer(engine, prompt_for(humaneval()[0], chat=False), 100)
    assert text == "    return a + b\n"
    assert engine.cancelled and tokens == 5
