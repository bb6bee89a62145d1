"""Edits found in answers written the way models write them, and the new text they make."""

from __future__ import annotations

import pytest

from opencoder_local.context.edits import EditFailed, ProposedEdit, Replacement, new_text, parse_edits

CALC = "def add(a, b):\n    return a + b\n\n\ndef sub(a, b):\n    return a - b\n"


def test_a_path_line_in_backticks_then_the_whole_file():
    answer = (
        "Sure! Here is `src/calc.py` with type hints added:\n\n"
        "`src/calc.py`\n"
        "```python\n"
        "def add(a: int, b: int) -> int:\n    return a + b\n"
        "```\n\n"
        "The hints tell readers and type checkers what `add` takes."
    )
    [edit] = parse_edits(answer, ["src/calc.py"])
    assert edit == ProposedEdit("src/calc.py", "def add(a: int, b: int) -> int:\n    return a + b\n")


@pytest.mark.parametrize("line", [
    "src/calc.py", "src/calc.py:", "**src/calc.py**", "### src/calc.py", "File: src/calc.py",
    "File `src/calc.py`:", "**File:** `src/calc.py`", "- `./src/calc.py`",
])
def test_the_ways_models_write_a_path_line(line):
    [edit] = parse_edits(f"{line}\n```python\nX = 1\n```\n")
    assert edit.path == "src/calc.py" and edit.whole == "X = 1\n"


@pytest.mark.parametrize("line", ["Example:", "Output:", "Here is the code:", "e.g.", "numpy.ndarray", "v1.2"])
def test_prose_before_a_block_is_not_a_path(line):
    assert parse_edits(f"{line}\n```python\nX = 1\n```\n", ["src/a.py", "src/b.py"]) == []


def test_a_path_in_the_fence_info_string():
    for info in ("python src/util.py", "src/util.py", "python:src/util.py", 'python title="src/util.py"'):
        [edit] = parse_edits(f"Updated:\n\n```{info}\nY = 2\n```\n")
        assert edit.path == "src/util.py", info


def test_an_untied_block_goes_to_the_only_file_of_the_working_set():
    answer = "Here is the improved version:\n\n```python\ndef add(a: int, b: int) -> int:\n    return a + b\n```"
    [edit] = parse_edits(answer, ["src/calc.py"])
    assert edit.path == "src/calc.py" and edit.whole.startswith("def add(a: int")
    assert parse_edits(answer, ["src/calc.py", "src/util.py"]) == []  # which one? neither
    assert parse_edits(answer, []) == []


def test_the_only_file_takes_only_a_block_in_its_language_and_only_one():
    shell = "Run it with:\n\n```bash\npython src/calc.py\n```\n"
    assert parse_edits(shell, ["src/calc.py"]) == []
    code_then_usage = "```python\ndef add(a, b): ...\n```\n\nUsage:\n\n```python\nprint(add(1, 2))\n```\n"
    assert parse_edits(code_then_usage, ["src/calc.py"]) == []  # two candidates: plain code, not a guess
    with_shell = "```python\nX = 1\n```\n\n```bash\npython src/calc.py\n```\n"
    assert [e.path for e in parse_edits(with_shell, ["src/calc.py"])] == ["src/calc.py"]


def test_a_block_for_a_file_not_in_the_working_set_is_an_edit_for_it():
    answer = "Add a test too:\n\ntests/test_calc.py\n```python\nfrom calc import add\n```\n"
    [edit] = parse_edits(answer, ["src/calc.py"])
    assert edit.path == "tests/test_calc.py" and edit.whole == "from calc import add\n"


def test_several_files_in_one_answer_in_order_and_a_later_block_wins():
    answer = ("a.py\n```python\nA = 1\n```\n\nb.py\n```python\nB = 1\n```\n\n"
              "Actually, better:\n\na.py\n```python\nA = 2\n```\n")
    edits = parse_edits(answer)
    assert [(e.path, e.whole) for e in edits] == [("a.py", "A = 2\n"), ("b.py", "B = 1\n")]


def test_an_answer_that_ends_without_a_newline_or_inside_its_block():
    closed = "calc.py\n```python\nX = 1\n```"  # the answer's last characters are the fence
    assert parse_edits(closed)[0].whole == "X = 1\n"
    [cut] = parse_edits("calc.py\n```python\ndef add(a, b):\n    return")
    assert cut.problem is not None and "cut off" in cut.problem
    with pytest.raises(EditFailed, match="cut off"):
        new_text(cut, CALC)


def test_an_answer_with_crlf_line_ends():
    [edit] = parse_edits("calc.py\r\n```python\r\nX = 1\r\nY = 2\r\n```\r\n")
    assert edit.whole == "X = 1\nY = 2\n"


def test_a_file_without_a_final_newline_keeps_it_that_way():
    edit = ProposedEdit("calc.py", "X = 2\n")
    assert new_text(edit, "X = 1") == "X = 2"
    assert new_text(edit, "X = 1\n") == "X = 2\n"
    assert new_text(edit, None) == "X = 2\n"


SEARCH_REPLACE = """I'll change only `sub`:

src/calc.py
```python
<<<<<<< SEARCH
def sub(a, b):
    return a - b
=======
def sub(a: int, b: int) -> int:
    return a - b
>>>>>>> REPLACE
```
"""


def test_search_replace_blocks():
    [edit] = parse_edits(SEARCH_REPLACE, ["src/calc.py"])
    assert edit.whole is None and edit.replacements == (
        Replacement(["def sub(a, b):", "    return a - b"], ["def sub(a: int, b: int) -> int:", "    return a - b"]),)
    assert new_text(edit, CALC) == CALC.replace("def sub(a, b):", "def sub(a: int, b: int) -> int:")


def test_several_search_blocks_in_one_fence_and_in_the_next_fence_without_a_path():
    answer = (
        "calc.py\n```python\n<<<<<<< SEARCH\ndef add(a, b):\n=======\ndef add(a: int, b: int) -> int:\n"
        ">>>>>>> REPLACE\n<<<<<<< SEARCH\ndef sub(a, b):\n=======\ndef sub(a: int, b: int) -> int:\n"
        ">>>>>>> REPLACE\n```\n\nAnd a new function:\n\n```python\n<<<<<<< SEARCH\n=======\n\n\n"
        "def mul(a: int, b: int) -> int:\n    return a * b\n>>>>>>> REPLACE\n```\n"
    )
    [edit] = parse_edits(answer, ["calc.py", "other.py"])
    assert len(edit.replacements) == 3
    text = new_text(edit, CALC)
    assert "def add(a: int, b: int) -> int:" in text and "def sub(a: int, b: int) -> int:" in text
    assert text.endswith("    return a - b\n\n\ndef mul(a: int, b: int) -> int:\n    return a * b\n")


def test_a_search_block_indented_differently_gets_one_tolerant_retry():
    source = "class Calc:\n    def sub(self, a, b):\n        return a - b\n"
    edit = ProposedEdit("calc.py", replacements=(
        Replacement(["def sub(self, a, b):", "    return a - b"], ["def sub(self, a: int, b: int) -> int:",
                                                                   "    return a - b"]),))
    assert new_text(edit, source) == "class Calc:\n    def sub(self, a: int, b: int) -> int:\n        return a - b\n"


def test_a_search_block_that_does_not_match_names_itself():
    answer = SEARCH_REPLACE.replace(">>>>>>> REPLACE\n```", ">>>>>>> REPLACE\n<<<<<<< SEARCH\ndef mul(a, b):\n"
                                    "=======\ndef mul(a: int, b: int):\n>>>>>>> REPLACE\n```")
    [edit] = parse_edits(answer)
    with pytest.raises(EditFailed, match="SEARCH block 2 of 2 does not match the file") as failed:
        new_text(edit, CALC)
    assert failed.value.block == 2


def test_an_incomplete_search_block_and_search_blocks_for_a_missing_file():
    [broken] = parse_edits("calc.py\n```python\n<<<<<<< SEARCH\ndef add(a, b):\n>>>>>>> REPLACE\n```\n")
    with pytest.raises(EditFailed, match="block 1 is incomplete"):
        new_text(broken, CALC)
    [edit] = parse_edits(SEARCH_REPLACE)
    with pytest.raises(EditFailed, match="no such file"):
        new_text(edit, None)


def test_plain_code_without_a_target_stays_plain_code():
    answer = "A generator yields values lazily:\n\n```python\ndef count(n):\n    yield from range(n)\n```\n"
    assert parse_edits(answer) == []


TWICE = "def add(a, b):\n    return a + b\n\n\ndef mul(a, b):\n    return a + b\n"


@pytest.mark.parametrize("search", [["    return a + b"], ["return a + b"]])  # exact, and the tolerant retry
def test_a_search_block_that_matches_several_places_is_refused_not_guessed(search):
    edit = ProposedEdit("calc.py", replacements=(Replacement(search, ["    return a * b"]),))
    with pytest.raises(EditFailed, match=r"SEARCH block 1 matches 2 places in the file \(lines 2, 6\)") as failed:
        new_text(edit, TWICE)
    assert failed.value.block == 1


def test_a_search_block_made_unique_by_its_context_is_applied():
    edit = ProposedEdit("calc.py", replacements=(
        Replacement(["def mul(a, b):", "    return a + b"], ["def mul(a, b):", "    return a * b"]),))
    assert new_text(edit, TWICE) == TWICE[: TWICE.rindex("+")] + "* b\n"


@pytest.mark.parametrize("before", [
    "`secret.env`",
    "secret.env:",
    "Here is `secret.env`:\n",
    "File: config/secret.env",
])
def test_a_block_that_names_another_file_is_never_given_to_the_only_file(before):
    answer = f"{before}\n```\nSECRET=hunter2\n```\n"
    assert [edit.path for edit in parse_edits(answer, ["a.py"]) if edit.path == "a.py"] == []


def test_a_block_whose_info_string_names_another_file_is_not_the_only_files():
    assert parse_edits("```ini title=secret.env\nSECRET=1\n```\n", ["a.py"]) == []
    for prose in ("The new `add` function:", "Use `os.rm` to delete the file. Here's how to do it:"):
        [edit] = parse_edits(f"{prose}\n```python\nX = 1\n```\n", ["a.py"])  # no file named last
        assert edit.path == "a.py"
