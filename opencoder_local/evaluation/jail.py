"""The launcher of one sandboxed program on Linux. It runs as a script of its own, standard library
only (`python -I -S jail.py`, the job as JSON on stdin), so nothing of the app is loaded where the
program will run.

It enters a new user, network, mount and PID namespace, puts a small tmpfs on the work folder and
forks the namespace's init. Init forks the program, which takes rlimits, a wall-clock timer,
no_new_privs and a Landlock domain (read: the interpreter's folders; write: the work folder; no TCP;
no signals or abstract sockets beyond its own domain) and execs Python on it. When the program ends
init ends, and the kernel kills every process left in the namespace, setsid or not. One JSON line
on stdout says how it ended: {"exit": N} | {"signal": N} | {"timeout": true} | {"unsupported": why},
with "stderr": the end of what the program wrote there.
"""

from __future__ import annotations

import ctypes
import json
import os
import resource
import signal
import struct
import sys

CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x00020000, 0x10000000, 0x20000000, 0x40000000
MS_NOSUID, MS_NODEV, MS_REC, MS_PRIVATE = 2, 4, 16384, 1 << 18
PR_SET_PDEATHSIG, PR_SET_NO_NEW_PRIVS = 1, 38
# The Landlock system calls have one number on every architecture that gained them in Linux 5.13.
SYS_CREATE_RULESET, SYS_ADD_RULE, SYS_RESTRICT_SELF = 444, 445, 446
RULESET_VERSION, RULE_PATH_BENEATH = 1, 1

# Access rights by the ABI that brought them: files and folders, TCP, scopes.
FS_RIGHTS = {1: (1 << 13) - 1, 2: 1 << 13, 3: 1 << 14, 5: 1 << 15}
FILE_ONLY = 1 | 2 | 4 | (1 << 14) | (1 << 15)  # execute, write, read, truncate, ioctl: what a rule on a file may hold
READ = 1 | 4 | 8  # execute, read a file, read a folder
NET_TCP = 0b11  # bind, connect (ABI 4)
SCOPES = 0b11  # abstract unix sockets, signals (ABI 6)

STDERR_KEPT = 4000

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


def _prctl(option: int, value: int) -> int:
    """prctl with the unused arguments zero in all their bits, as the kernel checks."""
    return _libc.prctl(ctypes.c_int(option), ctypes.c_ulong(value), ctypes.c_ulong(0), ctypes.c_ulong(0),
                       ctypes.c_ulong(0))


def _check(result: int, what: str) -> int:
    if result < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")
    return result


def landlock_abi() -> int:
    """The kernel's Landlock ABI version; 0 when it has none or it is off."""
    found = _libc.syscall(SYS_CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(RULESET_VERSION))
    return max(found, 0)


def _handled_fs(abi: int) -> int:
    return sum(bits for since, bits in FS_RIGHTS.items() if abi >= since)


def restrict(abi: int, read: list[str], write: list[str]) -> None:
    """A Landlock domain on this process and what it execs: `read` and `write` beneath those paths only,
    no TCP bind or connect, no signal or abstract unix socket beyond the domain."""
    handled = _handled_fs(abi)
    fields = [handled, NET_TCP if abi >= 4 else 0, SCOPES if abi >= 6 else 0]
    size = 8 * (3 if abi >= 6 else 2 if abi >= 4 else 1)
    attr = ctypes.create_string_buffer(struct.pack("=QQQ", *fields)[:size], size)
    ruleset = _check(_libc.syscall(SYS_CREATE_RULESET, attr, ctypes.c_size_t(size), ctypes.c_uint32(0)),
                     "landlock_create_ruleset")
    for paths, access in ((read, READ), (write, handled)):
        for path in paths:
            try:
                fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            except OSError:
                continue  # a folder this system lacks
            allowed = access if os.path.isdir(path) else access & FILE_ONLY
            rule = ctypes.create_string_buffer(struct.pack("=Qi", allowed, fd), 12)
            _check(_libc.syscall(SYS_ADD_RULE, ctypes.c_int(ruleset), ctypes.c_int(RULE_PATH_BENEATH), rule,
                                 ctypes.c_uint32(0)), f"landlock_add_rule {path}")
            os.close(fd)
    _check(_prctl(PR_SET_NO_NEW_PRIVS, 1), "no_new_privs")
    _check(_libc.syscall(SYS_RESTRICT_SELF, ctypes.c_int(ruleset), ctypes.c_uint32(0)), "landlock_restrict_self")
    os.close(ruleset)


def _write(path: str, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)


def enter_namespaces(folder: str, tmpfs_bytes: int) -> None:
    """A user namespace (our own uid inside: no capability survives the exec), no network, a private
    mount table with a size-limited tmpfs on `folder`, and a PID namespace for the children."""
    uid, gid = os.geteuid(), os.getegid()
    _check(_libc.unshare(CLONE_NEWUSER | CLONE_NEWNET | CLONE_NEWNS | CLONE_NEWPID), "unshare")
    inside = uid or 1000  # not root inside, so the program's exec drops the namespace's capabilities
    _write("/proc/self/setgroups", "deny")
    _write("/proc/self/uid_map", f"{inside} {uid} 1")
    _write("/proc/self/gid_map", f"{gid or 1000} {gid} 1")
    _check(_libc.mount(None, b"/", None, MS_REC | MS_PRIVATE, None), "mount --make-rprivate /")
    options = f"size={tmpfs_bytes},mode=0700".encode()
    _check(_libc.mount(b"tmpfs", folder.encode(), b"tmpfs", MS_NOSUID | MS_NODEV, options), "mount tmpfs")


def limit(job: dict) -> None:
    """rlimits. RLIMIT_NPROC counts per user namespace, so only a namespace gets one: elsewhere it would
    count all the user's processes. The kernel never applies it to root."""
    for name, soft, hard in (("RLIMIT_CPU", job["cpu_s"], job["cpu_s"] + 1), ("RLIMIT_AS", job["memory"], None),
                             ("RLIMIT_FSIZE", job["file_size"], None), ("RLIMIT_NPROC", job["processes"], None),
                             ("RLIMIT_NOFILE", job["files"], None), ("RLIMIT_CORE", 0, None)):
        if soft is not None:
            resource.setrlimit(getattr(resource, name), (soft, soft if hard is None else hard))


def program(job: dict, abi: int) -> None:
    """In the program's process: its streams, limits and domain, then exec. Never returns."""
    try:
        folder = job["folder"]
        null = os.open(os.devnull, os.O_RDWR)
        err = os.open(os.path.join(folder, ".stderr"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(null, 0)
        os.dup2(null, 1)  # stdout is thrown away, as the harness swallows it
        os.dup2(err, 2)
        os.closerange(3, 1 << 16)
        os.chdir(folder)
        if job["mode"] != "linux":
            os.setsid()  # a group of its own, killed whole when it ends
        limit(job)
        if job["mode"] == "linux":
            restrict(abi, job["read"], [folder, os.devnull])
        signal.setitimer(signal.ITIMER_REAL, job["time_s"])  # kept across exec; SIGALRM ends the program
        argv = [*job["prefix"], job["python"], "-I", "-B", "program.py"]
        os.execve(argv[0], argv, job["env"])
    except BaseException as exc:  # noqa: BLE001 - anything here is reported, then the process ends
        os.write(2, f"SandboxError: {exc}\n".encode())
    os._exit(126)


def init(job: dict, abi: int, report: int) -> None:
    """PID 1 of the namespace: start the program, reap every orphan until it ends, report, end. Never returns."""
    try:
        _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # the launcher killed: the namespace goes too
        os.setsid()  # the program's process group is not the launcher's
        child = os.fork()
        if child == 0:
            os.close(report)
            program(job, abi)
        while True:
            pid, status = os.wait()
            if pid == child:
                break
        os.write(report, json.dumps(_ending(status)).encode())
    finally:
        os._exit(0)


def _ending(status: int) -> dict:
    if os.WIFSIGNALED(status):
        return {"signal": os.WTERMSIG(status)}
    return {"exit": os.WEXITSTATUS(status)}


def _stderr_tail(folder: str) -> str:
    try:
        with open(os.path.join(folder, ".stderr"), "rb") as f:
            f.seek(max(os.fstat(f.fileno()).st_size - STDERR_KEPT, 0))
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""


def main() -> None:
    job = json.loads(sys.stdin.read())
    linux = job["mode"] == "linux"
    abi = landlock_abi() if linux else 0
    if linux and abi < 1:
        print(json.dumps({"unsupported": "the kernel offers no Landlock (Linux 5.13+, enabled in the LSM list)"}))
        return
    try:
        if linux:
            enter_namespaces(job["folder"], job["folder_bytes"])
        with open(os.path.join(job["folder"], "program.py"), "w", encoding="utf-8") as f:
            f.write(job["program"])
    except OSError as exc:
        print(json.dumps({"unsupported": f"no unprivileged user, network and PID namespaces ({exc})"}))
        return
    read_end, write_end = os.pipe()
    first = os.fork()
    if first == 0:
        os.close(read_end)
        if linux:
            init(job, abi, write_end)
        program(job, abi)
    os.close(write_end)

    def overtime(_signum, _frame) -> None:
        os.kill(first, signal.SIGKILL)

    signal.signal(signal.SIGALRM, overtime)
    signal.setitimer(signal.ITIMER_REAL, job["time_s"] + job["grace_s"])
    _, status = os.waitpid(first, 0)
    signal.setitimer(signal.ITIMER_REAL, 0)
    if not linux:
        try:
            os.killpg(first, signal.SIGKILL)  # what it left in its group; a setsid escapes: no sandbox
        except ProcessLookupError:
            pass
    reported = os.read(read_end, 4096) if linux else json.dumps(_ending(status)).encode()
    killed = os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    result = json.loads(reported) if reported and not (linux and killed) else {"timeout": True}
    result["stderr"] = _stderr_tail(job["folder"])
    print(json.dumps(result))


if __name__ == "__main__":
    main()
