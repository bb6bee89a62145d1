"""Phase 1: read a Hugging Face checkpoint folder - config.json and memory-mapped safetensors.

We read safetensors ourselves (8-byte little-endian header length, JSON header, raw data)
because numpy has no bfloat16 and the safetensors package cannot hand bf16 to numpy. We
never unpickle: a checkpoint that only has .bin/.pt weights is refused.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from opencoder_local import documents
from opencoder_local.errors import UserError
from opencoder_local.safetensors_header import read_header

SUPPORTED_ARCHITECTURES = ("LlamaForCausalLM",)
_DTYPES = {"BF16": (np.dtype("<u2"), 2), "F16": (np.dtype("<f2"), 2), "F32": (np.dtype("<f4"), 4)}
_PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt")
_MAX_DIMS = 8


class CheckpointError(UserError):
    """The checkpoint folder is missing something, or something in it is damaged."""


@dataclass(frozen=True)
class ModelConfig:
    """The hyperparameters of a Llama-family checkpoint, from config.json."""

    hidden_size: int
    n_layers: int
    n_heads: int
    n_kv_heads: int
    head_dim: int
    intermediate_size: int
    vocab_size: int
    context_length: int
    rope_theta: float
    rms_norm_eps: float
    tie_word_embeddings: bool
    bos_token_id: int | None
    eos_token_id: int | None


@dataclass(frozen=True)
class TensorRef:
    """Where one tensor's bytes live: a file, a byte range, a safetensors dtype and a shape."""

    name: str
    path: Path
    dtype: str
    shape: tuple[int, ...]
    start: int
    end: int

    @property
    def nbytes(self) -> int:
        return self.end - self.start

    @property
    def row_bytes(self) -> int:
        return self.nbytes // self.shape[0] if self.shape and self.shape[0] else self.nbytes

    def rows(self, first: int = 0, stop: int | None = None) -> np.ndarray:
        """A read-only memory map of rows [first, stop), in the file's own dtype (bf16 as uint16)."""
        n_rows = self.shape[0] if self.shape else 1
        stop = n_rows if stop is None else stop
        shape = (stop - first, *self.shape[1:]) if self.shape else ()
        dtype = _DTYPES[self.dtype][0]
        if stop == first:
            return np.empty(shape, dtype)
        return np.memmap(self.path, dtype=dtype, mode="r", offset=self.start + first * self.row_bytes, shape=shape)

    def read_f32(self, first: int = 0, stop: int | None = None) -> np.ndarray:
        return to_f32(self.rows(first, stop), self.dtype)


def to_f32(raw: np.ndarray, dtype: str) -> np.ndarray:
    """Widen stored values to float32; bf16 is the high half of an f32, so shift it into place."""
    if dtype == "BF16":
        wide = raw.astype(np.uint32)
        wide <<= 16
        return wide.view(np.float32)
    return raw.astype(np.float32)


@dataclass
class Checkpoint:
    folder: Path
    config: ModelConfig
    raw_config: dict[str, Any]
    tensors: dict[str, TensorRef]

    @property
    def nbytes(self) -> int:
        return sum(t.nbytes for t in self.tensors.values())


def read_checkpoint(folder: Path) -> Checkpoint:
    """Config and tensor table of a checkpoint folder; raises CheckpointError on any problem."""
    folder = Path(folder)
    if not folder.is_dir():
        raise CheckpointError(f"checkpoint folder not found: {folder}")
    raw = read_json(folder / "config.json", "the model's config.json")
    config = parse_config(raw)
    tensors: dict[str, TensorRef] = {}
    for path in safetensors_files(folder):
        tensors.update(read_safetensors_header(path))
    return Checkpoint(folder, config, raw, tensors)


def read_json(path: Path, what: str) -> dict[str, Any]:
    if not path.is_file():
        raise CheckpointError(f"{path.parent} has no {path.name} ({what}); is this a Hugging Face checkpoint folder?")
    data = documents.read_json(path)
    if not isinstance(data, dict):
        raise CheckpointError(f"{path} is not a JSON object")
    return data


_REQUIRED = object()
# Bounds well beyond any real model, so a typo cannot make us loop or allocate for ever.
_MAX_WIDTH = 1 << 20
_MAX_COUNT = 1 << 16
_MAX_VOCAB = 1 << 24
_MAX_CONTEXT = (1 << 31) - 1  # llama.cpp keeps it in an int32


def _int(raw: dict[str, Any], key: str, high: int, default: Any = _REQUIRED, low: int = 1) -> int:
    """config.json's `key` as a whole number in [low, high] (a bool or 1.5 is refused, 8.0 is 8)."""
    value = raw.get(key)
    if value is None:
        if default is _REQUIRED:
            raise CheckpointError(f"config.json lacks {key!r}")
        return default
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise CheckpointError(f"config.json's {key} must be a whole number from {low} to {high:,}, not {value!r}")
    return value


def _positive(raw: dict[str, Any], key: str, default: float) -> float:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < math.inf:
        raise CheckpointError(f"config.json's {key} must be a positive number, not {value!r}")
    return float(value)


def _token_id(raw: dict[str, Any], key: str, vocab_size: int) -> int | None:
    value = raw.get(key)
    if isinstance(value, list) and value:
        value = value[0]  # several eos ids: llama.cpp takes one
    if value is None or value == []:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < vocab_size:
        raise CheckpointError(f"config.json's {key} must be a token id below vocab_size {vocab_size}, not {value!r}")
    return value


def parse_config(raw: dict[str, Any]) -> ModelConfig:
    """The hyperparameters, each checked for type and range before anything uses it."""
    archs = raw.get("architectures") or []
    if isinstance(archs, str):
        archs = [archs]
    if not isinstance(archs, list) or not all(isinstance(a, str) for a in archs):
        raise CheckpointError(f"config.json's architectures should be a list of names, not {archs!r}")
    if not any(a in SUPPORTED_ARCHITECTURES for a in archs):
        raise CheckpointError(
            f"unsupported architecture {', '.join(archs) or '(none given)'}; "
            f"opencoder-convert supports {', '.join(SUPPORTED_ARCHITECTURES)} (OpenCoder, Llama)"
        )
    if raw.get("hidden_act", "silu") != "silu":
        raise CheckpointError(f"unsupported activation {raw['hidden_act']!r}; only silu (SwiGLU) is supported")
    if raw.get("rope_scaling"):
        raise CheckpointError(f"rope_scaling {raw['rope_scaling']!r} is not supported")
    hidden = _int(raw, "hidden_size", _MAX_WIDTH)
    n_heads = _int(raw, "num_attention_heads", hidden)
    n_kv_heads = _int(raw, "num_key_value_heads", n_heads, default=n_heads)
    if n_heads % n_kv_heads:
        raise CheckpointError(f"config.json: num_attention_heads {n_heads} is not a multiple of num_key_value_heads {n_kv_heads}")
    if raw.get("head_dim") is None and hidden % n_heads:
        raise CheckpointError(f"config.json: hidden_size {hidden} is not a multiple of num_attention_heads {n_heads}")
    head_dim = _int(raw, "head_dim", _MAX_WIDTH, default=hidden // n_heads)
    if head_dim % 2:
        raise CheckpointError(f"config.json: head_dim {head_dim} must be even for rotary embeddings")
    tie = raw.get("tie_word_embeddings", False)
    if not isinstance(tie, bool):
        raise CheckpointError(f"config.json's tie_word_embeddings must be true or false, not {tie!r}")
    vocab_size = _int(raw, "vocab_size", _MAX_VOCAB)
    return ModelConfig(
        hidden_size=hidden,
        n_layers=_int(raw, "num_hidden_layers", _MAX_COUNT),
        n_heads=n_heads,
        n_kv_heads=n_kv_heads,
        head_dim=head_dim,
        intermediate_size=_int(raw, "intermediate_size", _MAX_WIDTH),
        vocab_size=vocab_size,
        context_length=_int(raw, "max_position_embeddings", _MAX_CONTEXT, default=4096),
        rope_theta=_positive(raw, "rope_theta", 10000.0),
        rms_norm_eps=_positive(raw, "rms_norm_eps", 1e-6),
        tie_word_embeddings=tie,
        bos_token_id=_token_id(raw, "bos_token_id", vocab_size),
        eos_token_id=_token_id(raw, "eos_token_id", vocab_size),
    )


def safetensors_files(folder: Path) -> list[Path]:
    """The weight files: from the shard index if there is one, else every *.safetensors."""
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        weight_map = read_json(index, "the shard index").get("weight_map")
        if not isinstance(weight_map, dict) or not weight_map:
            raise CheckpointError(f"{index} has no weight_map")
        if not all(isinstance(name, str) and "/" not in name for name in weight_map.values()):
            raise CheckpointError(f"{index}: weight_map must name shard files in the checkpoint folder")
        files = [folder / name for name in sorted(set(weight_map.values()))]
        missing = [f.name for f in files if not f.is_file()]
        if missing:
            raise CheckpointError(f"shard {missing[0]} listed in {index.name} is missing from {folder}")
        return files
    files = sorted(folder.glob("*.safetensors"))
    if files:
        return files
    if any(p.suffix in _PICKLE_SUFFIXES for p in folder.iterdir()):
        raise CheckpointError(
            f"{folder} only has pickle weights (.bin/.pt); opencoder-convert never unpickles - "
            "use a checkpoint with .safetensors files"
        )
    raise CheckpointError(f"{folder} has no .safetensors weight files")


def read_safetensors_header(path: Path) -> dict[str, TensorRef]:
    """The tensor table of one safetensors file, every field and byte range checked against the file."""
    header, base, size = read_header(path)
    return {
        name: _tensor_ref(path, name, entry, base, size) for name, entry in header.items() if name != "__metadata__"
    }


def _is_count(value: Any, most: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= most


def _tensor_ref(path: Path, name: str, entry: Any, base: int, size: int) -> TensorRef:
    """One header entry, each field checked for type and range before it is used."""
    bad = f"{path} is corrupt: tensor {name}'s"
    if not isinstance(entry, dict):
        raise CheckpointError(f"{bad} header entry is not a JSON object")
    dtype, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
    if not isinstance(dtype, str):
        raise CheckpointError(f"{bad} dtype must be a name such as BF16, not {dtype!r}")
    if dtype not in _DTYPES:
        raise CheckpointError(f"{path}: tensor {name} has dtype {dtype}; supported: {', '.join(_DTYPES)}")
    if not (isinstance(shape, list) and len(shape) <= _MAX_DIMS and all(_is_count(d, size) for d in shape)):
        raise CheckpointError(f"{bad} shape must be a list of at most {_MAX_DIMS} sizes that fit the file")
    data = size - base
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(_is_count(o, 1 << 63) for o in offsets)
            and offsets[0] <= offsets[1]):
        raise CheckpointError(f"{bad} data_offsets must be two byte offsets [start, end], not {offsets!r}")
    start, end = offsets
    if end - start != math.prod(shape) * _DTYPES[dtype][1]:
        raise CheckpointError(f"{path} is corrupt: {name}'s byte range does not match its shape {shape}")
    if end > data:
        raise CheckpointError(f"{path} is truncated: {size:,} bytes, {name} needs {base + end:,}; download it again")
    return TensorRef(name, path, dtype, tuple(shape), base + start, base + end)
