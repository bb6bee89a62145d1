"""A pull in a process of its own, as the app runs it: start `opencoder pull NAME --progress json`,
read what it reports, stop it.

The child does the downloading and converting (huggingface_hub and the converter load there, not
in the app); its standard output is JSON lines, its standard error at most one line on failure.
A pull cut short resumes the next time it runs: that is the pull command's job.
"""

from __future__ import annotations

import io
import json
import signal
import subprocess
import sys
from dataclasses import dataclass
from typing import Callable, Iterator

from opencoder_local.children import Child

# NAME -> the command that pulls it; tests give one that pulls from a folder, or fails.
PullArgv = Callable[[str], list[str]]


def pull_argv(name: str) -> list[str]:
    """The real pull, with this interpreter."""
    return [sys.executable, "-m", "opencoder_local", "pull", name, "--progress", "json"]


@dataclass(frozen=True)
class StageProgress:
    stage: str  # downloading, converting bf16, quantizing q4_k_m, verifying
    done: int
    total: int
    unit: str  # "B" for bytes, "" for steps


@dataclass(frozen=True)
class Installed:
    name: str
    already: bool


PullEvent = StageProgress | Installed


def parse_line(line: str) -> PullEvent | None:
    """One line of `--progress json` output; anything else (a stray print) is None."""
    try:
        record = json.loads(line)
    except ValueError:
        return None
    if not isinstance(record, dict):
        return None
    if isinstance(record.get("installed"), str):
        return Installed(record["installed"], bool(record.get("already")))
    stage, done, total = record.get("stage"), record.get("done"), record.get("total")
    if isinstance(stage, str) and isinstance(done, int) and isinstance(total, int):
        return StageProgress(stage, done, total, "B" if record.get("unit") == "B" else "")
    return None


class PullProcess:
    """One running `opencoder pull`: iterate `events()` in a thread, then `wait()`."""

    def __init__(self, name: str, argv: PullArgv = pull_argv):
        self.name = name
        self._child = Child(argv(name), "the pull", stdout=subprocess.PIPE)

    @property
    def pid(self) -> int:
        return self._child.pid

    @property
    def returncode(self) -> int | None:
        return self._child.poll()

    def events(self) -> Iterator[PullEvent]:
        """What the child reports, as it reports it; ends when it closes its output (exits or is killed)."""
        with io.TextIOWrapper(self._child.stdout, encoding="utf-8", errors="replace") as lines:
            for line in lines:
                event = parse_line(line)
                if event is not None:
                    yield event

    def wait(self) -> int:
        return self._child.wait()

    def error(self) -> str:
        """Why it failed, in one line: the child's last line on standard error, or how it ended."""
        return self._child.last_words() or f"the pull {self._child.how_it_ended()} and said nothing"

    def interrupt(self) -> None:
        """Ask the pull to stop, as Ctrl+C would: it saves what it downloaded."""
        self._child.signal(signal.SIGINT)

    def kill(self) -> None:
        self._child.kill()
