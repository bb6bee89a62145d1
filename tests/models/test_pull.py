"""`opencoder pull` end to end against the Hub stand-in: real HTTP, the real huggingface_hub client,
our converter, a chat answer from what was installed."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from opencoder_local.models import installed, pull
from opencoder_local.models.registry import demo_path

REPO = "infly/OpenCoder-8B-Instruct"
NAME = "opencoder-8b-instruct"
SHARD = "model-00002-of-00003.safetensors"


def opencoder(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "opencoder_local", *args], capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def one_line_error(result: subprocess.CompletedProcess, *words: str) -> None:
    assert result.returncode != 0 and "Traceback" not in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    for word in words:
        assert word in result.stderr, result.stderr


def downloads() -> Path:
    return Path(os.environ["OPENCODER_HOME"]) / "data" / "downloads"


def checkpoint_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.iterdir())


def wait_for(condition, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def test_a_pull_installs_a_verified_model_that_answers_then_deletes_the_checkpoint(hub, hub_checkpoint):
    hub.add_repo(REPO, hub_checkpoint)
    result = opencoder("pull", NAME)
    assert result.returncode == 0, result.stderr
    assert f"installed {NAME}:q4_k_m" in result.stdout and "top-1 agreement" in result.stdout
    assert "freed" in result.stdout and not any(downloads().iterdir())
    served = sum(hub.sent.values())
    assert served == checkpoint_bytes(hub_checkpoint)  # every file once, nothing twice
    (model,) = installed.installed_models()
    assert model.manifest.source == REPO and len(model.manifest.revision) == 40
    assert "opencoder-8b-instruct:q4_k_m" in opencoder("models").stdout
    hub.stop()  # from now on, no Hub at all
    answer = subprocess.run([sys.executable, "-m", "opencoder_local", "chat", "-p", "hi", "--max-tokens", "4"],
                            capture_output=True, text=True, timeout=300, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert answer.returncode == 0 and answer.stdout.strip(), answer.stderr
    again = opencoder("pull", NAME)
    assert again.returncode == 0 and "already installed" in again.stdout


def test_a_dropped_connection_is_resumed_without_fetching_a_byte_twice(hub, hub_checkpoint):
    hub.add_repo(REPO, hub_checkpoint)
    hub.drop(SHARD, after=200_000)
    result = opencoder("pull", NAME, "--keep-checkpoint")
    assert result.returncode == 0, result.stderr
    assert hub.ranges(SHARD) == [None, "bytes=200000-"]
    assert sum(hub.sent.values()) == checkpoint_bytes(hub_checkpoint)
    (kept,) = downloads().iterdir()
    assert f"the checkpoint stays in {kept}" in result.stdout


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGINT])
def test_a_killed_or_interrupted_pull_is_resumed_by_the_next_one(hub, hub_checkpoint, how):
    hub.add_repo(REPO, hub_checkpoint)
    held = 250_000
    block = hub.block(SHARD, after=held)
    first = subprocess.Popen([sys.executable, "-m", "opencoder_local", "pull", NAME], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        assert block.reached.wait(120), "the first pull never reached the block"
        wait_for(lambda: any(p.stat().st_size == held for p in downloads().rglob(SHARD + ".part")),
                 "the partial file to hold the bytes sent")
        first.send_signal(how)
        _out, err = first.communicate(timeout=60)
    finally:
        first.kill()
        block.release.set()
    if how == signal.SIGINT:
        assert first.returncode == 130 and "run the same command again to resume" in err and "Traceback" not in err
    assert installed.installed_models() == []
    second = opencoder("pull", NAME)
    assert second.returncode == 0, second.stderr
    assert hub.ranges(SHARD) == [None, f"bytes={held}-"]
    assert sum(hub.sent.values()) == checkpoint_bytes(hub_checkpoint)
    assert len(installed.installed_models()) == 1


def test_a_gguf_repository_installs_the_file_its_tag_names(hub, tmp_path):
    repo = tmp_path / "SmolLM2-135M-Instruct-GGUF"
    repo.mkdir()
    shutil.copy(demo_path(), repo / "SmolLM2-135M-Instruct-Q4_1.gguf")
    (repo / "SmolLM2-135M-Instruct-Q8_0.gguf").write_bytes(b"not fetched")
    (repo / "README.md").write_text("a model card\n")
    hub.add_repo("someone/SmolLM2-135M-Instruct-GGUF", repo)
    result = opencoder("pull", "someone/SmolLM2-135M-Instruct-GGUF:Q4_1")
    assert result.returncode == 0, result.stderr
    assert hub.gets("SmolLM2-135M-Instruct-Q8_0.gguf") == [] and hub.gets("README.md") == []
    (model,) = installed.installed_models()
    assert model.name == "someone/SmolLM2-135M-Instruct-GGUF:q4_1"
    assert model.path.read_bytes() == demo_path().read_bytes() and model.manifest.context == 8192
    answer = opencoder("chat", "-p", "Say hi.", "--max-tokens", "8")
    assert answer.returncode == 0 and answer.stdout.strip(), answer.stderr
    one_line_error(opencoder("pull", "someone/SmolLM2-135M-Instruct-GGUF:Q2_K"), "no GGUF file tagged Q2_K", "Q8_0")


def test_not_enough_disk_stops_before_a_byte_is_downloaded(hub, hub_checkpoint, monkeypatch):
    hub.add_repo(REPO, hub_checkpoint)
    monkeypatch.setattr(pull, "free_bytes", lambda _path: 1000)
    with pytest.raises(pull.PullError, match="not enough disk space: this pull needs .* GB in .*, 0.00 GB is free"):
        pull.pull(NAME)
    assert not [s for s in hub.requests if "/resolve/" in s.path]


@pytest.mark.parametrize(("status", "code", "words"), [
    (401, "RepoNotFound", ["infly/OpenCoder-8B-Instruct"]),
    (403, "GatedRepo", ["gated", "infly/OpenCoder-8B-Instruct"]),
    (500, None, ["500"]),
])
def test_hub_refusals_are_one_line(hub, hub_checkpoint, status, code, words):
    hub.add_repo(REPO, hub_checkpoint)
    hub.fail(REPO, status, code)
    one_line_error(opencoder("pull", NAME, timeout=120), *words)
    assert installed.installed_models() == []


def test_no_hub_and_offline_are_one_line(hub, monkeypatch):
    url = hub.url
    hub.stop()
    one_line_error(opencoder("pull", NAME, timeout=120), "cannot reach", url)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    one_line_error(opencoder("pull", NAME), "offline", "--from-dir")


def test_a_repository_with_only_pickled_weights_is_refused(hub, tmp_path):
    repo = tmp_path / "pickles"
    repo.mkdir()
    (repo / "config.json").write_text("{}")
    (repo / "pytorch_model.bin").write_bytes(b"\x80\x04pickle")
    hub.add_repo("someone/pickles", repo)
    one_line_error(opencoder("pull", "someone/pickles"), "pickle")
    assert hub.gets("pytorch_model.bin") == []
