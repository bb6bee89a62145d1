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
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator
from urllib.parse import quote

from opencoder_local.errors import UserError
from opencoder_local.peer_data import MAX_DOCUMENT, PeerDataError, parse_json, read_capped

DEFAULT_ENDPOINT = "https://huggingface.co"
DEFAULT_TIMEOUT = 30.0  # seconds to connect, or to wait for the next bytes of an answer
_DOCUMENT_TIMEOUTS = 4  # a JSON document that trickles in takes at most this many timeouts in all
MAX_PAGES = 1000  # of a repository's file list: 1,000 files a page on the Hub
_ERROR_BODY = 64 * 1024
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

    def __init__(self, line: str):
        super().__init__(without_token(line))


class HubOfflineError(HubError):
    """HF_HUB_OFFLINE is set: nothing may be fetched."""


def without_token(text: str) -> str:
    """`text` with the Hub token replaced: the Hub knows the token it was sent and may echo it back
    (in a message, a file name), and no line of ours shows it."""
    if "huggingface_hub" not in sys.modules:
        return text  # nothing has been sent, so there is nothing to echo
    from huggingface_hub import get_token

    token = get_token()
    return text.replace(token, "[HF_TOKEN]") if token else text


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
    from huggingface_hub.utils import validate_repo_id

    with hub_errors(repo_id, hub, revision):
        validate_repo_id(repo_id)
        info, _ = _document(f"{hub}/api/models/{repo_id}/revision/{quote(revision, safe='')}")
        commit = info.get("sha") if isinstance(info, dict) else None
        if not (isinstance(commit, str) and _COMMIT.fullmatch(commit)):
            raise HubError(f"the Hub at {hub} gave no commit for {repo_id} at {revision!r}; is HF_ENDPOINT a Hub?")
        entries = _listing(f"{hub}/api/models/{repo_id}/tree/{commit}", repo_id, hub)
    files = tuple(_remote_file(entry, repo_id, hub) for entry in entries
                  if isinstance(entry, dict) and entry.get("type") == "file")
    return RemoteRepo(repo_id, commit, files)


def _listing(url: str, repo_id: str, hub: str) -> list[Any]:
    """The entries of a paginated tree (Link: rel="next"), within MAX_PAGES and MAX_DOCUMENT bytes in all."""
    entries: list[Any] = []
    received, params, page = 0, {"recursive": "true"}, 0
    while url is not None:
        page += 1
        if page > MAX_PAGES:
            raise HubError(f"the Hub at {hub} listed {repo_id} over more than {MAX_PAGES:,} pages; "
                           "is HF_ENDPOINT a Hub?")
        data, url = _document(url, params, raw=True)
        params = None  # the next link carries its own query
        received += len(data)
        if received > MAX_DOCUMENT:
            raise HubError(f"the Hub at {hub} sent a file list for {repo_id} larger than "
                           f"{MAX_DOCUMENT // (1024 * 1024)} MiB; is HF_ENDPOINT a Hub?")
        value = parse_json(data)
        if not isinstance(value, list):
            raise HubError(f"the Hub at {hub} sent a file list for {repo_id} that is not a list; is HF_ENDPOINT a Hub?")
        entries += value
    return entries


def _document(url: str, params: dict[str, str] | None = None, raw: bool = False) -> tuple[Any, str | None]:
    """One JSON document from the Hub (its bytes, with `raw`), read within bounds, and the next page's URL."""
    from huggingface_hub.utils import build_hf_headers, get_session

    seconds = timeout()
    with get_session().stream("GET", url, params=params, headers=build_hf_headers(), timeout=seconds) as response:
        raise_for_status(response)
        data = read_capped(response.iter_bytes(), MAX_DOCUMENT, seconds * _DOCUMENT_TIMEOUTS)
        return (data if raw else parse_json(data)), response.links.get("next", {}).get("url")


def raise_for_status(response: Any) -> None:
    """huggingface_hub's typed error for a refusal (4xx/5xx), having read at most _ERROR_BODY bytes of it."""
    import httpx2
    from huggingface_hub.utils import hf_raise_for_status

    if response.status_code < 400:
        return
    try:
        body = read_capped(response.iter_bytes(), _ERROR_BODY)
    except PeerDataError:
        body = b""
    headers = [(k, v) for k, v in response.headers.items() if k.lower() not in ("content-encoding", "content-length")]
    hf_raise_for_status(httpx2.Response(response.status_code, headers=headers, content=body,
                                        request=response.request))


def timeout() -> float:
    """Seconds to connect, or to wait for the next bytes of an answer: HF_HUB_DOWNLOAD_TIMEOUT, else 30."""
    raw = os.environ.get("HF_HUB_DOWNLOAD_TIMEOUT", "").strip()
    if not raw:
        return DEFAULT_TIMEOUT
    try:
        seconds = float(raw)
    except ValueError:
        seconds = -1.0
    if not 0 < seconds < float("inf"):
        raise HubError(f"HF_HUB_DOWNLOAD_TIMEOUT must be a number of seconds, not {raw[:40]!r}")
    return seconds


def _remote_file(entry: dict[str, Any], repo_id: str, hub: str) -> RemoteFile:
    path, size, lfs = entry.get("path"), entry.get("size"), entry.get("lfs")
    if not (isinstance(path, str) and path and isinstance(size, int) and not isinstance(size, bool) and size >= 0):
        raise HubError(f"the Hub at {hub} sent a malformed file list for {repo_id}: {without_token(json.dumps(entry))[:200]}")
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
        elsewhere = _redirected_to(exc, hub)
        if elsewhere:
            return HubError(f"cannot reach {elsewhere}, where the Hub at {hub} redirected the download of {what} "
                            f"({_reason(exc)}); try again later")
        return HubError(f"cannot reach the Hub at {hub} to fetch {what} ({_reason(exc)}); "
                        "check the network connection or HF_ENDPOINT")
    if isinstance(exc, httpx2.TimeoutException):
        return HubError(f"the Hub at {hub} stopped answering while sending {what} ({_reason(exc)}); "
                        "run the command again to resume")
    if isinstance(exc, httpx2.TransportError):
        return HubError(f"the connection to the Hub at {hub} broke while fetching {what} ({_reason(exc)}); "
                        "run the command again to resume")
    if isinstance(exc, httpx2.TooManyRedirects):
        return HubError(f"the Hub at {hub} redirected the request for {what} too many times (a redirect loop); "
                        "is HF_ENDPOINT a Hub?")
    if isinstance(exc, PeerDataError):
        return HubError(f"the Hub at {hub} sent {exc} for {what}; is HF_ENDPOINT a Hub?")
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


def _redirected_to(exc: Exception, hub: str) -> str | None:
    """The origin a failed request went to, when a redirect took it away from the Hub; else None."""
    try:
        url = exc.request.url  # type: ignore[attr-defined]
    except (AttributeError, RuntimeError):  # httpx2 raises RuntimeError for an error without a request
        return None
    origin = f"{url.scheme}://{url.netloc.decode('ascii', 'replace')}"
    return origin if origin != hub.rstrip("/") and not hub.startswith(origin + "/") else None


def _reason(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
