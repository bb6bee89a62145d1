"""Session-wide fixtures shared by every test package (the `fixtures` package is on pythonpath)."""

from __future__ import annotations

from pathlib import Path

import pytest

from fixtures.opencoder_tokenizer import ReferenceTokenizer, write_llamacpp_style_vocab_gguf, write_tokenizer


@pytest.fixture(autouse=True)
def opencoder_home(tmp_path, monkeypatch):
    """No test touches a real home: each gets its own OPENCODER_HOME and working folder."""
    home = tmp_path / "home"
    monkeypatch.setenv("OPENCODER_HOME", str(home))
    monkeypatch.chdir(tmp_path)
    return home


@pytest.fixture
def anyio_backend():
    """Async tests (marked anyio in each module) run on asyncio through anyio's pytest plugin."""
    return "asyncio"


@pytest.fixture(scope="session")
def opencoder_tokenizer_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """OpenCoder-style Instruct tokenizer release files (trained once per session)."""
    return write_tokenizer(tmp_path_factory.mktemp("opencoder_tokenizer"))


@pytest.fixture(scope="session")
def reference_tokenizer(opencoder_tokenizer_dir: Path) -> ReferenceTokenizer:
    return ReferenceTokenizer(opencoder_tokenizer_dir)


@pytest.fixture(scope="session")
def llamacpp_vocab_gguf(opencoder_tokenizer_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A vocab-only GGUF as llama.cpp's own converter writes it (no add_space_prefix key)."""
    out = tmp_path_factory.mktemp("llamacpp_vocab") / "opencoder-vocab.gguf"
    padded = ReferenceTokenizer(opencoder_tokenizer_dir).vocab_size + 99
    return write_llamacpp_style_vocab_gguf(opencoder_tokenizer_dir, out, padded_vocab=padded)
