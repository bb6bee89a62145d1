"""A model file checked once, and the facts every engine reads from it: its window, its template,
and whether it needs OpenCoder's exact tokenizer. No weights are loaded here."""

from __future__ import annotations

from pathlib import Path

import gguf

from opencoder_local.engine.gguf_file import GGUFFile, read_gguf
from opencoder_local.engine.template import check_template, opencoder_template
from opencoder_local.engine.tokenizer import looks_like_instruct, looks_like_opencoder
from opencoder_local.errors import ModelFileError, UserError

_KNOWN_ARCHS = frozenset(gguf.MODEL_ARCH_NAMES.values())


def check_model(path: Path) -> GGUFFile:
    """Read and check a model file (metadata, tensor table, architecture, chat templates): one-line errors.

    The one check a load gets: whatever receives the GGUFFile (a model process included) trusts it."""
    info = read_gguf(path)
    arch = info.architecture
    if not arch:
        raise ModelFileError(f"{info.path} has no general.architecture: it is not a model GGUF")
    if arch not in _KNOWN_ARCHS:
        raise ModelFileError(f"{info.path}: unsupported architecture {arch!r} (llama.cpp runs llama, qwen2 and other known families)")
    for source in info.chat_templates():  # llama-cpp-python compiles each one as it loads: a broken one raises there
        check_template(source)
    return info


def uses_exact_tokenizer(info: GGUFFile, requested: bool | None) -> bool:
    """OpenCoder's pre-split: on for OpenCoder GGUFs unless `requested` says otherwise."""
    return looks_like_opencoder(info) if requested is None else requested


def chat_template_for(info: GGUFFile) -> str | None:
    """The GGUF's template; OpenCoder's ChatML for an OpenCoder Instruct GGUF without one; None: completion."""
    template = info.get(gguf.Keys.Tokenizer.CHAT_TEMPLATE)
    if template:
        return str(template)
    if looks_like_opencoder(info) and looks_like_instruct(info):
        return opencoder_template()
    return None


def context_window(info: GGUFFile, requested: int | None) -> int:
    """The window a session gets: the model's trained one, or a smaller `--ctx`."""
    n_ctx_train = int(info.arch_key(gguf.Keys.LLM.CONTEXT_LENGTH, 4096))
    if requested is not None and not 0 < requested <= n_ctx_train:
        raise UserError(f"--ctx must be between 1 and the model's {n_ctx_train:,}-token window")
    return requested or n_ctx_train
