"""A tiny converter checkpoint for the bad-input table, built once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from fixtures.checkpoint import SMALL_8B, scaled, write_checkpoint
from fixtures.opencoder_tokenizer import ReferenceTokenizer


@pytest.fixture(scope="session")
def tiny_ckpt(tmp_path_factory, opencoder_tokenizer_dir: Path, reference_tokenizer: ReferenceTokenizer) -> Path:
    folder = tmp_path_factory.mktemp("reliability") / "OpenCoder-tiny"
    return write_checkpoint(folder, scaled(SMALL_8B, layers=1), opencoder_tokenizer_dir,
                            reference_tokenizer.vocab_size, shards=1)
