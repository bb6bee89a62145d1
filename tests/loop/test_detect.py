"""The project's test command: .opencoder.toml, then the user's config, then what the project shows."""

from __future__ import annotations

import json

import pytest

from opencoder_local.errors import UserError
from opencoder_local.loop.test_command import find_test_command
from opencoder_local.settings import load_config


def write(root, name: str, text: str = "") -> None:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


PYTEST = ("-m pytest",)
CASES = {
    "nothing": ({}, None),
    "tests folder with python": ({"tests/test_a.py": ""}, PYTEST),
    "test folder with python": ({"test/test_a.py": ""}, PYTEST),
    "tests folder without python": ({"tests/data.txt": ""}, None),
    "pytest.ini": ({"pytest.ini": "[pytest]\n"}, PYTEST),
    "conftest.py": ({"conftest.py": ""}, PYTEST),
    "pyproject pytest section": ({"pyproject.toml": "[tool.pytest.ini_options]\naddopts = '-q'\n"}, PYTEST),
    "pyproject without pytest": ({"pyproject.toml": "[project]\nname = 'x'\n"}, None),
    "malformed pyproject": ({"pyproject.toml": "[[[", "tests/test_a.py": ""}, PYTEST),
    "setup.cfg tool:pytest": ({"setup.cfg": "[tool:pytest]\ntestpaths = t\n"}, PYTEST),
    "tox.ini pytest": ({"tox.ini": "[tox]\n[pytest]\naddopts = -q\n"}, PYTEST),
    "package.json test script": ({"package.json": json.dumps({"scripts": {"test": "jest"}}), "test/a.py": ""},
                                 ("npm test",)),
    "package.json npm init placeholder": (
        {"package.json": json.dumps({"scripts": {"test": 'echo "Error: no test specified" && exit 1'}})}, None),
    "package.json malformed": ({"package.json": "{"}, None),
    "Cargo.toml": ({"Cargo.toml": "[package]\nname = 'x'\n"}, ("cargo test",)),
    "go.mod": ({"go.mod": "module x\n"}, ("go test ./...",)),
    "Makefile test target": ({"Makefile": "all:\n\techo\n\ntest: all\n\tpytest\n"}, ("make test",)),
    "Makefile without test target": ({"Makefile": "all:\n\techo\ntest_dir := x\n"}, None),
    "venv's python": ({"tests/test_a.py": "", ".venv/bin/python": ""}, (".venv/bin/python -m pytest",)),
}


@pytest.mark.parametrize("files, expected", CASES.values(), ids=CASES.keys())
def test_detection(tmp_path, files, expected):
    for name, text in files.items():
        write(tmp_path, name, text)
    found = find_test_command(tmp_path)
    if expected is None:
        assert found is None
    else:
        assert found is not None and found.endswith(expected[0]), found


def test_the_project_file_beats_the_config_which_beats_detection(tmp_path):
    write(tmp_path, "tests/test_a.py")
    assert find_test_command(tmp_path, "tox -e py") == "tox -e py"
    write(tmp_path, ".opencoder.toml", 'test_command = "make check"\n')
    assert find_test_command(tmp_path, "tox -e py") == "make check"
    write(tmp_path, ".opencoder.toml", 'other = 1\n')
    assert find_test_command(tmp_path, None).endswith("-m pytest")


@pytest.mark.parametrize("text, words", [("test_command = [", "is not valid TOML"),
                                          ("test_command = 3", "test_command must be the command as text"),
                                          ('test_command = "  "', "test_command must be the command as text")])
def test_a_bad_project_file_is_one_line(tmp_path, text, words):
    write(tmp_path, ".opencoder.toml", text)
    with pytest.raises(UserError, match=words) as caught:
        find_test_command(tmp_path)
    assert "\n" not in str(caught.value)


def test_the_config_file_takes_test_command_and_command_timeout(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text('test_command = "pytest -x"\ncommand_timeout = 30\n')
    settings = load_config(config)
    assert (settings.test_command, settings.command_timeout) == ("pytest -x", 30.0)
    config.write_text("command_timeout = 0\n")
    with pytest.raises(UserError, match="command_timeout must be a number of seconds above 0"):
        load_config(config)
