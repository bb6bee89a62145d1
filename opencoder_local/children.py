"""Child processes the app starts (the model process, a pull), supervised one way.

A child runs in a session of its own (the terminal's signals are the app's to handle), reads
nothing from the app's standard input, and has its standard error read all along by a thread
that keeps only its last few lines, each cut to a width: a chatty child never blocks on a full
pipe, and one that floods its standard error (even with one endless line) costs bounded memory.
"""

from __future__ import annotations

import collections
import re
import signal
import subprocess
import threading
from typing import IO

from opencoder_local.errors import UserError

TAIL_LINES = 20  # a child's last words, for the one line that says why it ended
LINE_WIDTH = 4096  # bytes kept of each of them
_CHUNK = 1 << 16
_LINE_END = re.compile(rb"\r\n?|\n")  # as a terminal shows progress lines: \r ends one too


class StderrTail:
    """The last non-blank lines a stream wrote, each at most `width` bytes: bounded however it writes."""

    def __init__(self, lines: int = TAIL_LINES, width: int = LINE_WIDTH):
        self.lines: collections.deque[str] = collections.deque(maxlen=lines)
        self._width = width
        self._line = bytearray()

    def feed(self, data: bytes) -> None:
        *ended, rest = _LINE_END.split(data)
        for piece in ended:
            self._add(piece)
            self.end_line()
        self._add(rest)

    def end_line(self) -> None:
        text = self._line.decode("utf-8", "replace").rstrip()
        if text:
            self.lines.append(text)
        self._line.clear()

    def _add(self, piece: bytes) -> None:
        room = self._width - len(self._line)
        if room > 0:
            self._line += piece[:room]


def signal_name(number: int) -> str:
    """"SIGKILL", or "signal 40" for one without a name (a real-time signal, say)."""
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


class Child:
    """One child process: start it, signal it, wait for it, and say how it ended and what it said last.

    `what` names it in messages ("the model process"); `stdout` is DEVNULL or PIPE (bytes)."""

    def __init__(self, argv: list[str], what: str, *, stdout: int = subprocess.DEVNULL,
                 pass_fds: tuple[int, ...] = ()):
        self.what = what
        self.tail = StderrTail()
        try:
            self._process = subprocess.Popen(
                argv, pass_fds=pass_fds, stdin=subprocess.DEVNULL, stdout=stdout,
                stderr=subprocess.PIPE,  # never the terminal: llama.cpp's aborts would draw over the app
                start_new_session=True,
            )
        except OSError as exc:
            raise UserError(f"cannot start {what}: {exc.strerror or exc}") from None
        self._stderr_reader = threading.Thread(target=self._keep_stderr, args=(self._process.stderr,),
                                               daemon=True, name=f"stderr-{self._process.pid}")
        self._stderr_reader.start()

    @property
    def pid(self) -> int:
        return self._process.pid

    @property
    def stdout(self) -> IO[bytes] | None:
        return self._process.stdout

    def poll(self) -> int | None:
        """None while it runs; its exit code once it has ended (negative: the signal that ended it)."""
        return self._process.poll()

    def signal(self, signum: int) -> None:
        """Send a signal if it still runs (one that has just ended is no error)."""
        if self._process.poll() is None:
            try:
                self._process.send_signal(signum)
            except ProcessLookupError:
                pass

    def kill(self) -> None:
        self.signal(signal.SIGKILL)

    def wait(self, timeout: float | None = None) -> int:
        """Its exit code once it has ended, and its last words read; killed if still running after `timeout` s."""
        try:
            code = self._process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            code = self._process.wait()
        self._stderr_reader.join(timeout=2)  # its last words may still be in the pipe
        return code

    def how_it_ended(self) -> str:
        """"was killed by SIGKILL" or "exited with status 3" (call after wait())."""
        code = self._process.returncode
        if code is None:
            return "is still running"
        if code >= 0:
            return f"exited with status {code}"
        return f"was killed by {signal_name(-code)}"

    def last_words(self) -> str:
        """The last non-blank line it wrote to standard error, or ""."""
        lines = self.tail.lines
        return lines[-1] if lines else ""

    def _keep_stderr(self, stream: IO[bytes]) -> None:
        while chunk := stream.read1(_CHUNK):
            self.tail.feed(chunk)
        self.tail.end_line()
        stream.close()
