"""A pull in a process of its own, as the app runs it: start `opencoder pull NAME --progress json`,
read what it reports, stop it.

The child does the downloading and converting (huggingface_hub and the converter load there, not
in the app); its standard output is JSON lines, its standard error at most one line on failure.
A pull cut short resumes the next time it runs: that is the pull command's job.
"""

from __future__ import annotations

import collections
import json
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass
from typing import Callable, Iterator

from opencoder_local.errors import UserError

# NAME -> the command that pulls it; tests give one that pulls from a folder, or fails.
PullArgv = Callable[[str], list[str]]
_STDERR_LINES = 20


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
        self._stderr: collections.deque[str] = collections.deque(maxlen=_STDERR_LINES)
        try:
            self._process = subprocess.Popen(
                argv(name), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                text=True, encoding="utf-8", errors="replace",
                start_new_session=True,  # the terminal's signals are the app's to handle
            )
        except OSError as exc:
            raise UserError(f"cannot start the pull: {exc.strerror or exc}") from None
        # Read standard error all along, so a chatty child can never block on a full pipe.
        self._stderr_reader = threading.Thread(target=self._keep_stderr, daemon=True, name="pull-stderr")
        self._stderr_reader.start()

    @property
    def pid(self) -> int:
        return self._process.pid

    @property
    def returncode(self) -> int | None:
        return self._process.poll()

    def _keep_stderr(self) -> None:
        for line in self._process.stderr:
            if line.strip():
                self._stderr.append(line.rstrip())
        self._process.stderr.close()

    def events(self) -> Iterator[PullEvent]:
        """What the child reports, as it reports it; ends when it closes its output (exits or is killed)."""
        for line in self._process.stdout:
            event = parse_line(line)
            if event is not None:
                yield event
        self._process.stdout.close()

    def wait(self) -> int:
        code = self._process.wait()
        self._stderr_reader.join(5)
        return code

    def error(self) -> str:
        """Why it failed, in one line: the child's last line on standard error, or how it ended."""
        if self._stderr:
            return self._stderr[-1]
        code = self._process.returncode
        if code is not None and code < 0:
            return f"the pull was stopped by {signal.Signals(-code).name}"
        return f"the pull ended with exit code {code} and said nothing"

    def interrupt(self) -> None:
        """Ask the pull to stop, as Ctrl+C would: it saves what it downloaded."""
        self._signal(signal.SIGINT)

    def kill(self) -> None:
        self._signal(signal.SIGKILL)

    def _signal(self, signum: int) -> None:
        if self._process.poll() is None:
            try:
                self._process.send_signal(signum)
            except ProcessLookupError:
                pass
