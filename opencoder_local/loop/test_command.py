"""The project's test command: `.opencoder.toml`, else the user's config, else what the project shows.

Detection looks only at the project's root, in this order: pytest's own configuration (pytest.ini,
`[tool.pytest.ini_options]` in pyproject.toml, `[tool:pytest]` in setup.cfg, `[pytest]` in tox.ini,
conftest.py), a package.json with a test script, Cargo.toml, go.mod, a Makefile with a `test:`
target, and last a tests/ or test/ folder holding Python files. Explicit beats guessed: a Node
project's test/ folder is npm's, and a Makefile's target says how its authors run the tests.
"""

from __future__ import annotations

import configparser
import re
import shutil
from pathlib import Path

from opencoder_local.documents import DocumentError, read_json, read_toml
from opencoder_local.errors import UserError

PROJECT_FILE = ".opencoder.toml"
_MAKE_TEST = re.compile(rb"^test\s*:(?!=)", re.MULTILINE)
_NPM_PLACEHOLDER = "no test specified"  # what `npm init` writes as the test script
_MAX_CONFIG_BYTES = 1 << 20


def find_test_command(project: Path, configured: str | None = None) -> str | None:
    """The command that runs the project's tests, or None when nothing says or shows one.

    A malformed `.opencoder.toml` (or a `test_command` that is not text) is a UserError of one line."""
    project = Path(project)
    return project_test_command(project) or _text(configured) or detect_test_command(project)


def project_test_command(project: Path) -> str | None:
    """`test_command` from the project's `.opencoder.toml`, if it has one."""
    path = project / PROJECT_FILE
    if not path.is_file():
        return None
    if path.stat().st_size > _MAX_CONFIG_BYTES:
        raise UserError(f"{path} is larger than {_MAX_CONFIG_BYTES >> 20} MB; it holds a few settings")
    value = read_toml(path).get("test_command")
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise UserError(f'{path}: test_command must be the command as text, e.g. test_command = "pytest -q"')
    return value.strip()


def detect_test_command(project: Path) -> str | None:
    """What the project's root shows (see the module's docstring for the order)."""
    if _pytest_configured(project):
        return pytest_command(project)
    if _npm_test(project):
        return "npm test"
    if (project / "Cargo.toml").is_file():
        return "cargo test"
    if (project / "go.mod").is_file():
        return "go test ./..."
    if any(_make_test(project / name) for name in ("GNUmakefile", "makefile", "Makefile")):
        return "make test"
    if any(folder.is_dir() and next(folder.rglob("*.py"), None) is not None
           for folder in (project / "tests", project / "test")):
        return pytest_command(project)
    return None


def pytest_command(project: Path) -> str:
    """pytest through the project's own virtualenv when it has one, else the Python on PATH."""
    for venv in (".venv", "venv"):
        if (project / venv / "bin" / "python").is_file():
            return f"{venv}/bin/python -m pytest"
    python = next((name for name in ("python3", "python") if shutil.which(name)), "python3")
    return f"{python} -m pytest"


def _pytest_configured(project: Path) -> bool:
    if (project / "pytest.ini").is_file() or (project / "conftest.py").is_file():
        return True
    pyproject = _toml(project / "pyproject.toml")
    if isinstance(pyproject.get("tool"), dict) and isinstance(pyproject["tool"].get("pytest"), dict):
        return True
    return _has_section(project / "setup.cfg", "tool:pytest") or _has_section(project / "tox.ini", "pytest")


def _npm_test(project: Path) -> bool:
    path = project / "package.json"
    if not path.is_file() or path.stat().st_size > _MAX_CONFIG_BYTES:
        return False
    try:
        package = read_json(path)
    except DocumentError:
        return False  # npm would refuse it too; nothing to detect
    scripts = package.get("scripts") if isinstance(package, dict) else None
    test = scripts.get("test") if isinstance(scripts, dict) else None
    return isinstance(test, str) and bool(test.strip()) and _NPM_PLACEHOLDER not in test


def _make_test(path: Path) -> bool:
    try:
        return path.is_file() and _MAKE_TEST.search(path.read_bytes()[:_MAX_CONFIG_BYTES]) is not None
    except OSError:
        return False


def _toml(path: Path) -> dict:
    """A project file's TOML for detection: one that is missing, huge or malformed shows nothing."""
    try:
        if not path.is_file() or path.stat().st_size > _MAX_CONFIG_BYTES:
            return {}
        return read_toml(path)
    except (DocumentError, OSError):
        return {}


def _has_section(path: Path, section: str) -> bool:
    if not path.is_file():
        return False
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    try:
        parser.read_string(path.read_bytes()[:_MAX_CONFIG_BYTES].decode("utf-8", "replace"))
    except (configparser.Error, OSError):
        return False
    return parser.has_section(section)


def _text(value: str | None) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None
