"""One shell command run for the user: `/run`, `/test`, `--test`.

The command goes to `/bin/sh -c` as typed, in the project folder, in a process group of its own
(so a stop reaches everything it started: `sh -c 'sleep 1 & sleep 2'`, a forked daemon that stays
in the group), with nothing on standard input and the user's environment minus the app's own
secrets. One thread per command reads its merged stdout and stderr as fast as it comes (a flood
never stalls it, and `CapturedOutput` keeps bounded memory), hands printable text to `on_output` at
most about 20 times a second, enforces the timeout and ends a stop with SIGKILL a second after SIGTERM.

When the shell ends, processes of its group that still hold the output pipe are stopped too; a
process that left the group (setsid) and holds the pipe is no longer read after a grace period.
"""

from __future__ import annotations

import codecs
import fcntl
import os
import re
import select
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

from opencoder_local.children import signal_name
from opencoder_local.errors import UserError
from opencoder_local.loop.output import CapturedOutput
from opencoder_local.terminal_text import program_output

__all__ = ["CapturedOutput", "CommandResult", "RunningCommand", "run_command", "stop_all_running"]

KILL_AFTER_S = 1.0  # SIGTERM, then SIGKILL this long after
OUTPUT_EVERY_S = 0.05  # on_output at most this often
LEFTOVER_GRACE_S = 0.5  # after the shell ends, how long processes may keep the pipe before they are stopped
SHOWN_PER_CALL = 64 << 10  # bytes of a flood handed to on_output per call (the rest is captured, not shown)
_READ = 1 << 20
_PIPE_BYTES = 1 << 20
_READS_PER_TURN = 16  # chunks read before the thread looks at the clock again
NOT_FOUND = 127  # the shell's "command not found"
_UNFINISHED_ESCAPE = re.compile(r"\x1b(?:\[[0-?]*[ -/]*|\][^\x07\x1b]{0,256})?\Z")


@dataclass(frozen=True)
class CommandResult:
    """How a command ended. `exit_code` is None when a signal ended the shell itself."""

    command: str
    exit_code: int | None
    signal_name: str | None  # "SIGSEGV": the signal that ended it (or, as its shell reports, its last program)
    stopped: bool  # stop() ended it
    timed_out: bool
    not_found: bool
    seconds: float
    output: CapturedOutput

    @property
    def passed(self) -> bool:
        return (self.exit_code == 0 and self.signal_name is None and not self.stopped and not self.timed_out
                and not self.not_found)

    def summary(self) -> str:
        """One line: "`pytest -q` failed (exit 1) in 3.4 s"."""
        shown = f"`{program_output(_one_line(self.command))}`"
        if self.timed_out:
            return f"{shown} timed out after {_seconds(self.seconds)} and was stopped"
        if self.stopped:
            return f"{shown} was stopped after {_seconds(self.seconds)}"
        if self.not_found:
            return f"{shown} not found (the shell's exit 127)"
        if self.signal_name is not None:
            return f"{shown} was killed by {self.signal_name} after {_seconds(self.seconds)}"
        if self.exit_code == 0:
            return f"{shown} passed in {_seconds(self.seconds)}"
        return f"{shown} failed (exit {self.exit_code}) in {_seconds(self.seconds)}"


class RunningCommand:
    """A command in its own process group: start(), then stop() from any thread, and wait()."""

    def __init__(self, command: str, cwd: Path, *, timeout_s: float = 600.0, drop_env: Iterable[str] = (),
                 on_output: Callable[[str], None] | None = None):
        if not command.strip():
            raise UserError("the command is empty")
        self.command = command
        self.cwd = Path(cwd)
        self.timeout_s = timeout_s
        self.output = CapturedOutput()
        self._drop_env = frozenset(drop_env)
        self._on_output = on_output
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._process: subprocess.Popen[bytes] | None = None
        self._started = 0.0
        self._stopped = False
        self._timed_out = False
        self._kill_at: float | None = None  # when SIGKILL follows the SIGTERM sent
        self._result: CommandResult | None = None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def running(self) -> bool:
        return self._process is not None and not self._done.is_set()

    def start(self) -> "RunningCommand":
        env = {key: value for key, value in os.environ.items() if key not in self._drop_env}
        try:
            self._process = subprocess.Popen(
                ["/bin/sh", "-c", self.command], cwd=self.cwd, env=env, stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
            )
        except OSError as exc:
            raise UserError(f"cannot run `{_one_line(self.command)}` in {self.cwd}: {exc.strerror or exc}") from None
        self._started = time.monotonic()
        _register(self)
        threading.Thread(target=self._supervise, daemon=True, name=f"command-{self._process.pid}").start()
        return self

    def stop(self) -> None:
        """Stop the command and everything in its group: SIGTERM now, SIGKILL a second later (any thread, any time)."""
        with self._lock:
            if self._process is None or self._done.is_set() or self._kill_at is not None:
                return
            self._stopped = self._process.returncode is None  # else only leftovers of a shell that has ended
            self._terminate()

    def wait(self, timeout: float | None = None) -> CommandResult:
        """The result once the command has ended (TimeoutError if it has not within `timeout` s)."""
        if self._process is None:
            raise RuntimeError("wait() before start()")
        if not self._done.wait(timeout):
            raise TimeoutError(f"`{self.command}` still runs")
        assert self._result is not None
        return self._result

    def _terminate(self) -> None:
        """SIGTERM to the group, SIGKILL due in KILL_AFTER_S (called with the lock held)."""
        self._kill_at = time.monotonic() + KILL_AFTER_S
        self._signal_group(signal.SIGTERM)

    def _signal_group(self, signum: int) -> bool:
        """Signal every process in the group; False when none is left. (The group's id stays taken while
        any member lives, so it cannot name someone else's processes.)"""
        assert self._process is not None
        try:
            os.killpg(self._process.pid, signum)
            return True
        except (ProcessLookupError, PermissionError):
            return False

    def _supervise(self) -> None:
        assert self._process is not None and self._process.stdout is not None
        stream = _Stream(self._on_output)
        fd = self._process.stdout.fileno()
        os.set_blocking(fd, False)
        _widen_pipe(fd)
        poller = select.poll()
        poller.register(fd, select.POLLIN | select.POLLHUP | select.POLLERR)
        ended_at: float | None = None  # when the shell ended
        eof = False
        try:
            while True:
                now = time.monotonic()
                if not eof:
                    eof = bool(poller.poll(stream.due_in_ms(now))) and self._read(fd, stream)
                else:
                    time.sleep(0.02)
                stream.flush(force=False)
                if ended_at is None and self._process.poll() is not None:
                    ended_at = time.monotonic()
                if self._check_clock(ended_at, eof):
                    break
            self._finish_kill()
        finally:
            stream.flush(force=True)
            self._process.stdout.close()
            self._result = self._make_result(ended_at or time.monotonic())
            _unregister(self)
            self._done.set()

    def _read(self, fd: int, stream: "_Stream") -> bool:
        """Read what is there (a bounded number of chunks); True at end of file."""
        for _ in range(_READS_PER_TURN):
            try:
                data = os.read(fd, _READ)
            except BlockingIOError:
                return False
            if not data:
                return True
            self.output.feed(data)
            stream.feed(data)
        return False

    def _check_clock(self, ended_at: float | None, eof: bool) -> bool:
        """The timeout, the SIGKILL after a stop, the leftovers after the shell ended; True once done."""
        now = time.monotonic()
        with self._lock:
            if ended_at is None and self._kill_at is None and now - self._started >= self.timeout_s:
                self._timed_out = True
                self._terminate()
            if self._kill_at is not None and now >= self._kill_at:
                self._signal_group(signal.SIGKILL)
                self._kill_at = -1.0  # sent
            if ended_at is None:
                return False
            if eof:
                return True
            if self._kill_at is None and now - ended_at >= LEFTOVER_GRACE_S:
                self._terminate()  # what the shell left behind still writes to the pipe
            # Past SIGKILL and still no end of file: a process outside the group holds the pipe.
            return self._kill_at == -1.0 and now - ended_at >= LEFTOVER_GRACE_S + KILL_AFTER_S + 0.5

    def _finish_kill(self) -> None:
        """After a stop or a timeout, SIGKILL whatever of the group outlived the shell, when it is due."""
        with self._lock:
            kill_at = self._kill_at
        if kill_at is None or kill_at < 0:
            return
        while _group_lives(self._process.pid) and time.monotonic() < kill_at:
            time.sleep(0.02)
        self._signal_group(signal.SIGKILL)

    def _make_result(self, ended_at: float) -> CommandResult:
        assert self._process is not None
        code = self._process.poll()
        if code is None:  # (only on an internal error in the thread)
            self._signal_group(signal.SIGKILL)
            code = self._process.wait()
        exit_code: int | None = code
        died_by = None
        if code < 0:
            exit_code, died_by = None, signal_name(-code)
        elif 128 < code < 128 + 32:  # the shell's 128+N: its program died by signal N
            died_by = signal_name(code - 128)
        return CommandResult(
            self.command, exit_code, died_by, self._stopped, self._timed_out,
            code == NOT_FOUND and not self._stopped and not self._timed_out, ended_at - self._started, self.output,
        )


class _Stream:
    """Text for on_output: decoded across chunk edges, made printable, coalesced, a flood shown in part."""

    def __init__(self, on_output: Callable[[str], None] | None):
        self._on_output = on_output
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self._pending = bytearray()
        self._skipped = 0
        self._last = 0.0
        self._held = ""  # the start of an escape sequence the next chunk ends

    @property
    def pending(self) -> bool:
        return bool(self._pending) or bool(self._skipped) or bool(self._held)

    def due_in_ms(self, now: float) -> int:
        """How long the thread may wait for more output before this is due to be handed on."""
        if not self.pending:
            return int(OUTPUT_EVERY_S * 1000)
        return max(0, int((self._last + OUTPUT_EVERY_S - now) * 1000) + 1)

    def feed(self, data: bytes) -> None:
        if self._on_output is None:
            return
        self._pending += data
        if len(self._pending) > 2 * SHOWN_PER_CALL:
            cut = len(self._pending) - SHOWN_PER_CALL
            self._skipped += cut
            del self._pending[:cut]
            self._decoder.reset()

    def flush(self, force: bool) -> None:
        if self._on_output is None or not self.pending:
            return
        now = time.monotonic()
        if not force and now - self._last < OUTPUT_EVERY_S:
            return
        text = self._held + self._decoder.decode(bytes(self._pending), final=force)
        self._held = ""
        if not force:  # a colour code cut at the chunk's end waits for its end, not shown as \x1b[3
            cut = _UNFINISHED_ESCAPE.search(text)
            if cut is not None:
                text, self._held = text[:cut.start()], text[cut.start():]
        if self._skipped:
            text = f"\n[{self._skipped:,} bytes not shown here; the output keeps its head and tail]\n" + text
        self._pending.clear()
        self._skipped = 0
        self._last = now
        text = program_output(text)
        if text:
            self._on_output(text)


_running: set[RunningCommand] = set()
_registry_lock = threading.Lock()


def _register(command: RunningCommand) -> None:
    with _registry_lock:
        _running.add(command)


def _unregister(command: RunningCommand) -> None:
    with _registry_lock:
        _running.discard(command)


def stop_all_running(wait_s: float = KILL_AFTER_S + 1.0) -> None:
    """Stop every command still running and wait (up to `wait_s` in all) for them to end: the app's quit."""
    with _registry_lock:
        commands = list(_running)
    for command in commands:
        command.stop()
    deadline = time.monotonic() + wait_s
    for command in commands:
        try:
            command.wait(max(0.0, deadline - time.monotonic()))
        except TimeoutError:
            pass


def run_command(command: str, cwd: Path, **kwargs) -> CommandResult:
    """Run a command to its end; Ctrl+C (KeyboardInterrupt) stops its group before it goes on up."""
    running = RunningCommand(command, cwd, **kwargs).start()
    try:
        return running.wait()
    except KeyboardInterrupt:
        running.stop()
        running.wait()
        raise


def _widen_pipe(fd: int) -> None:
    """A 1 MiB pipe (Linux) where it may be had: a flood then wakes this thread a sixteenth as often."""
    try:
        fcntl.fcntl(fd, getattr(fcntl, "F_SETPIPE_SZ", 1031), _PIPE_BYTES)
    except OSError:  # above /proc/sys/fs/pipe-max-size for this user, or not Linux: the default will do
        pass


def _group_lives(pgid: int) -> bool:
    """A process of the group still runs (a zombie waiting for init to reap it does not count)."""
    try:
        entries = os.listdir("/proc")
    except OSError:  # no /proc: ask the kernel, zombies included
        try:
            os.killpg(pgid, 0)
            return True
        except (ProcessLookupError, PermissionError):
            return False
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as stat:
                fields = stat.read().rpartition(b")")[2].split()
        except OSError:
            continue
        if len(fields) > 2 and fields[2] == str(pgid).encode() and fields[0] != b"Z":
            return True
    return False


def _seconds(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds < 10 else f"{seconds:.0f} s"


def _one_line(command: str, keep: int = 120) -> str:
    line = " ".join(command.split())
    return line if len(line) <= keep else line[: keep - 1] + "…"
