"""The models `opencoder pull` knows by name, what they cost, and how a name is read.

Sizes come from each model's shapes, so the listing needs no network: the checkpoint is
bf16 (two bytes a weight), a GGUF is its quantization's bits per weight, and memory is the
weights plus the KV cache at the full context window (f16) plus llama.cpp's compute buffers.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from opencoder_convert.outtypes import BITS_PER_WEIGHT
from opencoder_local.errors import UserError

DEFAULT_QUANT = "q4_k_m"
_COMPUTE_BYTES = 300 * 2**20  # llama.cpp's compute and output buffers at a 512-token batch, roughly


class ModelNameError(UserError):
    pass


@dataclass(frozen=True)
class Shape:
    hidden: int
    layers: int
    heads: int
    kv_heads: int
    intermediate: int
    context: int
    vocab: int = 96640

    @property
    def weights(self) -> int:
        head_dim = self.hidden // self.heads
        attention = 2 * self.hidden * self.hidden + 2 * self.hidden * self.kv_heads * head_dim
        mlp = 3 * self.hidden * self.intermediate
        norms = 2 * self.hidden
        return self.layers * (attention + mlp + norms) + 2 * self.vocab * self.hidden + self.hidden

    @property
    def kv_cache_bytes(self) -> int:
        head_dim = self.hidden // self.heads
        return 2 * self.layers * self.context * self.kv_heads * head_dim * 2


@dataclass(frozen=True)
class CatalogModel:
    name: str  # opencoder-1.5b-instruct
    repo: str  # infly/OpenCoder-1.5B-Instruct
    shape: Shape
    summary: str

    @property
    def display_name(self) -> str:
        return self.repo.split("/", 1)[1]

    @property
    def download_bytes(self) -> int:
        return 2 * self.shape.weights

    def disk_bytes(self, quant: str = DEFAULT_QUANT) -> int:
        return int(self.shape.weights * BITS_PER_WEIGHT[quant] / 8)

    def memory_bytes(self, quant: str = DEFAULT_QUANT) -> int:
        return self.disk_bytes(quant) + self.shape.kv_cache_bytes + _COMPUTE_BYTES


_SMALL = Shape(hidden=2240, layers=24, heads=14, kv_heads=14, intermediate=6144, context=4096)
_LARGE = Shape(hidden=4096, layers=32, heads=32, kv_heads=8, intermediate=14336, context=8192)

CATALOG: tuple[CatalogModel, ...] = (
    CatalogModel("opencoder-1.5b-instruct", "infly/OpenCoder-1.5B-Instruct", _SMALL,
                 "chat about code; fast anywhere"),
    CatalogModel("opencoder-8b-instruct", "infly/OpenCoder-8B-Instruct", _LARGE,
                 "chat about code; the stronger model"),
    CatalogModel("opencoder-1.5b-base", "infly/OpenCoder-1.5B-Base", _SMALL, "code completion, no chat"),
    CatalogModel("opencoder-8b-base", "infly/OpenCoder-8B-Base", _LARGE, "code completion, no chat"),
)


@dataclass(frozen=True)
class PullTarget:
    """What a name asks to pull: a Hub repository and the quantization (or GGUF file tag) wanted."""

    repo: str
    tag: str  # a quantization for checkpoints (q4_k_m), a file tag for GGUF repositories (Q4_K_M)
    catalog: CatalogModel | None

    @property
    def name(self) -> str:
        """The installed model's name: opencoder-1.5b-instruct:q4_k_m, owner/name:q4_k_m."""
        base = self.catalog.name if self.catalog else self.repo
        return f"{base}:{self.tag.lower()}"


_REPO = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}/[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")
_TAG = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def find(name: str) -> CatalogModel | None:
    """The catalog entry for a name, with or without its tag; case does not matter."""
    base = name.split(":", 1)[0].lower()
    return next((m for m in CATALOG if m.name == base or m.repo.lower() == base), None)


def parse_target(name: str) -> PullTarget:
    """`opencoder-8b-instruct[:q5_k_m]` or `owner/name[:TAG]` -> what to pull."""
    base, _, tag = name.strip().partition(":")
    if tag and not _TAG.match(tag):
        raise ModelNameError(f"{name!r}: the tag after ':' must be a quantization such as {DEFAULT_QUANT}")
    model = find(base)
    if model is not None:
        quant = (tag or DEFAULT_QUANT).lower()
        if quant not in BITS_PER_WEIGHT:
            raise ModelNameError(f"{name!r}: unknown quantization {quant!r}; choose one of "
                                 f"{', '.join(BITS_PER_WEIGHT)}")
        return PullTarget(model.repo, quant, model)
    if _REPO.match(base):
        return PullTarget(base, tag or DEFAULT_QUANT, None)
    names = ", ".join(m.name for m in CATALOG)
    raise ModelNameError(f"unknown model {name!r}: name one of {names}, or a Hub repository as owner/name[:TAG]")


def available_memory() -> int:
    """Memory a model could have now: MemAvailable on Linux, else the machine's physical memory."""
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, OSError, ValueError):
        return 0


def recommend(available_memory: int) -> CatalogModel:
    """The strongest Instruct model whose default quantization fits in `available_memory`."""
    instruct = [m for m in CATALOG if m.name.endswith("-instruct")]
    fitting = [m for m in instruct if m.memory_bytes() <= available_memory]
    return max(fitting, key=lambda m: m.shape.weights) if fitting else min(instruct, key=lambda m: m.shape.weights)
