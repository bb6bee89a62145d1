"""The installed CLIs with broken standard streams and undecodable arguments: one line, never a traceback.

Each row runs the real console script as a person would from a shell (`> /dev/full`, `>&-`,
`<&-`, `$'\\xff'`). A new way for the terminal to fail is one new row."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent


@dataclass(frozen=True)
class Case:
    name: str
    argv: tuple[str | bytes, ...]
    words: tuple[str, ...]  # what the one line on stderr must say
    redirect: str = ""  # shell redirections, as typed after the command
    stdin: bytes = b""


CASES = [
    Case("chat answer to a full disk", ("opencoder-chat", "-m", "demo", "-p", "hi"),
         ("opencoder-chat: error:", "standard output", "No space left"), "> /dev/full"),
    Case("models to a full disk", ("opencoder", "models"),
         ("opencoder: error:", "standard output", "No space left"), "> /dev/full"),
    Case("tokenize to a full disk", ("opencoder", "tokenize", "-m", "demo"),
         ("opencoder: error:", "standard output", "No space left"), "> /dev/full", b"def f(): pass"),
    Case("--help to a full disk", ("opencoder-chat", "--help"), ("standard output", "No space left"), "> /dev/full"),
    Case("chat answer with stdout closed", ("opencoder-chat", "-m", "demo", "-p", "hi"),
         ("opencoder-chat: error:", "standard output is closed"), ">&-"),
    Case("models with stdout closed", ("opencoder", "models"), ("standard output is closed",), ">&-"),
    Case("tokenize with stdout closed", ("opencoder", "tokenize", "-m", "demo"), ("standard output is closed",), ">&-", b"x = 1"),
    Case("chat with stdin closed", ("opencoder-chat", "-m", "demo"), ("standard input is closed",), "<&-"),
    Case("chat -p - with stdin closed", ("opencoder-chat", "-m", "demo", "-p", "-"), ("standard input is closed",), "<&-"),
    Case("tokenize with stdin closed", ("opencoder", "tokenize", "-m", "demo"), ("standard input is closed",), "<&-"),
    Case("a prompt that is not UTF-8", ("opencoder-chat", "-m", "demo", "-p", b"hi \xff"),
         ("opencoder-chat: error:", "--prompt", "not valid UTF-8")),
    Case("a system prompt that is not UTF-8", ("opencoder-chat", "-m", "demo", "--system", b"\xff", "-p", "hi"),
         ("--system", "not valid UTF-8")),
    Case("a model name that is not UTF-8", ("opencoder", "tokenize", "-m", b"caf\xe9"), ("--model", "not valid UTF-8")),
    Case("a converted model's name that is not UTF-8", ("opencoder-convert", "checkpoint", "--name", b"\xff"),
         ("opencoder-convert: error:", "--name", "not valid UTF-8")),
]


def _run(argv: tuple[str | bytes, ...], redirect: str = "", stdin: bytes = b"", stdout=subprocess.PIPE):
    """Run an installed console script through bash, so the redirections are the shell's own.

    Without PYTHONUNBUFFERED, as people run it: output then fails at a flush, even Python's own at exit."""
    command = [os.fsencode(BIN / argv[0]), *(os.fsencode(a) for a in argv[1:])]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    return subprocess.run([b"bash", b"-c", f'exec "$@" {redirect}'.encode(), b"bash", *command],
                          input=stdin, stdout=stdout, stderr=subprocess.PIPE, env=env, timeout=300)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_one_line_and_a_failing_exit(case: Case):
    result = _run(case.argv, case.redirect, case.stdin)
    stderr = result.stderr.decode("utf-8", "replace")
    assert result.returncode != 0, stderr
    assert "Traceback" not in stderr and "Exception ignored" not in stderr
    assert len(stderr.strip().splitlines()) == 1, stderr
    for word in case.words:
        assert word in stderr


def test_a_reader_that_goes_away_is_a_quiet_success():
    """`opencoder models | head -0`: the pipe breaks; Python must not add its own message at exit."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        result = _run(("opencoder", "models"), stdout=write_end)
    finally:
        os.close(write_end)
    assert result.returncode == 0
    assert result.stderr == b""


def test_with_stderr_closed_too_the_exit_still_fails_quietly():
    result = _run(("opencoder", "models"), "> /dev/full 2>&-")
    assert result.returncode == 1
