"""Phase 3b: the model's own GGUF metadata - what llama.cpp needs to build a Llama graph."""

from __future__ import annotations

import gguf

from opencoder_convert.checkpoint import ModelConfig
from opencoder_convert.vocab import Vocab


def add_model_metadata(
    writer: gguf.GGUFWriter, config: ModelConfig, vocab: Vocab, name: str, file_type: gguf.LlamaFileType
) -> None:
    writer.add_name(name)
    writer.add_file_type(file_type)
    writer.add_quantization_version(gguf.GGML_QUANT_VERSION)
    writer.add_vocab_size(config.vocab_size)
    writer.add_context_length(config.context_length)
    writer.add_embedding_length(config.hidden_size)
    writer.add_block_count(config.n_layers)
    writer.add_feed_forward_length(config.intermediate_size)
    writer.add_head_count(config.n_heads)
    writer.add_head_count_kv(config.n_kv_heads)
    writer.add_rope_dimension_count(config.head_dim)
    writer.add_rope_freq_base(config.rope_theta)
    writer.add_layer_norm_rms_eps(config.rms_norm_eps)
    if config.head_dim * config.n_heads != config.hidden_size:
        writer.add_key_length(config.head_dim)
        writer.add_value_length(config.head_dim)
    vocab.write_to(writer)
