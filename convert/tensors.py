"""Phase 2: map Hugging Face tensor names to GGUF, check shapes, choose each tensor's type.

Every tensor's shape is checked against config.json before a byte is written, and the q/k
rope permutation is one named function (`permute_qk`) used for whole tensors and row orders.
"""

from __future__ import annotations

from dataclasses import dataclass

import gguf
import numpy as np

from opencoder_convert.checkpoint import Checkpoint, CheckpointError, ModelConfig, TensorRef

Q = gguf.GGMLQuantizationType
# Output types we write ourselves; the rest come from llama.cpp's quantizer.
OWN_TYPES = {"f32": Q.F32, "f16": Q.F16, "bf16": Q.BF16, "q8_0": Q.Q8_0}
FILE_TYPES = {
    "f32": gguf.LlamaFileType.ALL_F32,
    "f16": gguf.LlamaFileType.MOSTLY_F16,
    "bf16": gguf.LlamaFileType.MOSTLY_BF16,
    "q8_0": gguf.LlamaFileType.MOSTLY_Q8_0,
}
_IGNORED_SUFFIXES = ("rotary_emb.inv_freq",)


def permute_qk(weights: np.ndarray, n_head: int, n_head_kv: int | None = None) -> np.ndarray:
    """llama.cpp's LlamaModel.permute: HF's rotate-half q/k row order -> GGML's interleaved pairs."""
    if n_head_kv is not None and n_head != n_head_kv:
        n_head = n_head_kv
    return (
        weights.reshape(n_head, 2, weights.shape[0] // n_head // 2, *weights.shape[1:])
        .swapaxes(1, 2)
        .reshape(weights.shape)
    )


@dataclass(frozen=True)
class TensorPlan:
    """One output tensor: where its rows come from, its GGUF name, shape and type."""

    source: TensorRef
    name: str
    ggml_type: Q
    row_order: np.ndarray | None  # source row for each output row, when rows are permuted

    @property
    def shape(self) -> tuple[int, ...]:
        return self.source.shape

    @property
    def nbytes(self) -> int:
        block, size = gguf.GGML_QUANT_SIZES[self.ggml_type]
        return int(np.prod(self.shape, dtype=np.int64)) // block * size


def expected_shapes(config: ModelConfig) -> dict[str, tuple[int, ...]]:
    """The shape config.json implies for every tensor a Llama checkpoint must (or may) have."""
    h, ff, hd = config.hidden_size, config.intermediate_size, config.head_dim
    q_rows, kv_rows = config.n_heads * hd, config.n_kv_heads * hd
    shapes = {"model.embed_tokens.weight": (config.vocab_size, h), "model.norm.weight": (h,)}
    if not config.tie_word_embeddings:
        shapes["lm_head.weight"] = (config.vocab_size, h)
    for i in range(config.n_layers):
        p = f"model.layers.{i}."
        shapes.update({
            p + "input_layernorm.weight": (h,),
            p + "post_attention_layernorm.weight": (h,),
            p + "self_attn.q_proj.weight": (q_rows, h),
            p + "self_attn.k_proj.weight": (kv_rows, h),
            p + "self_attn.v_proj.weight": (kv_rows, h),
            p + "self_attn.o_proj.weight": (h, q_rows),
            p + "mlp.gate_proj.weight": (ff, h),
            p + "mlp.up_proj.weight": (ff, h),
            p + "mlp.down_proj.weight": (h, ff),
        })
    return shapes


def tensor_type(name: str, shape: tuple[int, ...], outtype: str) -> Q:
    """Norms and other 1-D tensors stay f32 as llama.cpp expects; q8_0 needs rows of whole blocks."""
    if len(shape) == 1 or outtype == "f32":
        return Q.F32
    target = OWN_TYPES[outtype]
    block = gguf.GGML_QUANT_SIZES[target][0]
    if shape[-1] % block:
        return Q.F16
    return target


def plan_tensors(checkpoint: Checkpoint, outtype: str) -> list[TensorPlan]:
    """Check names and shapes against the config; return the write plan in GGUF order."""
    config = checkpoint.config
    shapes = expected_shapes(config)
    tensors = {n: t for n, t in checkpoint.tensors.items() if not n.endswith(_IGNORED_SUFFIXES)}
    if config.tie_word_embeddings:
        tensors.pop("lm_head.weight", None)
    unexpected = sorted(set(tensors) - set(shapes))
    if unexpected:
        raise CheckpointError(f"tensor {unexpected[0]} does not belong to a {config.n_layers}-layer Llama model")
    missing = [n for n in shapes if n not in tensors]
    if missing == ["lm_head.weight"]:
        missing = []  # untied in config but shipped tied: llama.cpp falls back to token_embd
    if missing:
        raise CheckpointError(f"the checkpoint lacks tensor {missing[0]}; is a shard missing?")
    name_map = gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, config.n_layers)
    plans = []
    for hf_name in shapes:
        if hf_name not in tensors:
            continue
        ref = tensors[hf_name]
        if ref.shape != shapes[hf_name]:
            raise CheckpointError(
                f"tensor {hf_name} has shape {list(ref.shape)} but config.json implies {list(shapes[hf_name])}"
            )
        name = name_map.get_name(hf_name, try_suffixes=(".weight", ".bias"))
        if name is None:
            raise CheckpointError(f"cannot map tensor {hf_name} to a GGUF name")
        plans.append(TensorPlan(ref, name, tensor_type(hf_name, ref.shape, outtype), _row_order(hf_name, config)))
    return plans


def _row_order(hf_name: str, config: ModelConfig) -> np.ndarray | None:
    if hf_name.endswith("self_attn.q_proj.weight"):
        rows = config.n_heads * config.head_dim
        return permute_qk(np.arange(rows), config.n_heads, config.n_heads)
    if hf_name.endswith("self_attn.k_proj.weight"):
        rows = config.n_kv_heads * config.head_dim
        return permute_qk(np.arange(rows), config.n_heads, config.n_kv_heads)
    return None
