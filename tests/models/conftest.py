"""A Hub stand-in on 127.0.0.1 with the environment pointing at it, and a tiny checkpoint to serve."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from fixtures.checkpoint import SMALL_8B, write_checkpoint
from fixtures.hub_server import HubServer
from fixtures.opencoder_tokenizer import ReferenceTokenizer


@pytest.fixture(scope="session")
def hub_checkpoint(tmp_path_factory, opencoder_tokenizer_dir: Path, reference_tokenizer: ReferenceTokenizer) -> Path:
    """Config, tokenizer files, three safetensors shards and their index, as the release lays them out."""
    return write_checkpoint(tmp_path_factory.mktemp("hub") / "OpenCoder-8B-Instruct-tiny", SMALL_8B,
                            opencoder_tokenizer_dir, reference_tokenizer.vocab_size, shards=3, seed=4)


@pytest.fixture
def hub(monkeypatch) -> Iterator[HubServer]:
    """A started stand-in (add repos with hub.add_repo); HF_ENDPOINT points at it, offline mode and token unset."""
    with HubServer() as server:
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
        monkeypatch.delenv("HF_TOKEN", raising=False)
        yield server
