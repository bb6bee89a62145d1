"""The Hub layer and the resumable downloader, against a real HTTP server standing in for the Hub."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fixtures.hub_server import HubServer
from opencoder_local.models import download as download_module
from opencoder_local.models.download import DownloadCancelled, download, missing_bytes
from opencoder_local.models.hub import HubError, HubOfflineError, RemoteRepo, resolve_repo

REPO_ID = "infly/OpenCoder-8B-Instruct-tiny"
SHARD = "model-00003-of-00003.safetensors"


@pytest.fixture
def hub(hub: HubServer, hub_checkpoint: Path) -> HubServer:
    """The stand-in serving the tiny checkpoint as REPO_ID."""
    hub.add_repo(REPO_ID, hub_checkpoint)
    return hub


class RecordingBar:
    """A Bar that remembers every step, so a test can see what a person would have seen."""

    def __init__(self) -> None:
        self.done, self.steps, self.highest, self.closed = 0, [], 0, False

    def advance(self, n: int) -> None:
        self.set(self.done + n)

    def set(self, done: int) -> None:
        self.steps.append(done - self.done)
        self.done = done
        self.highest = max(self.highest, done)

    def close(self) -> None:
        self.closed = True


def fetch(folder: Path, repo: RemoteRepo | None = None, **kw) -> tuple[int, RecordingBar, RemoteRepo]:
    repo = repo or resolve_repo(REPO_ID)
    bar = RecordingBar()
    return download(repo, kw.pop("files", repo.files), folder, bar, **kw), bar, repo


def size_of(repo: RemoteRepo, path: str) -> int:
    return next(f.size for f in repo.files if f.path == path)


def assert_same_files(folder: Path, checkpoint: Path) -> None:
    expected = sorted(p.name for p in checkpoint.iterdir())
    assert sorted(p.name for p in folder.iterdir()) == expected  # nothing left over: no .part file
    for name in expected:
        assert (folder / name).read_bytes() == (checkpoint / name).read_bytes(), name


def wait_for(condition, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


# -- the stand-in and the listing


def test_stand_in_serves_what_snapshot_download_expects(hub, hub_checkpoint, tmp_path):
    from huggingface_hub import snapshot_download

    folder = Path(snapshot_download(REPO_ID, endpoint=hub.url, cache_dir=tmp_path / "hf"))
    assert_same_files(folder, hub_checkpoint)
    seen = {(s.method, s.path.split("?")[0]) for s in hub.requests}
    sha = hub.repos[REPO_ID].sha
    assert ("GET", f"/api/models/{REPO_ID}/revision/main") in seen
    assert ("GET", f"/api/models/{REPO_ID}/tree/{sha}") in seen
    for name in ("config.json", SHARD):
        assert {("HEAD", f"/{REPO_ID}/resolve/{sha}/{name}"), ("GET", f"/{REPO_ID}/resolve/{sha}/{name}")} <= seen


def test_resolve_repo_lists_commit_sizes_and_lfs_sha256_across_pages(hub, hub_checkpoint):
    hub.page_size = 2
    repo = resolve_repo(REPO_ID)
    sha = hub.repos[REPO_ID].sha
    assert repo.repo_id == REPO_ID and repo.revision == sha
    assert {f.path: f.size for f in repo.files} == {p.name: p.stat().st_size for p in hub_checkpoint.iterdir()}
    lfs = {f.path for f in repo.files if f.sha256}
    assert lfs == {p.name for p in hub_checkpoint.iterdir() if p.suffix in (".safetensors", ".model")}
    trees = [s.path for s in hub.requests if "/tree/" in s.path]
    assert len(trees) > 2 and trees[0].startswith(f"/api/models/{REPO_ID}/tree/{sha}?") and "recursive=true" in trees[0]


def test_resolve_repo_without_lfs_info_has_no_sha256(hub, hub_checkpoint):
    hub.add_repo(REPO_ID, hub_checkpoint, lfs=False)
    assert all(f.sha256 is None for f in resolve_repo(REPO_ID).files)


# -- downloading


def test_full_download_gives_the_repo_files_byte_for_byte(hub, hub_checkpoint, tmp_path):
    fetched, bar, repo = fetch(tmp_path / "dl")
    total = sum(f.size for f in repo.files)
    assert_same_files(tmp_path / "dl", hub_checkpoint)
    assert fetched == total == bar.done == bar.highest
    assert all(hub.sent[f.path] == f.size for f in repo.files)
    assert all(s.range is None for s in hub.requests if s.method == "GET" and "/resolve/" in s.path)


def test_finished_files_are_not_fetched_again(hub, tmp_path):
    _, _, repo = fetch(tmp_path / "dl")
    gets = len(hub.gets(SHARD))
    fetched, bar, _ = fetch(tmp_path / "dl", repo)
    assert fetched == 0 and len(hub.gets(SHARD)) == gets
    assert bar.steps == [sum(f.size for f in repo.files)]
    assert missing_bytes(repo.files, tmp_path / "dl") == 0


def test_dropped_connection_resumes_in_the_same_call(hub, hub_checkpoint, tmp_path):
    hub.drop(SHARD, after=300_000)
    fetched, bar, repo = fetch(tmp_path / "dl")
    assert_same_files(tmp_path / "dl", hub_checkpoint)
    assert hub.sent[SHARD] == size_of(repo, SHARD)
    assert hub.ranges(SHARD) == [None, "bytes=300000-"]
    assert fetched == bar.done == sum(f.size for f in repo.files)


_CHILD = """
import sys
from pathlib import Path
from opencoder_local.models.download import download
from opencoder_local.models.hub import resolve_repo
from opencoder_local.progress import silent_bars
repo = resolve_repo(sys.argv[1])
print(download(repo, repo.files, Path(sys.argv[2]), silent_bars("", 0)))
"""


def test_killed_process_is_resumed_by_the_next_one(hub, hub_checkpoint, tmp_path):
    folder, held = tmp_path / "dl", 250_000
    block = hub.block(SHARD, after=held)
    part = folder / (SHARD + ".part")
    child = subprocess.Popen([sys.executable, "-c", _CHILD, REPO_ID, str(folder)], env=os.environ.copy())
    try:
        assert block.reached.wait(60), "the first process never reached the block"
        wait_for(lambda: part.is_file() and part.stat().st_size == held, "the partial file to hold the sent bytes")
        child.kill()
    finally:
        child.wait()
        block.release.set()
    assert part.read_bytes() == (hub_checkpoint / SHARD).read_bytes()[:held]
    second = subprocess.run([sys.executable, "-c", _CHILD, REPO_ID, str(folder)], capture_output=True, text=True,
                            timeout=120)
    assert second.returncode == 0, second.stderr
    assert_same_files(folder, hub_checkpoint)
    shard_size = (hub_checkpoint / SHARD).stat().st_size
    assert hub.sent[SHARD] == shard_size
    assert hub.ranges(SHARD) == [None, f"bytes={held}-"]


def test_stop_leaves_a_partial_file_that_the_next_call_resumes(hub, hub_checkpoint, tmp_path):
    folder, held = tmp_path / "dl", 200_000
    part = folder / (SHARD + ".part")
    block = hub.block(SHARD, after=held)
    repo = resolve_repo(REPO_ID)
    shard = [f for f in repo.files if f.path == SHARD]
    with pytest.raises(DownloadCancelled):
        fetch(folder, repo, files=shard, stop=lambda: part.is_file() and part.stat().st_size >= held)
    block.release.set()
    assert part.read_bytes() == (hub_checkpoint / SHARD).read_bytes()[:held]
    assert missing_bytes(shard, folder) == shard[0].size - held
    fetched, bar, _ = fetch(folder, repo, files=shard)
    assert fetched == shard[0].size - held and bar.steps[0] == held and bar.done == shard[0].size
    assert hub.ranges(SHARD) == [None, f"bytes={held}-"] and hub.sent[SHARD] == shard[0].size
    assert (folder / SHARD).read_bytes() == (hub_checkpoint / SHARD).read_bytes() and not part.exists()


def test_ctrl_c_leaves_a_valid_partial_file(hub, hub_checkpoint, tmp_path):
    folder = tmp_path / "dl"
    part = folder / (SHARD + ".part")

    def interrupt() -> bool:
        if part.is_file() and part.stat().st_size > 0:
            raise KeyboardInterrupt
        return False

    with pytest.raises(KeyboardInterrupt):
        fetch(folder, stop=interrupt)
    held = part.stat().st_size
    assert 0 < held and part.read_bytes() == (hub_checkpoint / SHARD).read_bytes()[:held]
    fetch(folder)
    assert_same_files(folder, hub_checkpoint)
    assert hub.ranges(SHARD)[-1] == f"bytes={held}-"


def test_server_that_ignores_range_restarts_the_file_and_counts_honestly(hub, hub_checkpoint, tmp_path):
    hub.honour_range = False
    hub.drop(SHARD, after=300_000)
    fetched, bar, repo = fetch(tmp_path / "dl")
    assert_same_files(tmp_path / "dl", hub_checkpoint)
    total = sum(f.size for f in repo.files)
    assert fetched == total + 300_000
    assert bar.done == total and bar.highest <= total


def test_corrupt_bytes_fail_the_sha256_and_are_fetched_again(hub, hub_checkpoint, tmp_path):
    repo = resolve_repo(REPO_ID)
    hub.corrupt(SHARD, at=size_of(repo, SHARD) // 2)
    fetched, bar, _ = fetch(tmp_path / "dl", repo)
    assert_same_files(tmp_path / "dl", hub_checkpoint)
    assert hub.sent[SHARD] == 2 * size_of(repo, SHARD)
    assert bar.done == sum(f.size for f in repo.files)


def test_without_sha256_a_corrupt_safetensors_header_is_caught(hub, hub_checkpoint, tmp_path):
    hub.add_repo(REPO_ID, hub_checkpoint, lfs=False)
    hub.corrupt(SHARD, at=8)  # the header's opening brace
    fetched, _, repo = fetch(tmp_path / "dl")
    assert_same_files(tmp_path / "dl", hub_checkpoint)
    assert hub.sent[SHARD] == 2 * size_of(repo, SHARD)


def test_a_file_damaged_every_time_is_one_error_line(hub, tmp_path):
    hub.corrupt(SHARD, at=1000, times=None)
    with pytest.raises(HubError) as err:
        fetch(tmp_path / "dl")
    line = str(err.value)
    assert SHARD in line and REPO_ID in line and "sha256" in line and "\n" not in line
    assert not (tmp_path / "dl" / SHARD).exists() and not (tmp_path / "dl" / (SHARD + ".part")).exists()


def test_truncated_file_is_detected_and_fetched_again(hub, hub_checkpoint, tmp_path):
    hub.truncate(SHARD, by=1000)
    fetch(tmp_path / "dl")
    assert_same_files(tmp_path / "dl", hub_checkpoint)
    hub.truncate("config.json", by=10, times=None)
    with pytest.raises(HubError, match=r"config\.json .* bytes where the Hub lists"):
        fetch(tmp_path / "again")


def test_repeated_drops_without_progress_give_up_in_one_line_and_keep_the_partial(hub, hub_checkpoint, tmp_path,
                                                                                  monkeypatch):
    monkeypatch.setattr(download_module, "RETRY_WAITS", (0, 0, 0))
    hub.drop(SHARD, after=100_000)
    hub.drop(SHARD, after=0, times=None)
    with pytest.raises(HubError) as err:
        fetch(tmp_path / "dl")
    assert f"the connection to the Hub at {hub.url} broke" in str(err.value) and SHARD in str(err.value)
    assert hub.ranges(SHARD) == [None] + ["bytes=100000-"] * 4
    hub.heal()
    fetch(tmp_path / "dl")
    assert_same_files(tmp_path / "dl", hub_checkpoint)


def test_a_server_that_ignores_range_and_always_drops_is_given_up_on(hub, tmp_path, monkeypatch):
    monkeypatch.setattr(download_module, "RETRY_WAITS", (0, 0))
    hub.honour_range = False
    hub.drop(SHARD, after=100_000, times=None)
    with pytest.raises(HubError, match=f"the connection to the Hub at {hub.url} broke while fetching {SHARD}"):
        fetch(tmp_path / "dl")
    assert hub.ranges(SHARD) == [None] + ["bytes=100000-"] * 3


def test_server_errors_while_downloading_are_retried_then_reported(hub, hub_checkpoint, tmp_path, monkeypatch):
    monkeypatch.setattr(download_module, "RETRY_WAITS", (0, 0))
    repo = resolve_repo(REPO_ID)
    hub.fail(REPO_ID, 503, times=2)
    fetch(tmp_path / "dl", repo)
    assert_same_files(tmp_path / "dl", hub_checkpoint)
    hub.fail(REPO_ID, 500)
    with pytest.raises(HubError, match=f"the Hub at {hub.url} answered 500 Internal Server Error for added_tokens.json from {REPO_ID}; .*try again later"):
        fetch(tmp_path / "again", repo)


def test_lfs_redirect_to_another_host_does_not_carry_the_token(hub, hub_checkpoint, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_stand_in_token")
    hub.cdn = True
    fetch(tmp_path / "dl")
    assert_same_files(tmp_path / "dl", hub_checkpoint)
    resolve, cdn = hub.gets(SHARD)
    assert "/resolve/" in resolve.path and resolve.authorized
    assert cdn.path.startswith("/cdn/") and cdn.host.startswith("localhost") and not cdn.authorized


# -- one line for each way the Hub can fail


@pytest.mark.parametrize("status, code, message, expected", [
    (401, "RepoNotFound", "Invalid username or password.", "repository {repo} was not found on the Hub at {url}"),
    (404, "RepoNotFound", "Repository not found", "repository {repo} was not found on the Hub at {url}"),
    (403, "GatedRepo", "Access to model is restricted", "{repo} is gated: accept its terms on {url}/{repo} and log in"),
    (403, None, "Access to this resource is disabled.", "{repo} has been disabled on the Hub at {url}"),
    (401, None, "Invalid credentials in Authorization header",
     "the Hub at {url} refused access to {repo} (401 Unauthorized); log in with `hf auth login`"),
    (503, None, "Service Unavailable", "the Hub at {url} answered 503 Service Unavailable for {repo}"),
    (500, None, "Internal Error", "the Hub at {url} answered 500 Internal Server Error for {repo}"),
])
def test_hub_refusals_are_one_line_naming_the_repo(hub, status, code, message, expected):
    hub.fail(REPO_ID, status, code, message)
    with pytest.raises(HubError) as err:
        resolve_repo(REPO_ID)
    assert str(err.value).startswith(expected.format(repo=REPO_ID, url=hub.url)) and "\n" not in str(err.value)


def test_unknown_repo_and_revision(hub):
    with pytest.raises(HubError, match=f"repository infly/nothing-here was not found on the Hub at {hub.url}"):
        resolve_repo("infly/nothing-here")
    with pytest.raises(HubError, match=f"revision 'v9' was not found in {REPO_ID}"):
        resolve_repo(REPO_ID, "v9")
    with pytest.raises(HubError, match="'not a name' is not a repository name"):
        resolve_repo("not a name")


def test_server_down_is_one_line_naming_the_endpoint(hub, tmp_path, monkeypatch):
    monkeypatch.setattr(download_module, "RETRY_WAITS", ())
    repo = resolve_repo(REPO_ID)
    hub.stop()
    with pytest.raises(HubError, match=f"cannot reach the Hub at {hub.url} to fetch {REPO_ID} "):
        resolve_repo(REPO_ID)
    with pytest.raises(HubError, match=f"cannot reach the Hub at {hub.url} to fetch added_tokens.json from {REPO_ID}"):
        fetch(tmp_path / "dl", repo)


_CONNECTS: list[object] = []
_AUDITING: list[bool] = []


def _audit(event: str, args: tuple) -> None:
    if event == "socket.connect" and _AUDITING:
        _CONNECTS.append(args[1])


def test_hf_hub_offline_opens_no_socket(hub, monkeypatch, tmp_path):
    repo = resolve_repo(REPO_ID)
    seen = len(hub.requests)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    if not _AUDITING:
        sys.addaudithook(_audit)  # audit hooks cannot be removed: this one only listens during this test
    _AUDITING.append(True)
    try:
        with pytest.raises(HubOfflineError, match=f"cannot fetch {REPO_ID}: HF_HUB_OFFLINE is set"):
            resolve_repo(REPO_ID)
        with pytest.raises(HubOfflineError):
            fetch(tmp_path / "dl", repo)
    finally:
        _AUDITING.clear()
    assert _CONNECTS == [] and len(hub.requests) == seen
    assert not (tmp_path / "dl").exists()


def test_importing_the_hub_layer_does_not_import_huggingface_hub():
    code = ("import sys, opencoder_local.models.hub, opencoder_local.models.download; "
            "print(sorted(m for m in ('huggingface_hub', 'httpx2') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
