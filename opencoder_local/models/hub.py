"""The Hugging Face Hub: which files a repository holds at a commit, and one line for every way
that asking can fail.

`huggingface_hub` is imported inside the functions that talk to the Hub, so starting the app
never pays for it. It reads HF_ENDPOINT and HF_HUB_OFFLINE once, at import; we read them at each
call and pass the endpoint explicitly. The token is whatever huggingface_hub finds (HF_TOKEN,
`hf auth login`). Only three kinds of request are made: the revision endpoint (commit and
file names), the tree endpoint (sizes and LFS sha256) and GETs on resolve URLs (download.py).
"""

from __future__ import annotations

import json
import os
import re
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator
from urllib.parse import quote

from opencoder_local.errors import UserError

DEFAULT_ENDPOINT = "https://huggingface.co"
TIMEOUT = 30.0  # seconds to connect, or to wait for the next bytes of an answer
_COMMIT = re.compile(r"[0-9a-f]{40}")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_TRUE = ("1", "on", "yes", "true")  # huggingface_hub's own reading of HF_HUB_OFFLINE


@dataclass(frozen=True)
class RemoteFile:
    path: str  # path inside the repo
    size: int
    sha256: str | None  # the LFS oid when the Hub gives one


@dataclass(frozen=True)
class RemoteRepo:
    repo_id: str  # "owner/name"
    revision: str  # 40-hex commit
    files: tuple[RemoteFile, ...]


class HubError(UserError):
    """The Hub cannot give us a repository or one of its files."""


class HubOfflineError(HubError):
    """HF_HUB_OFFLINE is set: nothing may be fetched."""


def endpoint() -> str:
    """The Hub's address: HF_ENDPOINT as it is set now, else huggingface.co."""
    return (os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")


def require_online(repo_id: str) -> None:
    """Raise HubOfflineError, before any socket is opened, when HF_HUB_OFFLINE is set."""
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in _TRUE:
        raise HubOfflineError(
            f"cannot fetch {repo_id}: HF_HUB_OFFLINE is set, so the Hub is not contacted; "
            "unset it to download, or use a model that is already installed"
        )


def resolve_url(hub: str, repo_id: str, revision: str, path: str) -> str:
    return f"{hub}/{repo_id}/resolve/{quote(revision, safe='')}/{quote(path)}"


def resolve_repo(repo_id: str, revision: str = "main") -> RemoteRepo:
    """The commit `revision` points at and every file in the repository then, with sizes and sha256."""
    hub = endpoint()
    require_online(repo_id)
    from huggingface_hub import HfApi
    from huggingface_hub.utils import build_hf_headers, paginate

    with hub_errors(repo_id, hub, revision):
        info = HfApi(endpoint=hub).model_info(repo_id, revision=revision, timeout=TIMEOUT)
        commit = info.sha
        if not (isinstance(commit, str) and _COMMIT.fullmatch(commit)):
            raise HubError(f"the Hub at {hub} gave no commit for {repo_id} at {revision!r}; is HF_ENDPOINT a Hub?")
        # huggingface_hub's own pagination (Link: rel="next"); list_repo_tree would wait for ever on a stalled server.
        tree = f"{hub}/api/models/{repo_id}/tree/{commit}"
        entries = list(paginate(tree, params={"recursive": True}, headers=build_hf_headers(), timeout=TIMEOUT))
    files = tuple(_remote_file(entry, repo_id, hub) for entry in entries
                  if isinstance(entry, dict) and entry.get("type") == "file")
    return RemoteRepo(repo_id, commit, files)


def _remote_file(entry: dict[str, Any], repo_id: str, hub: str) -> RemoteFile:
    path, size, lfs = entry.get("path"), entry.get("size"), entry.get("lfs")
    if not (isinstance(path, str) and path and isinstance(size, int) and not isinstance(size, bool) and size >= 0):
        raise HubError(f"the Hub at {hub} sent a malformed file list for {repo_id}: {json.dumps(entry)[:200]}")
    oid = lfs.get("oid") if isinstance(lfs, dict) else None
    if isinstance(oid, str):
        oid = oid.lower().removeprefix("sha256:")
    return RemoteFile(path, size, oid if isinstance(oid, str) and _SHA256.fullmatch(oid) else None)


@contextmanager
def hub_errors(repo_id: str, hub: str, revision: str, path: str | None = None) -> Iterator[None]:
    """Within the block, anything the Hub or the network does wrong becomes one HubError line."""
    try:
        yield
    except HubError:
        raise
    except Exception as exc:
        line = _describe(exc, repo_id, hub, revision, path)
        if line is None:
            raise  # not the Hub's doing: a bug of ours, with its traceback
        raise line from None


def _describe(exc: Exception, repo_id: str, hub: str, revision: str, path: str | None) -> HubError | None:
    import httpx2
    from huggingface_hub import errors

    what = f"{path} from {repo_id}" if path else repo_id
    page = f"{hub}/{repo_id}"
    if isinstance(exc, errors.OfflineModeIsEnabled):
        return HubOfflineError(f"cannot fetch {what}: huggingface_hub was started with HF_HUB_OFFLINE set; "
                               "unset it and run the command again")
    if isinstance(exc, errors.HFValidationError):
        return HubError(f"{repo_id!r} is not a repository name (expected owner/name, e.g. infly/OpenCoder-8B-Instruct)")
    if isinstance(exc, errors.GatedRepoError):
        return HubError(f"{repo_id} is gated: accept its terms on {page} and log in with `hf auth login`")
    if isinstance(exc, errors.RepositoryNotFoundError):
        return HubError(f"repository {repo_id} was not found on the Hub at {hub}: check the name "
                        "(a private repository also needs `hf auth login`)")
    if isinstance(exc, errors.RevisionNotFoundError):
        return HubError(f"revision {revision!r} was not found in {repo_id} on the Hub at {hub}")
    if isinstance(exc, errors.RemoteEntryNotFoundError):
        return HubError(f"{what} is listed but not served by the Hub at {hub} (revision {revision[:12]}); "
                        "try again later")
    if isinstance(exc, errors.DisabledRepoError):
        return HubError(f"{repo_id} has been disabled on the Hub at {hub} (revoked by its owner or the Hub); "
                        "it cannot be downloaded")
    if isinstance(exc, errors.HfHubHTTPError):
        return _http_status(exc.response, what, hub)
    if isinstance(exc, (httpx2.ConnectError, httpx2.ConnectTimeout, httpx2.ProxyError)):
        return HubError(f"cannot reach the Hub at {hub} to fetch {what} ({_reason(exc)}); "
                        "check the network connection or HF_ENDPOINT")
    if isinstance(exc, httpx2.TimeoutException):
        return HubError(f"the Hub at {hub} stopped answering while sending {what} ({_reason(exc)}); "
                        "run the command again to resume")
    if isinstance(exc, httpx2.TransportError):
        return HubError(f"the connection to the Hub at {hub} broke while fetching {what} ({_reason(exc)}); "
                        "run the command again to resume")
    if isinstance(exc, json.JSONDecodeError):
        return HubError(f"the Hub at {hub} answered with something that is not JSON for {what}; is HF_ENDPOINT a Hub?")
    return None


def _http_status(response: Any, what: str, hub: str) -> HubError:
    status = f"{response.status_code} {response.reason_phrase}".strip()
    if response.status_code >= 500:
        return HubError(f"the Hub at {hub} answered {status} for {what}; it is down or overloaded, try again later")
    if response.status_code == 429:
        return HubError(f"the Hub at {hub} answered {status} for {what}: too many requests, try again later")
    if response.status_code in (401, 403):
        return HubError(f"the Hub at {hub} refused access to {what} ({status}); log in with `hf auth login` "
                        "with a token that may read it")
    return HubError(f"the Hub at {hub} answered {status} for {what}")


def _reason(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
