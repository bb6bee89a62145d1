"""Phase 1: read a Hugging Face checkpoint folder - config.json and memory-mapped safetensors.

We read safetensors ourselves (8-byte little-endian header length, JSON header, raw data)
because numpy has no bfloat16 and the safetensors package cannot hand bf16 to numpy. We
never unpickle: a checkpoint that only has .bin/.pt weights is refused.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from opencoder_local.errors import UserError

SUPPORTED_ARCHITECTURES = ("LlamaForCausalLM",)
_DTYPES = {"BF16": (np.dtype("<u2"), 2), "F16": (np.dtype("<f2"), 2), "F32": (np.dtype("<f4"), 4)}
_PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt")
_MAX_HEADER = 100 * 1024 * 1024


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
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"cannot read {path}: {exc}") from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{path} is not a JSON object")
    return data


def parse_config(raw: dict[str, Any]) -> ModelConfig:
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
    try:
        n_heads = int(raw["num_attention_heads"])
        hidden = int(raw["hidden_size"])
        eos = raw.get("eos_token_id")
        return ModelConfig(
            hidden_size=hidden,
            n_layers=int(raw["num_hidden_layers"]),
            n_heads=n_heads,
            n_kv_heads=int(raw.get("num_key_value_heads") or n_heads),
            head_dim=int(raw.get("head_dim") or hidden // n_heads),
            intermediate_size=int(raw["intermediate_size"]),
            vocab_size=int(raw["vocab_size"]),
            context_length=int(raw.get("max_position_embeddings", 4096)),
            rope_theta=float(raw.get("rope_theta", 10000.0)),
            rms_norm_eps=float(raw.get("rms_norm_eps", 1e-6)),
            tie_word_embeddings=bool(raw.get("tie_word_embeddings", False)),
            bos_token_id=raw.get("bos_token_id"),
            eos_token_id=eos[0] if isinstance(eos, list) else eos,
        )
    except KeyError as exc:
        raise CheckpointError(f"config.json lacks {exc.args[0]!r}") from None
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"config.json has a bad value: {exc}") from None


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
    """The tensor table of one safetensors file, with every byte range checked against the file."""
    try:
        size = path.stat().st_size
        with path.open("rb") as fh:
            head = fh.read(8)
            if len(head) < 8:
                raise CheckpointError(f"{path} is truncated or not a safetensors file")
            (n,) = struct.unpack("<Q", head)
            if n > min(size - 8, _MAX_HEADER):
                raise CheckpointError(f"{path} is corrupt or truncated: bad header length")
            header = json.loads(fh.read(n))
    except OSError as exc:
        raise CheckpointError(f"cannot read {path}: {exc.strerror or exc}") from None
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise CheckpointError(f"{path} is corrupt: its header is not valid JSON") from None
    if not isinstance(header, dict):
        raise CheckpointError(f"{path} is corrupt: its header is not a JSON object")
    base = 8 + n
    refs = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        refs[name] = _tensor_ref(path, name, entry, base, size)
    return refs


def _tensor_ref(path: Path, name: str, entry: Any, base: int, size: int) -> TensorRef:
    try:
        dtype, shape, (start, end) = entry["dtype"], tuple(int(d) for d in entry["shape"]), entry["data_offsets"]
    except (KeyError, TypeError, ValueError):
        raise CheckpointError(f"{path} is corrupt: bad header entry for {name}") from None
    if dtype not in _DTYPES:
        raise CheckpointError(f"{path}: tensor {name} has dtype {dtype}; supported: {', '.join(_DTYPES)}")
    count = int(np.prod(shape, dtype=np.int64)) if shape else 1
    if end - start != count * _DTYPES[dtype][1] or start < 0:
        raise CheckpointError(f"{path} is corrupt: {name}'s byte range does not match its shape {list(shape)}")
    if base + end > size:
        raise CheckpointError(f"{path} is truncated: {size:,} bytes, {name} needs {base + end:,}; download it again")
    return TensorRef(name, path, dtype, shape, base + start, base + end)
