"""Errors a user can cause: each carries one line that says what went wrong and what to do."""

import signal
import sys
from contextlib import contextmanager
from typing import Callable, Iterator


class UserError(Exception):
    """A problem with the user's input or machine; shown as one line, never a traceback."""


class ModelFileError(UserError):
    """The model file is missing, not a GGUF, truncated, or of an unsupported kind."""


class UnknownModelError(UserError):
    """A model name that is neither a known name nor a path to a GGUF file."""


def run_guarded(run: Callable[[], int], prog: str, interrupted: str = "interrupted") -> int:
    """Run a command: a UserError or Ctrl+C becomes one line on stderr and an exit code, never a traceback."""
    try:
        return run()
    except UserError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{prog}: {interrupted}", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. piped into `head`
        return 0


@contextmanager
def interrupt_cancels(cancel: Callable[[], None]) -> Iterator[list[bool]]:
    """Within the block Ctrl+C calls `cancel` instead of raising (in the main thread).

    KeyboardInterrupt must not surface inside llama.cpp's abort callback, where ctypes can only
    print it; the caller checks the yielded flag once the model has stopped and raises it then."""
    interrupted = [False]

    def handler(_signum, _frame) -> None:
        interrupted[0] = True
        cancel()

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield interrupted
    finally:
        signal.signal(signal.SIGINT, previous)
