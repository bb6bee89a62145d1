"""Paths a user gives us, and the one atomic file write every part of the project uses.

A user's path is expanded once, here: an unknown `~user`, a NUL byte, text the file system
cannot encode or a name longer than the file system allows is a one-line error instead of a
traceback from deep in pathlib.

An atomic write fills a temporary file in the target's folder, fsyncs it and renames it
over the target, so a reader sees the old file or the new one, never half of one. Only a
regular file is ever replaced: a device, FIFO, socket or folder (or a symlink to one) is
refused before any work is done and again just before the rename. `write_inside` is the same
write for a file that must stay inside a folder (a project): the path is resolved again at the
moment of writing and walked one folder at a time with O_NOFOLLOW, so a folder swapped for a
symlink after the path was checked is refused instead of followed out of it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
from pathlib import Path
from typing import Iterator

from opencoder_local.errors import UserError

_KINDS = {
    stat.S_IFDIR: "a folder",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFIFO: "a named pipe (FIFO)",
    stat.S_IFSOCK: "a socket",
}


NAME_MAX = 255  # bytes in one file name on Linux, macOS and Windows file systems
PATH_MAX = 4096  # bytes in a whole path the kernel takes


class PathError(UserError):
    """A path the user gave cannot be used at all (unknown ~user, NUL byte, bad encoding, too long)."""


class FileWriteError(UserError):
    """A file cannot be written: not a regular file, no such folder, read-only, disk full."""


def user_path(text: str | os.PathLike[str]) -> Path:
    """A path as the user typed it, with `~` and `~user` expanded; unusable text is a PathError."""
    raw = os.fspath(text)
    if "\0" in raw:
        raise PathError(f"{raw!r} is not a usable path: it contains a NUL character")
    try:
        path = Path(raw).expanduser()
        check_length(path)
        return path
    except UnicodeError:
        raise PathError(f"{raw!r} is not a usable path: it cannot be encoded for this file system") from None
    except RuntimeError:  # pathlib: "Could not determine home directory."
        user = raw[1:].split("/", 1)[0] or os.environ.get("USER", "the current user")
        raise PathError(f"cannot expand {raw.split('/', 1)[0]} in {raw}: no home folder known for {user}") from None


def check_length(path: str | os.PathLike[str]) -> None:
    """A PathError when the path, or one name in it, is longer than a file system takes
    (the kernel would say ENAMETOOLONG); UnicodeError when it cannot be encoded at all."""
    encoded = os.fsencode(path)
    longest = max(encoded.split(b"/"), key=len)
    if len(longest) > NAME_MAX:
        raise PathError(f"the path is too long: a name in it has {len(longest):,} bytes, at most {NAME_MAX} "
                        f"are allowed ({short(os.fsdecode(longest))})")
    if len(encoded) > PATH_MAX:
        raise PathError(f"the path is too long: {len(encoded):,} bytes, at most {PATH_MAX:,} are allowed "
                        f"({short(os.fsdecode(encoded))})")


def short(text: str, keep: int = 40) -> str:
    """Long text cut to its first `keep` characters for a one-line message."""
    return text if len(text) <= keep else text[:keep] + "…"


def inside(path: str | os.PathLike[str], folder: str | os.PathLike[str]) -> bool:
    """Is `path` below `folder` (not the folder itself)? Both taken as written: resolve them first."""
    try:
        relative = Path(path).relative_to(folder)
    except ValueError:
        return False
    return relative != Path(".")


def check_replaceable(path: Path) -> None:
    """Refuse, in one line, a target that exists and is not a regular file (symlinks followed)."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return
    except OSError as exc:
        raise FileWriteError(f"cannot write {path}: {exc.strerror or exc}") from None
    if not stat.S_ISREG(mode):
        kind = _KINDS.get(stat.S_IFMT(mode), "not a regular file")
        raise FileWriteError(f"refusing to write {path}: it is {kind}, not a regular file")


@contextlib.contextmanager
def temp_file(folder: Path, suffix: str = ".tmp", prefix: str = ".opencoder.") -> Iterator[Path]:
    """A new empty file in `folder` (0o666 less the umask, applied by the kernel), always removed."""
    while True:
        tmp = folder / f"{prefix}{secrets.token_hex(6)}{suffix}"
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            break
        except FileExistsError:
            continue
    try:
        yield tmp
    finally:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_path(dest: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path next to `dest` to fill; on success it replaces `dest`, else it is removed.

    A new file gets 0o666 less the umask; a replaced file keeps its mode (and owner, where allowed).
    A symlink to a regular file is followed: the file it points to is replaced, the link kept."""
    shown = Path(dest)
    target = Path(os.path.realpath(shown))
    check_replaceable(shown)
    try:
        old = os.stat(target)
    except FileNotFoundError:
        old = None
    except OSError as exc:
        raise write_error(shown, exc) from None
    try:
        with temp_file(target.parent, ".partial", f".{target.name}.") as tmp:
            yield tmp
            if old is not None:
                os.chmod(tmp, stat.S_IMODE(old.st_mode))
                with contextlib.suppress(OSError):  # only root may give a file away
                    os.chown(tmp, old.st_uid, old.st_gid)
            check_replaceable(shown)  # it may have changed while we wrote
            move_into_place(tmp, target)
    except OSError as exc:
        raise write_error(shown, exc) from None


def move_into_place(tmp: Path, target: Path) -> None:
    """The last step of an atomic write: fsync `tmp`, rename it over `target`, fsync the folder."""
    fd = os.open(tmp, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, target)
    _fsync_folder(target.parent)


def write_atomic(dest: str | os.PathLike[str], data: str | bytes) -> None:
    """Replace `dest` with `data` (str is written as UTF-8) atomically; errors are one line."""
    payload = data.encode("utf-8") if isinstance(data, str) else data
    with atomic_path(dest) as tmp:
        with open(tmp, "wb") as handle:
            handle.write(payload)


def write_inside(folder: Path, dest: Path, data: bytes) -> None:
    """Replace (or create, with its folders) `dest`, which must lead to a regular file inside `folder`
    once its symlinks are resolved now, atomically and keeping its mode; else a FileWriteError."""
    root = Path(os.path.realpath(folder))
    target = Path(os.path.realpath(dest))
    if not inside(target, root):
        raise FileWriteError(f"refusing to write {dest}: it now leads outside {folder} (a symlink)")
    *parts, name = target.relative_to(root).parts
    try:
        fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as exc:
        raise write_error(dest, exc) from None
    try:
        for part in parts:
            child = _enter(fd, part, dest)
            os.close(fd)
            fd = child
        _replace_in(fd, name, data, dest)
    except OSError as exc:
        raise write_error(dest, exc) from None
    finally:
        os.close(fd)


def _enter(fd: int, name: str, shown: Path) -> int:
    """The folder `name` in the folder `fd` (made if missing), opened never through a symlink."""
    try:
        try:
            child = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
        except FileNotFoundError:
            os.mkdir(name, dir_fd=fd)
            child = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            raise FileWriteError(f"refusing to write {shown}: {name} changed into a symlink or a file "
                                 "while it was written") from None
        raise
    return child


def _replace_in(fd: int, name: str, data: bytes, shown: Path) -> None:
    """Atomically put `data` at `name` in the folder `fd`, if nothing is there or a regular file is."""
    try:
        old = os.stat(name, dir_fd=fd, follow_symlinks=False)
    except FileNotFoundError:
        old = None
    if old is not None and not stat.S_ISREG(old.st_mode):
        kind = "a symlink" if stat.S_ISLNK(old.st_mode) else _KINDS.get(stat.S_IFMT(old.st_mode), "not a regular file")
        raise FileWriteError(f"refusing to write {shown}: it is {kind} now, not a regular file")
    while True:
        tmp = f".{name}.{secrets.token_hex(6)}.partial"
        try:
            out = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o666, dir_fd=fd)
            break
        except FileExistsError:
            continue
    try:
        with open(out, "wb") as handle:
            handle.write(data)
            if old is not None:
                os.fchmod(handle.fileno(), stat.S_IMODE(old.st_mode))
                with contextlib.suppress(OSError):  # only root may give a file away
                    os.fchown(handle.fileno(), old.st_uid, old.st_gid)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, name, src_dir_fd=fd, dst_dir_fd=fd)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp, dir_fd=fd)
        raise
    os.fsync(fd)


def write_error(path: Path, exc: OSError) -> FileWriteError:
    """An OSError met while writing `path`, as one line (a full disk says so)."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return FileWriteError(f"disk full while writing {path}; free some space and try again")
    return FileWriteError(f"cannot write {path}: {exc.strerror or exc}")


def _fsync_folder(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
