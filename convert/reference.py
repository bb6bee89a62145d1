"""A reference Llama forward pass in numpy, straight from the checkpoint's safetensors.

Follows Hugging Face's LlamaForCausalLM: RMSNorm, RoPE in the rotate-half convention (on the
unpermuted q/k weights, which is what makes it a check of our permutation), grouped-query
attention with a causal mask, SwiGLU MLP, final norm, lm_head. Weights are read one matrix
at a time, in row chunks, so even an 8B checkpoint fits in memory.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from opencoder_convert.checkpoint import Checkpoint, ModelConfig, TensorRef

_CHUNK_BYTES = 64 * 1024 * 1024


def rms_norm(x: np.ndarray, weight: np.ndarray, eps: float) -> np.ndarray:
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * weight


def rope_tables(n_pos: int, head_dim: int, theta: float) -> tuple[np.ndarray, np.ndarray]:
    inv_freq = 1.0 / theta ** (np.arange(0, head_dim, 2, dtype=np.float64) / head_dim)
    freqs = np.outer(np.arange(n_pos, dtype=np.float64), inv_freq)
    emb = np.concatenate([freqs, freqs], axis=-1)
    return np.cos(emb).astype(np.float32), np.sin(emb).astype(np.float32)


def rotate_half(x: np.ndarray) -> np.ndarray:
    half = x.shape[-1] // 2
    return np.concatenate([-x[..., half:], x[..., :half]], axis=-1)


def apply_rope(x: np.ndarray, cos: np.ndarray, sin: np.ndarray) -> np.ndarray:
    """x: (heads, positions, head_dim)."""
    return x * cos + rotate_half(x) * sin


def linear(x: np.ndarray, weight: TensorRef) -> np.ndarray:
    """x @ W.T with W read from the checkpoint in row chunks."""
    n_out = weight.shape[0]
    step = max(1, _CHUNK_BYTES // (4 * weight.shape[1]))
    out = np.empty((x.shape[0], n_out), dtype=np.float32)
    for first in range(0, n_out, step):
        stop = min(first + step, n_out)
        out[:, first:stop] = x @ weight.read_f32(first, stop).T
    return out


def attention(q: np.ndarray, k: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Causal grouped-query attention; q: (H, T, D), k/v: (H_kv, T, D) -> (T, H*D)."""
    n_heads, n_pos, head_dim = q.shape
    group = n_heads // k.shape[0]
    k, v = np.repeat(k, group, axis=0), np.repeat(v, group, axis=0)
    scores = q @ k.transpose(0, 2, 1) / np.sqrt(head_dim)
    mask = np.triu(np.ones((n_pos, n_pos), dtype=bool), k=1)
    scores = np.where(mask, -np.inf, scores)
    scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
    probs = scores / scores.sum(axis=-1, keepdims=True)
    return (probs @ v).transpose(1, 0, 2).reshape(n_pos, n_heads * head_dim)


def _layer(x: np.ndarray, t: dict[str, TensorRef], p: str, c: ModelConfig, rope) -> np.ndarray:
    n_pos = x.shape[0]
    h = rms_norm(x, t[p + "input_layernorm.weight"].read_f32(), c.rms_norm_eps)
    q = linear(h, t[p + "self_attn.q_proj.weight"]).reshape(n_pos, c.n_heads, c.head_dim).transpose(1, 0, 2)
    k = linear(h, t[p + "self_attn.k_proj.weight"]).reshape(n_pos, c.n_kv_heads, c.head_dim).transpose(1, 0, 2)
    v = linear(h, t[p + "self_attn.v_proj.weight"]).reshape(n_pos, c.n_kv_heads, c.head_dim).transpose(1, 0, 2)
    attn = attention(apply_rope(q, *rope), apply_rope(k, *rope), v)
    x = x + linear(attn, t[p + "self_attn.o_proj.weight"])
    h = rms_norm(x, t[p + "post_attention_layernorm.weight"].read_f32(), c.rms_norm_eps)
    gate, up = linear(h, t[p + "mlp.gate_proj.weight"]), linear(h, t[p + "mlp.up_proj.weight"])
    return x + linear(gate / (1.0 + np.exp(-gate)) * up, t[p + "mlp.down_proj.weight"])


def forward(checkpoint: Checkpoint, tokens: list[int], on_layer: Callable[[], None] | None = None) -> np.ndarray:
    """Logits (positions x vocab) of the checkpoint for `tokens`, in float32; `on_layer` is called
    after each layer."""
    c, t = checkpoint.config, checkpoint.tensors
    embed = t["model.embed_tokens.weight"]
    x = np.stack([embed.read_f32(i, i + 1)[0] for i in tokens])
    rope = rope_tables(len(tokens), c.head_dim, c.rope_theta)
    for i in range(c.n_layers):
        x = _layer(x, t, f"model.layers.{i}.", c, rope)
        if on_layer is not None:
            on_layer()
    x = rms_norm(x, t["model.norm.weight"].read_f32(), c.rms_norm_eps)
    return linear(x, t.get("lm_head.weight", embed))
