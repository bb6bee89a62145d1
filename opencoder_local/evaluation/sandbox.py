"""Running a model's program in a sandbox, and what became of it.

Each program runs in a process of its own through `jail.py`: on Linux a user, network, mount and PID
namespace with Landlock on the file system (nothing outlives the program: the namespace's init ends
with it); on macOS `sandbox-exec` with a profile that denies the network and writes outside the
work folder; with `--no-sandbox` rlimits and a process-group kill alone. Every mode gets rlimits, a
wall-clock limit, a clean environment and a temporary HOME.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from opencoder_local.children import signal_name
from opencoder_local.errors import UserError

_LAUNCHER = str(Path(__file__).with_name("jail.py"))
_SANDBOX_EXEC = "/usr/bin/sandbox-exec"
_SIGNAL_REASONS = {signal.SIGALRM: "time limit", signal.SIGXCPU: "time limit", signal.SIGXFSZ: "output limit",
                   signal.SIGKILL: "killed"}
_EXCEPTION = re.compile(r"^([A-Za-z_][\w.]*)(:|$)")


class SandboxUnavailable(UserError):
    """This platform offers no sandbox this command can use."""


@dataclass(frozen=True)
class Limits:
    time_s: float = 3.0  # the harness's limit per problem (its HumanEval default)
    grace_s: float = 2.0  # past the limit, a program that stopped its timer is killed
    cpu_s: int = 5
    memory: int = 1 << 30  # address space
    file_size: int = 16 << 20
    processes: int = 64
    files: int = 64
    folder_bytes: int = 64 << 20  # the tmpfs the program works in (Linux)


@dataclass(frozen=True)
class Outcome:
    passed: bool
    reason: str | None  # why not: "wrong answer", an exception's name, "time limit", ...
    seconds: float


def read_paths() -> list[str]:
    """What a program may read: the interpreter, its standard library and site-packages, the system's
    shared libraries. Not the home folder, not the project."""
    exe = os.path.realpath(sys.executable)
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix, exe, os.path.dirname(exe)}
    paths.update(("/lib", "/lib64", "/usr/lib", "/usr/lib64", "/etc/ld.so.cache", "/dev/urandom"))
    return sorted(p for p in paths if os.path.exists(p))


def clean_env(folder: str) -> dict[str, str]:
    """No API key, no token, nothing of the user's: the folder is HOME and TMPDIR."""
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": folder, "TMPDIR": folder, "LANG": "C.UTF-8"}
    env.update(dict.fromkeys(("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"), "1"))
    return env


def macos_profile(folder: str) -> str:
    """The sandbox-exec profile: no network, no writes outside the work folder, no reads of the home folder."""
    home = os.path.realpath(os.path.expanduser("~"))
    work = os.path.realpath(folder)
    readable = " ".join(f'(subpath "{os.path.realpath(p)}")' for p in sorted({sys.prefix, sys.base_prefix, work}))
    return "\n".join([  # the later of two matching rules wins
        "(version 1)",
        "(allow default)",
        "(deny network*)",
        "(deny file-write*)",
        f'(allow file-write* (subpath "{work}") (literal "/dev/null"))',
        f'(deny file-read* (subpath "{home}"))',
        f"(allow file-read* {readable})",
    ])


class Sandbox:
    """Runs one program at a time: `run(code)` -> Outcome. `mode` is "linux", "macos" or "none"."""

    def __init__(self, mode: str, limits: Limits = Limits()):
        self.mode = mode
        self.limits = limits
        self._read = read_paths()

    def run(self, code: str) -> Outcome:
        start = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="opencoder-eval-", ignore_cleanup_errors=True) as folder:
            result = self._launch(code, folder)
        return _outcome(result, time.perf_counter() - start)

    def _job(self, code: str, folder: str) -> dict:
        limits = self.limits
        prefix = [_SANDBOX_EXEC, "-p", macos_profile(folder)] if self.mode == "macos" else []
        return {"mode": self.mode, "folder": folder, "program": code, "python": sys.executable, "prefix": prefix,
                "read": self._read, "env": clean_env(folder), "time_s": limits.time_s, "grace_s": limits.grace_s,
                "cpu_s": limits.cpu_s, "memory": limits.memory, "file_size": limits.file_size,
                "processes": limits.processes if self.mode == "linux" else None, "files": limits.files, "folder_bytes": limits.folder_bytes}

    def _launch(self, code: str, folder: str) -> dict:
        launcher = subprocess.Popen([sys.executable, "-I", "-S", _LAUNCHER], stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=folder,
                                    env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}, start_new_session=True)
        backstop = self.limits.time_s + self.limits.grace_s + 30
        try:
            out, _ = launcher.communicate(json.dumps(self._job(code, folder)).encode(), timeout=backstop)
        except subprocess.TimeoutExpired:
            os.killpg(launcher.pid, signal.SIGKILL)  # its namespace's init dies with it (PDEATHSIG)
            launcher.wait()
            return {"timeout": True}
        try:
            return json.loads(out.decode("utf-8", "replace").strip().splitlines()[-1])
        except (IndexError, ValueError):
            return {"signal": -launcher.returncode} if launcher.returncode < 0 else {"exit": 126, "stderr": ""}


def _outcome(result: dict, seconds: float) -> Outcome:
    if "unsupported" in result:
        raise SandboxUnavailable(f"cannot sandbox generated code here: {result['unsupported']}; "
                                 "--no-sandbox runs it with rlimits alone")
    if result.get("timeout"):
        return Outcome(False, "time limit", seconds)
    if "signal" in result:
        number = result["signal"]
        reason = _SIGNAL_REASONS.get(number) or f"killed by {signal_name(number)}"
        return Outcome(False, reason, seconds)
    if result.get("exit") == 0:
        return Outcome(True, None, seconds)
    return Outcome(False, failure(result.get("stderr", "")), seconds)


def failure(stderr: str) -> str:
    """The reason a program failed from what it wrote on stderr: an assertion is a wrong answer."""
    for line in reversed(stderr.strip().splitlines()):
        found = _EXCEPTION.match(line)
        if found:
            name = found.group(1).rsplit(".", 1)[-1]
            return "wrong answer" if name == "AssertionError" else name
    return "exit without a traceback"


def open_sandbox(no_sandbox: bool, limits: Limits = Limits()) -> Sandbox:
    """The sandbox this platform offers, checked with a program that does nothing; with `no_sandbox`,
    rlimits alone. None offered: a SandboxUnavailable that says why."""
    if no_sandbox:
        return Sandbox("none", limits)
    if sys.platform == "linux":
        sandbox = Sandbox("linux", limits)
    elif sys.platform == "darwin" and shutil.which(_SANDBOX_EXEC):
        sandbox = Sandbox("macos", limits)
    else:
        raise SandboxUnavailable(f"no sandbox for generated code on {sys.platform} (Linux: Landlock and user "
                                 "namespaces; macOS: sandbox-exec); --no-sandbox runs it with rlimits alone")
    probe = sandbox.run("pass\n")
    if not probe.passed:
        raise SandboxUnavailable(f"the sandbox cannot run a program here ({probe.reason}); "
                                 "--no-sandbox runs generated code with rlimits alone")
    return sandbox
