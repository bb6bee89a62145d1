"""What the GGUF says: llama.cpp's hparams, OpenCoder's tokenizer keys, and exact tokenization."""

from __future__ import annotations

import gguf
import numpy as np
import pytest

from fixtures.corpus import read_text, split_corpus
from fixtures.llama_vocab import load_vocab
from fixtures.opencoder_tokenizer import CHAT_TEMPLATE, IM_END, IM_START
from opencoder_convert.vocab import PRE_SPLIT_KEY
from opencoder_local.engine.tokenizer import OPENCODER_PRE, SPLIT_PATTERN, pre_split


def fields(path) -> dict:
    reader = gguf.GGUFReader(path)
    return {name: field.contents() for name, field in reader.fields.items()}, reader


def test_hparams_and_file_type(ckpt_15b, convert):
    meta, reader = fields(convert(ckpt_15b, "q8_0"))
    arch = meta[gguf.Keys.General.ARCHITECTURE]
    assert arch == "llama"
    key = lambda k: meta[k.format(arch=arch)]  # noqa: E731
    assert key(gguf.Keys.LLM.EMBEDDING_LENGTH) == 288
    assert key(gguf.Keys.Attention.HEAD_COUNT) == 6 and key(gguf.Keys.Attention.HEAD_COUNT_KV) == 6
    assert key(gguf.Keys.Rope.DIMENSION_COUNT) == 48
    assert key(gguf.Keys.LLM.CONTEXT_LENGTH) == 4096
    assert key(gguf.Keys.Rope.FREQ_BASE) == pytest.approx(10000.0)
    assert key(gguf.Keys.Attention.LAYERNORM_RMS_EPS) == pytest.approx(1e-5)
    assert meta[gguf.Keys.General.FILE_TYPE] == gguf.LlamaFileType.MOSTLY_Q8_0
    assert meta[gguf.Keys.General.NAME] == "OpenCoder-1.5B-Instruct-tiny"
    types = {t.name: gguf.GGMLQuantizationType(t.tensor_type) for t in reader.tensors}
    assert all(v == gguf.GGMLQuantizationType.F32 for k, v in types.items() if k.endswith("norm.weight"))
    assert types["blk.0.ffn_up.weight"] == gguf.GGMLQuantizationType.Q8_0
    assert "output.weight" in types  # untied lm_head


def test_opencoder_tokenizer_keys(ckpt_8b, convert, n_tokens, reference_tokenizer):
    meta, _ = fields(convert(ckpt_8b, "f16"))
    T = gguf.Keys.Tokenizer
    assert meta[T.MODEL] == "llama" and meta[T.PRE] == OPENCODER_PRE
    assert meta[T.ADD_PREFIX] is False and meta[T.ADD_BOS] is False
    assert meta[PRE_SPLIT_KEY] == SPLIT_PATTERN
    assert meta[T.CHAT_TEMPLATE] == CHAT_TEMPLATE
    tokens, types = meta[T.LIST], meta[T.TOKEN_TYPE]
    assert len(tokens) == n_tokens + 99 == len(meta[T.SCORES])
    assert tokens[n_tokens - 2:n_tokens] == [IM_END, IM_START]
    assert types[n_tokens - 2] == gguf.TokenType.CONTROL
    assert tokens[n_tokens] == f"[PAD{n_tokens}]" and types[n_tokens] == gguf.TokenType.UNUSED
    assert types[0] == gguf.TokenType.UNKNOWN and types[1] == types[2] == gguf.TokenType.CONTROL
    assert tokens[3:6] == ["<0x00>", "<0x01>", "<0x02>"] and types[3] == gguf.TokenType.BYTE
    sp = reference_tokenizer.sp
    assert tokens[:sp.get_piece_size()] == [sp.id_to_piece(i) for i in range(sp.get_piece_size())]
    assert np.allclose(meta[T.SCORES][300:310], [sp.get_score(i) for i in range(300, 310)])
    assert (meta[T.BOS_ID], meta[T.EOS_ID], meta[T.UNK_ID], meta[T.PAD_ID]) == (1, n_tokens - 2, 0, 2)


def test_base_model_has_no_template_and_eos_is_end_of_text(ckpt_base_tied, convert):
    meta, reader = fields(convert(ckpt_base_tied, "f32"))
    assert gguf.Keys.Tokenizer.CHAT_TEMPLATE not in meta
    assert meta[gguf.Keys.Tokenizer.EOS_ID] == 2
    assert "output.weight" not in {t.name for t in reader.tensors}


def test_tokenization_matches_reference_on_unseen_files(ckpt_8b, convert, reference_tokenizer):
    """llama.cpp on each pre-split piece (no space prefix) == OpenCoder's reference tokenizer."""
    _, unseen = split_corpus()
    with load_vocab(convert(ckpt_8b, "q8_0")) as vocab:
        for path in unseen[::4]:
            text = read_text(path)
            ours = [t for piece in pre_split(text) for t in vocab.tokenize(piece)]
            assert ours == reference_tokenizer.encode(text), path
        chat = f"{IM_START}user\nfix   this{IM_END}\n"
        assert vocab.tokenize(chat, parse_special=True)[0] == reference_tokenizer.encode(chat)[0]
