"""The code taken from an answer and the program built around it, as OpenCoder's harness does."""

from __future__ import annotations

import ast

from opencoder_local.evaluation.data import Problem
from opencoder_local.evaluation.extract import IMPORTS, longest_parsing_span, program, solution
from opencoder_local.evaluation.sandbox import failure

PROBLEM = Problem("T/0", 'def add(a, b):\n    """Add."""\n', "def check(f):\n    assert f(1, 2) == 3\n", "add")


def test_the_fenced_block_is_taken_and_examples_dropped():
    answer = ("Here you go:\n```python\nimport math\n\ndef add(a, b):\n    return a + b\n\n"
              "print(add(1, 2))\nx = input()\n```\nIt adds.\n")
    assert solution(answer, "add") == "import math\ndef add(a, b):\n    return a + b"


def test_an_answer_cut_inside_its_fence_still_gives_the_code():
    assert solution("```python\ndef add(a, b):\n    return a + b", "add") == "def add(a, b):\n    return a + b"


def test_without_a_fence_the_longest_parsing_span_is_taken():
    answer = "Sure! the function is\ndef add(a, b):\n    return a + b\nThat is all, it works"
    assert solution(answer, "add") == "def add(a, b):\n    return a + b"


def test_helpers_the_entry_point_reaches_stay_and_others_go():
    answer = ("def helper(x):\n    return x\n\ndef unused():\n    return 0\n\n"
              "def add(a, b):\n    return helper(a) + b\n\nclass Other:\n    pass\n")
    kept = solution(answer, "add")
    assert "def helper" in kept and "def add" in kept
    assert "unused" not in kept and "Other" not in kept


def test_a_function_without_return_is_dropped_as_the_harness_does():
    assert solution("def add(a, b):\n    print(a + b)\n", "add") == ""


def test_no_code_at_all_is_empty():
    assert solution("I cannot help with that.", "add") == ""
    assert solution("", "add") == ""


def test_the_longest_span_counts_filled_lines_and_prefers_the_earliest():
    text = "x = (\n\na = 1\nb = 2\n\nnot python at all\nc = 3"
    assert longest_parsing_span(text) == "\na = 1\nb = 2\n"  # two filled lines beat c = 3


def test_the_program_is_imports_prompt_pass_solution_test_check():
    built = program(PROBLEM, "def add(a, b):\n    return a + b")
    assert built.startswith("\n".join(IMPORTS) + "\n" + PROBLEM.prompt + "\n    pass\n\n")
    assert built.endswith(PROBLEM.test + "\ncheck(add)")
    ast.parse(built)


def test_the_reason_is_the_exception_and_an_assertion_is_a_wrong_answer():
    traceback = 'Traceback (most recent call last):\n  File "program.py", line 3\nZeroDivisionError: division by zero\n'
    assert failure(traceback) == "ZeroDivisionError"
    assert failure("Traceback (most recent call last):\nAssertionError\n") == "wrong answer"
    assert failure("Traceback:\nnumpy.linalg.LinAlgError: singular\n") == "LinAlgError"
    assert failure("") == "exit without a traceback"
