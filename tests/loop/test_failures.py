"""The files a failure names (inside the project only) and the question that asks for a fix."""

from __future__ import annotations

import os

from opencoder_local.context.edits import parse_edits
from opencoder_local.loop.failures import files_in_failure, fix_question
from opencoder_local.loop.run import run_command


def make(root, *names: str) -> None:
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x = 1\n")


def test_python_pytest_and_compiler_forms_in_order_of_mention(tmp_path):
    make(tmp_path, "app/core.py", "tests/test_core.py", "src/main.rs", "main.c", "web/app.js", "pkg/util_test.go",
         "tests/test_other.py")
    output = "\n".join([
        "FAILED tests/test_other.py::test_y - assert 1 == 2",
        "Traceback (most recent call last):",
        f'  File "{tmp_path}/app/core.py", line 3, in f',
        "tests/test_core.py:12: AssertionError",
        "error[E0308]: mismatched types",
        " --> src/main.rs:3:5",
        "main.c:10:3: error: expected ';'",
        "    at Object.<anonymous> (web/app.js:3:9)",
        "    pkg/util_test.go:7: got 1, want 2",
        'File "app/core.py", line 9',  # again: listed once
    ])
    assert files_in_failure(output, tmp_path) == ["tests/test_other.py", "app/core.py", "tests/test_core.py",
                                                  "src/main.rs", "main.c", "web/app.js", "pkg/util_test.go"]


def test_only_regular_files_inside_the_project(tmp_path):
    project = tmp_path / "project"
    make(project, "ok.py", ".venv/lib/python3.12/site-packages/dep.py", "node_modules/lib/index.js")
    make(tmp_path, "outside.py")
    (project / "folder.py").mkdir()
    os.symlink(tmp_path / "outside.py", project / "link_out.py")
    os.symlink(project / "ok.py", project / "link_in.py")
    output = "\n".join([
        f'File "{tmp_path}/outside.py", line 1',
        'File "../outside.py", line 1',
        "link_out.py:3: AssertionError",
        "missing.py:3: AssertionError",
        "folder.py:1: error",
        f'File "{project}/.venv/lib/python3.12/site-packages/dep.py", line 5',
        "node_modules/lib/index.js:1:1",
        'File "/usr/lib/python3.12/unittest/case.py", line 5',
        "link_in.py:2: in test",
    ])
    assert files_in_failure(output, project) == ["ok.py"]  # link_in.py resolves to ok.py


def test_the_list_is_capped(tmp_path):
    names = [f"m{i}.py" for i in range(20)]
    make(tmp_path, *names)
    assert files_in_failure("\n".join(f"{name}:1: E" for name in names), tmp_path, limit=3) == names[:3]


def test_the_fix_question_carries_the_output_and_an_edit_format_the_parser_reads(tmp_path):
    result = run_command("echo 'E   assert 1 == 2'; echo '```'; exit 1", tmp_path)
    question = fix_question(result, result.output.text(), "Please keep the API.")
    assert question.startswith("Please keep the API.\n\nThe command `echo 'E   assert 1 == 2'; echo '```'; exit 1` "
                               "failed (exit 1). Its output:\n\n````\nE   assert 1 == 2\n```\n````")
    assert "<<<<<<< SEARCH" in question and ">>>>>>> REPLACE" in question
    answer = "calc.py\n```python\n<<<<<<< SEARCH\nx = 1\n=======\nx = 2\n>>>>>>> REPLACE\n```\n"
    [edit] = parse_edits(answer, ["calc.py"])
    assert edit.path == "calc.py" and edit.replacements[0].replace == ["x = 2"]
    short = fix_question(result, "out", edit_format=False)
    assert "SEARCH" not in short and short.endswith("Answer with the edits, in the form given above.")
    timed_out = run_command("sleep 5", tmp_path, timeout_s=0.2)
    assert "`sleep 5` did not finish in time and was stopped" in fix_question(timed_out, "")


def test_a_failing_test_brings_the_project_modules_it_imports(tmp_path):
    make(tmp_path, "calc.py", "src/shop/__init__.py", "src/shop/cart.py", "tests/helpers.py", "json.py")
    (tmp_path / "tests" / "test_calc.py").write_text(
        "import os\nimport json as j\nfrom calc import add\nfrom shop.cart import Cart\nfrom . import helpers\n"
        "from outside_pkg import thing\n\ndef test_add():\n    assert add(2, 3) == 5\n")
    output = "tests/test_calc.py:9: AssertionError\nFAILED tests/test_calc.py::test_add - assert -1 == 5\n"
    # named first, then what it imports from the project (a project file named like a module of the
    # standard library counts too: it is the one Python would import from the project's root)
    assert files_in_failure(output, tmp_path) == ["tests/test_calc.py", "json.py", "calc.py", "src/shop/cart.py",
                                                  "tests/helpers.py"]


def test_imports_of_a_file_that_does_not_parse_are_skipped(tmp_path):
    make(tmp_path, "calc.py")
    (tmp_path / "test_bad.py").write_text("from calc import (\n")
    assert files_in_failure("test_bad.py:1: SyntaxError", tmp_path) == ["test_bad.py"]
