"""The code in an answer, as OpenCoder's harness takes it (OpenCodeEval src/sanitize.py), and the
program that tests it (src/benchmark/HumanEval.py)."""

from __future__ import annotations

import ast
import re

from opencoder_local.evaluation.data import Problem

_MAX_LINES = 100  # sanitize.py looks at an answer's first 100 lines
_FENCE = re.compile(r"```python[ \t]*\n(.*?)(?:\n[ \t]*```|\Z)", re.DOTALL | re.IGNORECASE)

# benchmark/base.py: every program starts with these.
IMPORTS = ("import math", "import re", "import sys", "import copy", "import datetime", "import itertools",
           "import collections", "import heapq", "import functools", "import hashlib", "import numpy",
           "import numpy as np", "import string", "from typing import *", "from collections import *")


def _parses(code: str) -> bool:
    try:
        ast.parse(code)
    except (SyntaxError, MemoryError, ValueError):  # ValueError: a NUL byte
        return False
    return True


def longest_parsing_span(text: str) -> str:
    """The run of lines with the most non-blank lines that parses as Python (the earliest of equals),
    the harness's extract_longest_valid_code; spans that cannot beat the best are not parsed."""
    lines = text.splitlines()[:_MAX_LINES]
    filled = [0]
    for line in lines:
        filled.append(filled[-1] + bool(line.strip()))
    best, best_count = "", 0
    for i in range(len(lines)):
        if filled[-1] - filled[i] <= best_count:
            break
        for j in range(len(lines), i, -1):
            count = filled[j] - filled[i]
            if count <= best_count:
                break
            snippet = "\n".join(lines[i:j])
            if _parses(snippet):
                best, best_count = snippet, count
                break
    return best


def code_in(text: str) -> str:
    """The answer's first ```python block (to its end if the answer stops inside it), else the whole answer."""
    fenced = _FENCE.search(text)
    return fenced.group(1) if fenced else text


def _names_used(node: ast.AST) -> set[str]:
    names, stack = set(), [node]
    while stack:
        for child in ast.iter_child_nodes(stack.pop()):
            if isinstance(child, ast.Name):
                names.add(child.id)
            elif isinstance(child, ast.Attribute):
                names.add(child.attr)
            else:
                stack.append(child)
    return names


def _definition(node: ast.stmt) -> str | None:
    if isinstance(node, ast.ClassDef):
        return node.name
    if isinstance(node, ast.FunctionDef):
        return node.name if any(isinstance(n, ast.Return) for n in ast.walk(node)) else None
    if isinstance(node, ast.Assign) and node.targets and isinstance(node.targets[0], ast.Name):
        return node.targets[0].id
    return None


def sanitize(text: str, entry_point: str) -> str:
    """sanitize.sanitize: the longest parsing span, kept to its imports and the definitions the entry
    point reaches (functions only with a return), so examples, prints and input() calls go."""
    tree = ast.parse(longest_parsing_span(text))
    imports = [node for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))]
    definitions: dict[str, ast.stmt] = {}
    for node in tree.body:
        name = _definition(node)
        if name is not None:
            definitions[name] = node
    uses = {name: _names_used(node) for name, node in definitions.items()}
    reached, todo = set(), [entry_point]
    while todo:
        name = todo.pop()
        if name not in reached:
            reached.add(name)
            todo.extend(uses.get(name, set()) - reached)
    kept = imports + [node for name, node in definitions.items() if name in reached]
    return "\n".join(ast.unparse(node) for node in kept)


def solution(completion: str, entry_point: str) -> str:
    """The code to test from a refined completion; empty when there is none."""
    return sanitize(code_in(completion), entry_point)


def program(problem: Problem, code: str) -> str:
    """benchmark/HumanEval.py: the imports, the prompt with a `pass` body (so the function exists
    even if the solution lacks it), the solution, the test, and the call of check."""
    return ("\n".join(IMPORTS) + "\n" + problem.prompt + "\n" + "    pass\n" + "\n" + code + "\n" + problem.test
            + "\n" + f"check({problem.entry_point})")
