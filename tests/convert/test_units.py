"""The named pieces: rope permutation, bf16 widening, the safetensors and SentencePiece readers."""

from __future__ import annotations

import numpy as np
import sentencepiece as spm

from fixtures.checkpoint import f32_to_bf16, write_safetensors
from opencoder_convert.checkpoint import read_safetensors_header, to_f32
from opencoder_convert.reference import apply_rope, rope_tables
from opencoder_convert.sentencepiece_model import parse_sentencepiece_model
from opencoder_convert.tensors import permute_qk


def rope_interleaved(x: np.ndarray, theta: float) -> np.ndarray:
    """GGML's LLAMA rope: rotate adjacent pairs (2i, 2i+1). x: (heads, positions, head_dim)."""
    _, n_pos, dim = x.shape
    inv = 1.0 / theta ** (np.arange(0, dim, 2) / dim)
    ang = np.outer(np.arange(n_pos), inv)
    cos, sin = np.cos(ang), np.sin(ang)
    even, odd = x[..., 0::2], x[..., 1::2]
    out = np.empty_like(x)
    out[..., 0::2] = even * cos - odd * sin
    out[..., 1::2] = even * sin + odd * cos
    return out


def test_permute_small_example():
    assert permute_qk(np.arange(8), n_head=2).tolist() == [0, 2, 1, 3, 4, 6, 5, 7]


def test_permute_turns_rotate_half_rope_into_interleaved_rope():
    rng = np.random.default_rng(0)
    n_head, n_kv, dim, hidden, n_pos = 8, 2, 12, 24, 5
    w = rng.standard_normal((n_kv * dim, hidden))
    x = rng.standard_normal((n_pos, hidden))
    hf = apply_rope((x @ w.T).reshape(n_pos, n_kv, dim).transpose(1, 0, 2), *rope_tables(n_pos, dim, 1e4))
    ggml = rope_interleaved((x @ permute_qk(w, n_head, n_kv).T).reshape(n_pos, n_kv, dim).transpose(1, 0, 2), 1e4)
    # Same values, with each head's dimensions in the permuted order.
    order = permute_qk(np.arange(dim), 1)
    assert np.allclose(ggml, hf[..., order], atol=1e-5)


def test_bf16_widening_is_exact_for_every_bit_pattern():
    bits = np.arange(1 << 16, dtype=np.uint16)
    wide = to_f32(bits, "BF16").view(np.uint32)
    assert np.array_equal(wide >> 16, bits) and not (wide & 0xFFFF).any()
    assert to_f32(np.array([0x3FC0], np.uint16), "BF16")[0] == 1.5


def test_safetensors_reader_maps_bf16_rows(tmp_path):
    rng = np.random.default_rng(1)
    a = f32_to_bf16(rng.standard_normal((5, 3), dtype=np.float32))
    path = tmp_path / "m.safetensors"
    write_safetensors(path, {"a": ((5, 3), iter([to_f32(a, "BF16")])), "b": ((2,), iter([np.ones(2, np.float32)]))})
    refs = read_safetensors_header(path)
    assert refs["a"].shape == (5, 3) and refs["b"].dtype == "BF16"
    assert np.array_equal(refs["a"].rows(1, 4), a[1:4])
    assert np.array_equal(refs["b"].read_f32(), [1.0, 1.0])


def test_sentencepiece_parser_agrees_with_sentencepiece(opencoder_tokenizer_dir):
    model = parse_sentencepiece_model((opencoder_tokenizer_dir / "tokenizer.model").read_bytes())
    sp = spm.SentencePieceProcessor(model_file=str(opencoder_tokenizer_dir / "tokenizer.model"))
    assert model.pieces == [sp.id_to_piece(i) for i in range(sp.get_piece_size())]
    assert np.allclose(model.scores, [sp.get_score(i) for i in range(sp.get_piece_size())])
    assert [i for i, t in enumerate(model.types) if t == 6] == [i for i in range(len(model.pieces)) if sp.is_byte(i)]
    assert model.add_dummy_prefix is False and model.remove_extra_whitespaces is False
