"""Fetch a repository's files into a folder, resuming whatever an earlier attempt left on disk.

huggingface_hub 2.4 restarts a file from byte 0 after a dropped connection and no longer resumes
a file a killed process left behind, so we download ourselves. A file grows in `<path>.part`
through GETs on the Hub's resolve URL with `Range: bytes=N-`, and is renamed to its path only
once its size, its sha256 (when the Hub gives the LFS oid) and, for safetensors, its header
check out. Every byte in a `.part` file is a byte of the file, whenever the process stops.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO, Callable, Sequence

from opencoder_local.errors import UserError
from opencoder_local.files import move_into_place, write_error
from opencoder_local.models.hub import (
    HubError, RemoteFile, RemoteRepo, endpoint, hub_errors, raise_for_status, require_online, resolve_url, timeout,
)
from opencoder_local.progress import Bar
from opencoder_local.safetensors_header import check_complete

PART_SUFFIX = ".part"
RETRY_WAITS = (0.5, 1.0, 2.0, 4.0)  # pauses after attempts that brought no byte; then we give up
_RETRY_STATUS = (429, 500, 502, 503, 504)
_HASH_BLOCK = 1 << 20


class DownloadCancelled(Exception):
    """`stop()` asked the download to end; the partial file stays to be resumed."""


def download(repo: RemoteRepo, files: Sequence[RemoteFile], folder: Path, bar: Bar,
             stop: Callable[[], bool] | None = None) -> int:
    """Put `files` at their repo paths under `folder`; returns the bytes fetched over the network.

    `bar` counts bytes toward the files' total: first what is already on disk, then what arrives."""
    require_online(repo.repo_id)
    from huggingface_hub.utils import build_hf_headers, get_session

    targets = [(file, target_path(folder, file)) for file in files]
    headers = {**build_hf_headers(), "Accept-Encoding": "identity"}  # Range offsets count file bytes
    job = _Job(repo, endpoint(), bar, stop or (lambda: False), get_session, headers)
    job.advance(sum(_on_disk(file, path) for file, path in targets))
    for file, path in targets:
        job.fetch(file, path)
    return job.fetched


def missing_bytes(files: Sequence[RemoteFile], folder: Path) -> int:
    """Bytes still to download for `files` into `folder`, counting what partial files already hold."""
    return sum(file.size - _on_disk(file, target_path(folder, file)) for file in files)


def target_path(folder: Path, file: RemoteFile) -> Path:
    """Where a repo file lands; a path that would leave `folder` is refused."""
    parts = PurePosixPath(file.path).parts
    if not parts or parts[0] == "/" or any(p in ("..", ".") or "\\" in p or "\0" in p for p in parts):
        raise HubError(f"the Hub listed a file named {file.path!r}, which is not a safe path; refusing to write it")
    return folder.joinpath(*parts)


def partial_path(path: Path) -> Path:
    return path.with_name(path.name + PART_SUFFIX)


def _on_disk(file: RemoteFile, path: Path) -> int:
    """Bytes of `file` already here: all of them when it is in place, else what its partial holds."""
    if _size(path) == file.size:
        return file.size
    held = _size(partial_path(path))
    return held if held is not None and held <= file.size else 0


def _size(path: Path) -> int | None:
    try:
        return path.stat().st_size if path.is_file() else None
    except OSError:
        return None


class _Job:
    def __init__(self, repo: RemoteRepo, hub: str, bar: Bar, stop: Callable[[], bool],
                 session: Callable[[], Any], headers: dict[str, str]):
        self.repo, self.hub, self.bar, self.stop = repo, hub, bar, stop
        self.session, self.headers = session, headers  # session() each time: huggingface_hub may replace it
        self.done = 0  # what the bar shows
        self.fetched = 0  # bytes received, including any we had to throw away

    def advance(self, n: int) -> None:
        self.done += n
        self.bar.advance(n)

    def rewind(self, n: int) -> None:
        """Bytes counted on the bar were thrown away: show the truth."""
        if n:
            self.done -= n
            self.bar.set(self.done)

    def fetch(self, file: RemoteFile, path: Path) -> None:
        if _size(path) == file.size:
            return  # only a checked file is ever renamed into place
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:
            raise write_error(path, exc) from None
        part = partial_path(path)
        with hub_errors(self.repo.repo_id, self.hub, self.repo.revision, file.path):
            problem = None
            for _ in range(2):  # a file that fails a check is fetched once more from scratch
                digest = self._transfer(file, part)
                problem = _problem(part, file, digest)
                if problem is None:
                    try:
                        move_into_place(part, path)
                    except OSError as exc:
                        raise write_error(path, exc) from None
                    return
                self.rewind(_size(part) or 0)
                part.unlink(missing_ok=True)
            raise HubError(f"{file.path} from {self.repo.repo_id} arrived damaged twice ({problem}); "
                           f"the copy at {self.hub} may be broken, try again later")

    def _transfer(self, file: RemoteFile, part: Path) -> str:
        """Grow `part` to the file's size from wherever it stands; the sha256 of all its bytes."""
        url = resolve_url(self.hub, self.repo.repo_id, self.repo.revision, file.path)
        with _Partial.open(part, file.size) as partial:
            failures, reached = 0, partial.offset
            while partial.offset < file.size:
                try:
                    if self._attempt(url, partial, file):
                        break  # the answer ended cleanly: the checks judge what we have
                except Exception as exc:
                    if not _transient(exc):
                        raise
                    # Progress is the file growing past its furthest point, so a server that restarts
                    # every answer from byte 0 and always drops at the same place is given up on too.
                    failures = 0 if partial.offset > reached else failures + 1
                    reached = max(reached, partial.offset)
                    if failures > len(RETRY_WAITS):
                        raise
                    if failures:
                        time.sleep(RETRY_WAITS[failures - 1])
            return partial.hasher.hexdigest()

    def _attempt(self, url: str, partial: "_Partial", file: RemoteFile) -> bool:
        """One GET from `partial.offset`; True when the answer ended without a transport error."""
        if self.stop():
            raise DownloadCancelled
        headers = dict(self.headers)
        if partial.offset:
            headers["Range"] = f"bytes={partial.offset}-"
        with self.session().stream("GET", url, headers=headers, timeout=timeout()) as response:
            if response.status_code == 416 or (response.status_code == 206 and not _starts_at(response, partial.offset)):
                asked = headers.get("Range", "the whole file")
                self._restart(partial)  # the server disagrees about what we hold: start over, honestly
                raise _RangeRefused(f"the Hub at {self.hub} would not send {file.path} from {self.repo.repo_id} "
                                    f"(asked for {asked}, got {response.status_code}); try again later")
            raise_for_status(response)
            if partial.offset and response.status_code != 206:
                self._restart(partial)  # Range ignored: the body starts at byte 0
            for piece in response.iter_bytes():  # as the network delivers it, so a kill loses nothing written
                partial.write(piece)
                self.fetched += len(piece)
                self.advance(len(piece))
                if partial.offset > file.size:
                    return True  # longer than the Hub says: stop reading, the size check rejects it
                if self.stop():
                    raise DownloadCancelled
        return True

    def _restart(self, partial: "_Partial") -> None:
        self.rewind(partial.offset)
        partial.restart()


class _RangeRefused(HubError):
    """The server answered a Range request with 416 or with another range."""


def _transient(exc: Exception) -> bool:
    import httpx2
    from huggingface_hub.errors import HfHubHTTPError

    if isinstance(exc, HfHubHTTPError):
        return exc.response.status_code in _RETRY_STATUS
    return isinstance(exc, (httpx2.TransportError, _RangeRefused))


def _starts_at(response: Any, offset: int) -> bool:
    """Whether a 206 answer's Content-Range ("bytes 100-199/200") begins at `offset`; a server that
    leaves it out is taken at its word (the size and hash checks still judge the result)."""
    unit, _, rest = response.headers.get("Content-Range", f"bytes {offset}-").partition(" ")
    return unit == "bytes" and rest.split("-", 1)[0].strip() == str(offset)


def _problem(part: Path, file: RemoteFile, digest: str) -> str | None:
    """What is wrong with a finished partial file, or None."""
    size = _size(part) or 0
    if size != file.size:
        return f"{size:,} bytes where the Hub lists {file.size:,}"
    if file.sha256 is not None and digest != file.sha256:
        return "its sha256 differs from the Hub's"
    if file.path.endswith(".safetensors"):
        try:
            check_complete(part)
        except UserError as exc:
            return str(exc)
    return None


class _Partial:
    """An open `.part` file, where it stands, and the sha256 of what it holds."""

    def __init__(self, path: Path, out: BinaryIO, hasher: Any, offset: int):
        self.path, self.out, self.hasher, self.offset = path, out, hasher, offset

    @classmethod
    def open(cls, path: Path, size: int) -> "_Partial":
        hasher = hashlib.sha256()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            out = open(path, "r+b" if path.is_file() else "w+b")
            offset = 0
            while offset < size and (block := out.read(_HASH_BLOCK)):  # what an earlier run left
                hasher.update(block)
                offset += len(block)
        except OSError as exc:
            raise write_error(path, exc) from None
        partial = cls(path, out, hasher, offset)
        if offset > size or out.read(1):
            partial.restart()  # longer than the file can be: not something we wrote
        return partial

    def write(self, piece: bytes) -> None:
        try:
            self.out.write(piece)
            self.out.flush()  # on disk before it is counted: a killed process keeps all it was told of
        except OSError as exc:
            raise write_error(self.path, exc) from None
        self.hasher.update(piece)
        self.offset += len(piece)

    def restart(self) -> None:
        try:
            self.out.seek(0)
            self.out.truncate()
        except OSError as exc:
            raise write_error(self.path, exc) from None
        self.hasher, self.offset = hashlib.sha256(), 0

    def __enter__(self) -> "_Partial":
        return self

    def __exit__(self, *exc: object) -> None:
        self.out.close()
