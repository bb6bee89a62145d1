"""Errors a user can cause: each carries one line that says what went wrong and what to do."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from contextlib import contextmanager
from typing import Callable, Iterator

from opencoder_local.terminal_text import printable


class UserError(Exception):
    """A problem with the user's input or machine; shown as one line, never a traceback."""


class ModelFileError(UserError):
    """The model file is missing, not a GGUF, truncated, or of an unsupported kind."""


class UnknownModelError(UserError):
    """A model name that is neither a known name nor a path to a GGUF file."""


class StreamError(UserError):
    """Standard input or output is closed or cannot be used (a full disk, a directory)."""


class _GuardedStream:
    """A standard stream (or None: closed) whose failures are StreamErrors; a broken pipe stays one."""

    def __init__(self, stream, label: str):
        self._stream = stream
        self._label = label

    def _call(self, method: str, verb: str, *args):
        if self._stream is None:
            raise StreamError(f"{self._label} is closed")
        try:
            return getattr(self._stream, method)(*args)
        except BrokenPipeError:
            raise
        except (OSError, ValueError) as exc:  # ValueError: the stream was closed under us
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise StreamError(f"cannot {verb} {self._label}: {reason}") from None

    def write(self, text):
        return self._call("write", "write to", text)

    def flush(self) -> None:
        if self._stream is not None:  # nothing can be pending on a closed stream
            self._call("flush", "write to")

    def read(self, *args):
        return self._call("read", "read", *args)

    def readline(self, *args):
        return self._call("readline", "read", *args)

    def isatty(self) -> bool:
        return self._stream is not None and self._stream.isatty()

    @property
    def buffer(self) -> "_GuardedStream":
        return _GuardedStream(getattr(self._stream, "buffer", None), self._label)

    def __getattr__(self, name: str):
        if self._stream is None:
            raise AttributeError(name)
        return getattr(self._stream, name)


def _hold_closed_descriptors() -> None:
    """Put /dev/null on a closed stdin, stdout or stderr descriptor, so that no file opened later
    (the database, the model) takes its number and receives what is written to "stdout"."""
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            null = os.open(os.devnull, os.O_RDWR)
            if null != fd:
                os.dup2(null, fd)
                os.close(null)


def _say(line: str) -> None:
    """One line on stderr, if stderr can take it."""
    try:
        sys.stderr.write(printable(line) + "\n")  # a server's or a child's words may hold ESC
        sys.stderr.flush()
    except (AttributeError, OSError, ValueError):  # closed (None), full, or gone
        _settle(sys.stderr)


def _settle(stream) -> None:
    """Flush a real stream; if it cannot take its output, point its descriptor at /dev/null so
    Python's own flush at exit stays quiet (no "Exception ignored", no exit status 120)."""
    try:
        stream.flush()
        return
    except (AttributeError, OSError, ValueError):
        pass
    try:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, stream.fileno())
        os.close(null)
    except (AttributeError, OSError, ValueError):
        pass


def refuse_undecodable(args: argparse.Namespace) -> argparse.Namespace:
    """Text flags must be UTF-8: bytes that are not arrive as lone surrogates and are refused in one line."""
    for name, value in vars(args).items():
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise UserError(f"--{name.replace('_', '-')} is not valid UTF-8 text") from None
    return args


def run_guarded(run: Callable[[], int], prog: str, interrupted: str = "interrupted") -> int:
    """Run a command: a UserError, Ctrl+C or an unusable stdin/stdout becomes one line on stderr and
    an exit code, never a traceback. `run` should parse its arguments too, so --help is guarded."""
    _hold_closed_descriptors()
    # Ctrl+C stops a command (and the app stops its pull process with SIGINT), but a process a shell
    # starts in the background inherits SIGINT ignored, and Python leaves it so.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    real_stdin, real_stdout = sys.stdin, sys.stdout
    sys.stdin = _GuardedStream(real_stdin, "standard input")
    sys.stdout = _GuardedStream(real_stdout, "standard output")
    try:
        try:
            return run()
        finally:
            sys.stdout.flush()  # a full disk shows here, not in Python's flush at exit
    except UserError as exc:
        _say(f"{prog}: error: {exc}")
        return 1
    except KeyboardInterrupt:
        _say(f"{prog}: {interrupted}")
        return 130
    except BrokenPipeError:  # e.g. piped into `head`
        return 0
    finally:
        sys.stdin, sys.stdout = real_stdin, real_stdout
        _settle(real_stdout)


class Interruption:
    """Ctrl+C, as a request: `cancel` is what it should stop now (the model loading, then answering)."""

    def __init__(self) -> None:
        self.requested = False
        self.cancel: Callable[[], None] = lambda: None

    def raise_if_requested(self) -> None:
        if self.requested:
            raise KeyboardInterrupt


@contextmanager
def interruptible() -> Iterator[Interruption]:
    """Within the block Ctrl+C calls the yielded Interruption's `cancel` instead of raising (main thread).

    A KeyboardInterrupt must not surface inside a ctypes callback (llama.cpp's log, progress and
    abort callbacks), where it is printed and swallowed; the caller raises it once llama.cpp has stopped."""
    interruption = Interruption()

    def handler(_signum, _frame) -> None:
        interruption.requested = True
        interruption.cancel()

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield interruption
    finally:
        signal.signal(signal.SIGINT, previous)
